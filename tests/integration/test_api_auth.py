"""Authentication and permissions over HTTP: anonymous, analyst, staff; session and token."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

READ_ENDPOINTS = [
    "summary",
    "timeseries",
    "top-books",
    "sales-by-region",
    "sales-by-genre",
    "sales-by-channel",
    "top-customers",
    "monthly-revenue",
    "pipeline-status",
]
PAGES = ["/", "/top-books/", "/regions/", "/genres/", "/customers/", "/live/", "/pipeline/", "/settings/"]


@pytest.mark.parametrize("name", READ_ENDPOINTS)
def test_read_endpoints_matrix(
    users: Any, analyst_client: Any, staff_client: Any, dataset: Any, name: str
) -> None:
    url = f"/api/analytics/{name}/"
    assert Client().get(url).status_code == 401
    assert analyst_client.get(url).status_code == 200
    assert staff_client.get(url).status_code == 200


def test_token_authentication(users: Any, dataset: Any) -> None:
    from rest_framework.authtoken.models import Token

    token = Token.objects.get(user=users["analyst"]).key
    client = Client()
    assert client.get("/api/analytics/summary/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    assert client.get("/api/analytics/summary/", HTTP_AUTHORIZATION="Token wrong").status_code == 401


def test_schema_and_docs_need_login(analyst_client: Any) -> None:
    assert Client().get("/api/schema/").status_code in (401, 403)
    assert Client().get("/api/docs/").status_code in (302, 401, 403)
    assert analyst_client.get("/api/schema/").status_code == 200


@pytest.mark.parametrize("page", PAGES)
def test_pages_need_login(analyst_client: Any, page: str) -> None:
    anonymous = Client().get(page)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert analyst_client.get(page).status_code == 200


def test_login_page_is_public_and_logs_in(users: Any) -> None:
    client = Client()
    assert client.get("/login/").status_code == 200
    bad = client.post("/login/", {"username": "analyst", "password": "nope"})
    assert bad.status_code == 200 and b"didn't match" in bad.content
    ok = client.post("/login/", {"username": "analyst", "password": "pw-analyst"})
    assert ok.status_code == 302 and ok["Location"] == "/"
    assert client.get("/api/analytics/summary/").status_code == 200


def test_generate_test_data_is_staff_only(users: Any, analyst_client: Any, staff_client: Any) -> None:
    url = "/api/analytics/generate-test-data/"
    body = {"skip_lake": True, "skip_warehouse": True}
    assert Client().post(url, body, content_type="application/json").status_code == 401
    assert analyst_client.post(url, body, content_type="application/json").status_code == 403
    started = staff_client.post(url, body, content_type="application/json")
    assert started.status_code == 202
    status_url = started.json()["status_url"]
    assert analyst_client.get(status_url).status_code == 403
    job = _wait(staff_client, status_url)
    assert job["status"] == "succeeded" and job["steps"] == []


def test_generate_test_data_runs_the_generator(stack: Any, staff_client: Any) -> None:
    """A real job: `salespulse generate` into this run's lake (the batch step skipped)."""
    url = "/api/analytics/generate-test-data/"
    started = staff_client.post(
        url,
        {"books": stack.settings.books, "sales": 300, "skip_warehouse": True},
        content_type="application/json",
    )
    assert started.status_code == 202
    job = _wait(staff_client, started.json()["status_url"])
    assert [s["name"] for s in job["steps"]] == ["generate"]
    assert job["status"] == "succeeded", job
    assert job["steps"][0]["exit_code"] == 0
    lake = stack.settings.lake_dir / "raw" / "sales" / "source=generator"
    assert any(lake.rglob("*.parquet"))


def _wait(client: Any, url: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(url).json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)
