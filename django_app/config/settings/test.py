"""Tests: fast password hashing, no throttling surprises, same real services."""

from config.settings.base import *  # noqa: F403
from config.settings.base import REST_FRAMEWORK

DEBUG = False
# No background warming: tests change the warehouse under a run id and check what is cached.
API_WARM_AFTER_PUBLISH = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "anon": "1000/min",
        "user": "100000/min",
        "generate": "1000/hour",
        "explore": "1000/min",
    },
}
