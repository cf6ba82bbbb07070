"""Writes of dashboard state."""

from django.contrib.auth.models import AbstractBaseUser

from dashboard.models import UserPreference


def user_preference_update(
    user: AbstractBaseUser, *, default_days: int, default_interval: str
) -> UserPreference:
    pref, _ = UserPreference.objects.update_or_create(
        user=user, defaults={"default_days": default_days, "default_interval": default_interval}
    )
    return pref
