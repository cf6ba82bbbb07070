from django.urls import path

from dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("", views.home_page, name="home"),
    path("top-books/", views.top_books_page, name="top-books"),
    path("regions/", views.regions_page, name="regions"),
    path("genres/", views.genres_page, name="genres"),
    path("customers/", views.customers_page, name="customers"),
    path("pipeline/", views.pipeline_page, name="pipeline"),
    path("explore/", views.explore_page, name="explore"),
    path("settings/", views.settings_page, name="settings"),
]
