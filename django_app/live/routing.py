"""WebSocket routes."""

from django.urls import path

from live.consumers import LiveSalesConsumer

websocket_urlpatterns = [path("ws/live/", LiveSalesConsumer.as_asgi())]
