"""Dashboard pages: server-rendered shells whose charts fetch the analytics API.

The pages carry no numbers of their own: every figure comes from the same
API a program would call, so the browser tests can compare the two.
"""

from api.explore import MAX_ROW_CAP, MAX_TIMEOUT_S
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from dashboard.forms import PreferenceForm
from dashboard.selectors import user_preference_get
from dashboard.services import user_preference_update


def _page(name: str, title: str):  # type: ignore[no-untyped-def]
    def view(request: HttpRequest) -> HttpResponse:
        return render(request, f"dashboard/{name}.html", {"page": name, "title": title})

    view.__name__ = f"{name}_page"
    view.__doc__ = f"The {title} page."
    return view


home_page = _page("home", "Overview")
top_books_page = _page("top_books", "Top books")
regions_page = _page("regions", "Sales by region")
genres_page = _page("genres", "Sales by genre")
customers_page = _page("customers", "Top customers")
pipeline_page = _page("pipeline", "Pipeline health")


def settings_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = PreferenceForm(request.POST)
        if form.is_valid():
            user_preference_update(request.user, **form.cleaned_data)
            messages.success(request, "Settings saved.")
            return redirect("dashboard:settings")
    else:
        form = PreferenceForm(initial=user_preference_get(request.user))
    return render(request, "dashboard/settings.html", {"page": "settings", "title": "Settings", "form": form})


def explore_page(request: HttpRequest) -> HttpResponse:
    """Staff-only SQL editor; a signed-in non-staff user gets 403 (not a login redirect that loops)."""
    if not request.user.is_staff:
        raise PermissionDenied("The Explore page is for staff only.")
    context = {
        "page": "explore",
        "title": "Explore (SQL)",
        "timeout_s": MAX_TIMEOUT_S,
        "row_cap": MAX_ROW_CAP,
    }
    return render(request, "dashboard/explore.html", context)
