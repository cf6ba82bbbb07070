"""The live page: rendered once, then kept current over ``/ws/live/``."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def live_page(request: HttpRequest) -> HttpResponse:
    return render(request, "live/live.html", {"page": "live", "title": "Live sales"})
