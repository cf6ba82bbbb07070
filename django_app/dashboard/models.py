"""Per-user preferences of the dashboards."""

from django.conf import settings
from django.db import models

RANGE_CHOICES = [
    (7, "Last 7 days"),
    (30, "Last 30 days"),
    (90, "Last 90 days"),
    (365, "Last 12 months"),
    (1825, "Last 5 years"),
]
INTERVAL_CHOICES = [("day", "Day"), ("week", "Week"), ("month", "Month")]


class UserPreference(models.Model):
    """What a user's dashboards show by default (saved on the settings page)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    default_days = models.PositiveIntegerField(choices=RANGE_CHOICES, default=30)
    default_interval = models.CharField(max_length=8, choices=INTERVAL_CHOICES, default="day")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.default_days} days by {self.default_interval}"
