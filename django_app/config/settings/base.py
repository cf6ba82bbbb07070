"""Settings shared by every environment of the SalesPulse web app.

Service locations come from :mod:`salespulse.settings` (``DATABASE_URL``,
``REDIS_URL``, ``SALESPULSE_REDIS_PREFIX``...), the same values the producer,
consumer and Spark jobs read, so the web app always looks at the warehouse and
speed views the other layers write.  Django-only knobs (secret key, hosts,
debug, throttle rates) are ``DJANGO_*`` / ``SALESPULSE_API_*`` variables read
here with working local defaults; ``production.py`` makes the secret ones
mandatory.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from salespulse import services
from salespulse.names import Names
from salespulse.settings import get_settings

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SP = get_settings()
SP_NAMES = Names.from_settings(SP)
SERVICE_URLS = services.urls(SP)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name, "").strip()
    return [item.strip() for item in raw.split(",") if item.strip()] if raw else default


def database_from_url(url: str) -> dict[str, object]:
    """``postgresql://user:pass@host:port/name`` -> a Django ``DATABASES`` entry.

    Parsed here rather than with dj-database-url, which is not in the lock.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "postgresql+psycopg2", "redshift"}:
        raise ValueError(f"DATABASE_URL: unsupported scheme {parts.scheme!r}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        # No persistent connections: under ASGI every request's sync part runs in its own
        # thread (asgiref's per-request ThreadSensitiveContext), so a kept connection is never
        # reused and lingers until its thread is collected; 50 clients then exhaust
        # max_connections ("too many clients already"), the non-200s of the first benchmark.
        "CONN_MAX_AGE": int(os.environ.get("DJANGO_CONN_MAX_AGE", "0")),
        "CONN_HEALTH_CHECKS": True,
    }


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "local-development-only-not-secret-" + "x" * 32)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "api",
    "dashboard",
    "live",
    "shop",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Nothing is anonymous except the login page (views opt out explicitly).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.user_preferences",
            ],
        },
    },
]

# Django's own tables live in the same PostgreSQL database as the warehouse
# (schema ``public``); the warehouse is read with raw SQL from its schemas.
DATABASES = {"default": database_from_url(SERVICE_URLS.database)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = SERVICE_URLS.redis
REDIS_PREFIX = SP.redis_prefix

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Under the run's prefix, so tests and deployments sharing a Redis stay apart.
        "KEY_PREFIX": f"{REDIS_PREFIX}:web",
        "TIMEOUT": 3600,
    }
}

CHANNEL_LAYERS = {
    "default": {
        # Pub/sub layer: a group send is one PUBLISH whatever the group's size
        # (the classic layer's group send slows down with hundreds of members).
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{REDIS_PREFIX}:ws:"},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = SP.data_dir / "web" / "static"
# Chart.js comes from npm (django_app/package.json, installed at set-up);
# served straight from node_modules under static/vendor/chartjs/.
STATICFILES_DIRS = [
    ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
    ("vendor/swagger-ui", BASE_DIR / "node_modules" / "swagger-ui-dist"),
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes an anonymous call a 401, not a 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("SALESPULSE_API_ANON_RATE", "30/min"),
        "user": os.environ.get("SALESPULSE_API_USER_RATE", "3000/min"),
        "generate": os.environ.get("SALESPULSE_API_GENERATE_RATE", "6/hour"),
        # Explore runs real queries on the warehouse: a few per staff member per minute.
        "explore": os.environ.get("SALESPULSE_API_EXPLORE_RATE", "30/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.views.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "SalesPulse analytics API",
    "DESCRIPTION": (
        "Sales analytics over the batch warehouse (PostgreSQL, days before the watermark) "
        "merged with the speed views (Redis, days from the watermark on). Every answer says "
        "how much came from each part and as of when. Money is in integer cents."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI from npm (installed at set-up), never from a CDN.
    "SWAGGER_UI_DIST": "/static/vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": "/static/vendor/swagger-ui/favicon-32x32.png",
}

SESSION_COOKIE_AGE = 14 * 24 * 3600

# After a publish, one worker computes the standard answers of the new run in the background
# (api.serving.warm_after_publish), so the first users do not pay for the per-period top lists.
API_WARM_AFTER_PUBLISH = env_bool("SALESPULSE_API_WARM", True)

# ``/metrics``: a Prometheus scraper sends ``Authorization: Bearer <token>``; without a token
# set, only staff sessions may read it (monitoring/views.py).
METRICS_TOKEN = os.environ.get("SALESPULSE_METRICS_TOKEN", "").strip() or None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["stderr"], "level": SP.log_level},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
