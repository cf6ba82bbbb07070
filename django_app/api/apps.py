from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The analytics REST API: batch views merged with speed views."""

    name = "api"
