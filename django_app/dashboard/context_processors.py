"""Template context shared by every page."""

from django.http import HttpRequest

from dashboard.selectors import user_preference_get
from salespulse.reference import CHANNELS, GENRES, REGIONS


def user_preferences(request: HttpRequest) -> dict[str, object]:
    """The user's default range and the filter choices, for the filter bar."""
    if not request.path.startswith(("/api/", "/admin/", "/static/")):
        return {
            "prefs": user_preference_get(request.user),
            "filter_regions": [(r.code, r.name) for r in REGIONS],
            "filter_genres": list(GENRES),
            "filter_channels": [(c.code, c.name) for c in CHANNELS],
        }
    return {}
