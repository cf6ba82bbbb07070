"""``/ws/live/`` over the real Redis channel layer, with the real relay loop.

Anonymous and foreign-origin handshakes are refused; a logged-in user gets a
snapshot of the speed views, then every update the consumer publishes on
``P:updates`` (sent here as the consumer would, through the relay).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client
from django_support import Dataset

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def _session_cookie(user: Any) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def _app() -> Any:
    from config.asgi import application

    return application


async def _connect(headers: list[tuple[bytes, bytes]]) -> tuple[WebsocketCommunicator, bool]:
    comm = WebsocketCommunicator(_app(), "/ws/live/", headers=headers)
    connected, _ = await comm.connect(timeout=5)
    return comm, connected


def test_anonymous_is_refused(dataset: Dataset) -> None:
    async def run() -> None:
        comm, connected = await _connect([ORIGIN])
        assert not connected
        await comm.disconnect()

    asyncio.run(run())


def test_foreign_origin_is_refused(users: Any, dataset: Dataset) -> None:
    cookie = _session_cookie(users["analyst"])

    async def run() -> None:
        comm, connected = await _connect([(b"origin", b"http://evil.example"), cookie])
        assert not connected
        await comm.disconnect()

    asyncio.run(run())


@pytest.mark.parametrize("who", ["analyst", "boss"])
def test_logged_in_user_gets_snapshot(users: Any, dataset: Dataset, who: str) -> None:
    cookie = _session_cookie(users[who])

    async def run() -> dict[str, Any]:
        comm, connected = await _connect([ORIGIN, cookie])
        assert connected
        snapshot = json.loads(await comm.receive_from(timeout=5))
        await comm.disconnect()
        return snapshot

    snapshot = asyncio.run(run())
    today = dataset.today
    speed = [e for e in dataset.events if e.event_date == today]
    assert snapshot["type"] == "snapshot"
    assert snapshot["watermark"] == dataset.watermark.isoformat()
    assert snapshot["days"][today.isoformat()]["revenue_cents"] == sum(e.revenue_cents for e in speed)
    assert snapshot["days"][today.isoformat()]["events"] == len(speed)
    newest = max(e.event_time_ms for e in dataset.events if e.event_date >= dataset.watermark)
    assert snapshot["latest_orders"][0]["event_time"].startswith(
        datetime.fromtimestamp(newest / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    )
    minute_sum = sum(m["revenue_cents"] for m in snapshot["minutes"])
    assert minute_sum == sum(
        e.revenue_cents
        for e in dataset.events
        if e.event_date >= dataset.watermark and e.event_time_ms // 60000 * 60 >= _oldest_minute(snapshot)
    )


def _oldest_minute(snapshot: dict[str, Any]) -> int:
    first = snapshot["minutes"][0]["minute"]
    return int(datetime.fromisoformat(first.replace("Z", "+00:00")).timestamp())


def test_relay_forwards_updates_to_every_client(users: Any, dataset: Dataset, catalogue: Any) -> None:
    """Consumer publishes on P:updates -> relay -> Channels group -> each socket, unchanged."""
    from api import speed, testdata
    from live.relay import run_relay

    cookies = [_session_cookie(users["analyst"]), _session_cookie(users["boss"])]
    sale = dataset.events[-1]
    new_event = type(sale)(
        **{
            **{f: getattr(sale, f) for f in sale.__slots__},
            "event_id": "00000000-0000-4000-8000-000000000001",
            "event_time_ms": int(datetime.now(UTC).timestamp() * 1000),
            "order_id": "O-LIVE-1",
            "line_no": 1,
        }
    )

    async def run() -> list[dict[str, Any]]:
        stop, ready = asyncio.Event(), asyncio.Event()
        relay = asyncio.create_task(run_relay(stop, ready))
        await asyncio.wait_for(ready.wait(), 5)
        comms = []
        for cookie in cookies:
            comm, connected = await _connect([ORIGIN, cookie])
            assert connected
            json.loads(await comm.receive_from(timeout=5))  # snapshot
            comms.append(comm)
        message = await asyncio.to_thread(testdata.speed_apply, speed.client(), [new_event], catalogue)
        receivers = await asyncio.to_thread(testdata.update_publish, speed.client(), message)
        assert receivers >= 1
        got = [json.loads(await c.receive_from(timeout=5)) for c in comms]
        for c in comms:
            await c.disconnect()
        stop.set()
        await asyncio.wait_for(relay, 5)
        return got

    try:
        got = asyncio.run(run())
    finally:
        _undo(dataset, catalogue, new_event)
    day = new_event.event_date.isoformat()
    expected_total = (
        sum(e.revenue_cents for e in dataset.events if e.event_date == new_event.event_date)
        + new_event.revenue_cents
    )
    for update in got:
        assert update["type"] == "update"
        assert update["days"][day]["revenue_cents"] == expected_total
        assert update["latest_orders"][0]["order_id"] == "O-LIVE-1"


def _undo(dataset: Dataset, catalogue: Any, event: Any) -> None:
    """Put the speed views back to the dataset (other tests compare against it)."""
    from api import speed, testdata

    r = speed.client()
    testdata.speed_clear(r)
    testdata.speed_apply(r, [e for e in dataset.events if e.event_date >= dataset.watermark], catalogue)
    testdata.markers_set(r, dataset.watermark, dataset.run_id)


def test_resync_request_returns_a_fresh_snapshot(users: Any, dataset: Dataset) -> None:
    cookie = _session_cookie(users["analyst"])

    async def run() -> dict[str, Any]:
        comm, connected = await _connect([ORIGIN, cookie])
        assert connected
        await comm.receive_from(timeout=5)
        await comm.send_to(text_data=json.dumps({"type": "resync"}))
        again = json.loads(await comm.receive_from(timeout=5))
        await comm.disconnect()
        return again

    assert asyncio.run(run())["type"] == "snapshot"
