"""Each bad parameter is a 400 whose message names it."""

from __future__ import annotations

from typing import Any

import pytest

CASES = [
    ("summary", {"days": "abc"}, "days"),
    ("summary", {"days": "0"}, "days"),
    ("summary", {"days": "99999"}, "days"),
    ("summary", {"start": "2024-13-01"}, "start"),
    ("summary", {"end": "yesterday"}, "end"),
    ("summary", {"start": "2024-05-02", "end": "2024-05-01"}, "start"),
    ("summary", {"start": "2010-01-01", "end": "2024-01-01"}, "start"),
    ("summary", {"start": "2024-01-01", "end": "2024-01-31", "days": "5"}, "days"),
    ("summary", {"region": "atlantis"}, "region"),
    ("summary", {"genre": "Cookbooks"}, "genre"),
    ("summary", {"channel": "pigeon"}, "channel"),
    ("summary", {"region": "uk", "genre": "Fiction"}, "genre"),
    ("timeseries", {"interval": "hour"}, "interval"),
    ("top-books", {"limit": "0"}, "limit"),
    ("top-books", {"limit": "1000"}, "limit"),
    ("top-books", {"limit": "ten"}, "limit"),
    ("top-books", {"by": "profit"}, "by"),
    ("top-books", {"region": "uk"}, "region"),
    ("top-customers", {"by": "units"}, "by"),
    ("top-customers", {"genre": "Fiction"}, "genre"),
    ("sales-by-region", {"channel": "web"}, "channel"),
    ("monthly-revenue", {"days": "-3"}, "days"),
]


@pytest.mark.parametrize(("path", "params", "param"), CASES)
def test_bad_parameter_is_400_naming_it(
    analyst_client: Any, dataset: Any, path: str, params: dict, param: str
) -> None:
    resp = analyst_client.get(f"/api/analytics/{path}/", params)
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["param"] == param
    assert body["error"].startswith(f"{param}:")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"books": 0}, "books"),
        ({"sales": "many"}, "sales"),
        ({"sales": 10**9}, "sales"),
        ({"skip_lake": "maybe"}, "skip_lake"),
    ],
)
def test_generate_bad_body_is_400_naming_field(staff_client: Any, payload: dict, field: str) -> None:
    resp = staff_client.post("/api/analytics/generate-test-data/", payload, content_type="application/json")
    assert resp.status_code == 400
    assert field in resp.json()
