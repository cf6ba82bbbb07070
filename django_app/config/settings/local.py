"""Local development: ``salespulse web`` and ``manage.py`` default to these."""

from config.settings.base import *  # noqa: F403
from config.settings.base import env_bool

DEBUG = env_bool("DJANGO_DEBUG", True)
