"""ASGI entry point: HTTP (Django, static files) and WebSockets (Channels).

Static files are served by the app itself (``ASGIStaticFilesHandler``) so a
single daphne process is the whole web tier; behind a reverse proxy the proxy
may serve ``STATIC_ROOT`` instead.  WebSockets pass the allowed-hosts origin
check and session authentication before reaching a consumer.  The analytics read
endpoints go straight to their async views (``api.serving.FastPathApp``), skipping a
middleware chain that would cost thread hops on every request.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# Django must be set up before anything imports models (the auth middleware does).
django_asgi_app = get_asgi_application()

from api.serving import FastPathApp  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from live.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": FastPathApp(ASGIStaticFilesHandler(django_asgi_app)),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
