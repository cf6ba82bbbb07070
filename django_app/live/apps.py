from django.apps import AppConfig


class LiveConfig(AppConfig):
    """The live WebSocket page and the Redis-to-Channels relay."""

    name = "live"
