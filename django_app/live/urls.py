from django.urls import path

from live import views

app_name = "live"
urlpatterns = [path("live/", views.live_page, name="page")]
