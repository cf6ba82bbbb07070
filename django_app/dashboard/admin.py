from django.contrib import admin

from dashboard.models import UserPreference

admin.site.register(UserPreference)
