from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """Server-rendered pages (Chart.js from npm) and per-user preferences."""

    name = "dashboard"
