"""Fixtures of the serving-layer tests: Django on the per-run stack, users, data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django_support import Dataset, django_ready, load_layers, make_events


@pytest.fixture(scope="session")
def django_app(stack: Any) -> Iterator[Any]:
    django_ready()
    yield stack


@pytest.fixture(scope="session")
def catalogue(django_app: Any) -> Any:
    from salespulse.reference import get_catalogue

    return get_catalogue()


@pytest.fixture(scope="session")
def genre_of(catalogue: Any) -> dict[str, str]:
    return catalogue.genre_of()


@pytest.fixture(scope="session")
def users(django_app: Any) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    model = get_user_model()
    out = {}
    for name, staff in (("analyst", False), ("boss", True)):
        user, _ = model.objects.get_or_create(username=name, defaults={"is_staff": staff})
        user.set_password("pw-" + name)
        user.save()
        Token.objects.get_or_create(user=user)
        out[name] = user
    return out


@pytest.fixture(scope="module")
def dataset(django_app: Any, catalogue: Any) -> Dataset:
    """Loaded afresh for each module: other suites in the run may publish into the same schema."""
    ds = make_events(catalogue, datetime.now(UTC).date())
    load_layers(ds, catalogue)
    return ds


@pytest.fixture()
def analyst_client(users: dict[str, Any]) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(users["analyst"])
    return client


@pytest.fixture()
def staff_client(users: dict[str, Any]) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(users["boss"])
    return client
