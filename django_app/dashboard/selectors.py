"""Reads of dashboard state."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from dashboard.models import UserPreference

DEFAULTS = {"default_days": 30, "default_interval": "day"}


def user_preference_get(user: AbstractBaseUser | AnonymousUser) -> dict[str, object]:
    """The user's saved preferences, or the defaults when none are saved."""
    if not user.is_authenticated:
        return dict(DEFAULTS)
    pref = UserPreference.objects.filter(user=user).first()
    if pref is None:
        return dict(DEFAULTS)
    return {"default_days": pref.default_days, "default_interval": pref.default_interval}
