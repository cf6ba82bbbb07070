"""The columnar decoder gives exactly the per-message decoder's verdict, message by message."""

from __future__ import annotations

import random

import numpy as np
import orjson
import pyarrow as pa
import pytest

from salespulse.events import InvalidEvent, SaleEvent, decode, encode, format_event_time
from salespulse.events_columnar import COLUMNS, decode_many
from salespulse.lake import RAW_SALES_SCHEMA, events_to_table
from salespulse.settings import load_settings
from salespulse.stream.poison import KINDS, malformed
from salespulse.stream.producer import _EVENT_COLUMNS as _COLUMNS
from salespulse.stream.producer import LineSource


@pytest.fixture(scope="module")
def events() -> list[SaleEvent]:
    source = LineSource(np.random.default_rng(7), load_settings({}), 0.05, 400)
    return source.take(600, 1_764_085_341_380)


def _expected(values: list[bytes | None]) -> tuple[list[SaleEvent], list[int], dict[int, str]]:
    good, where, rejects = [], [], {}
    for i, v in enumerate(values):
        try:
            good.append(decode(v))
            where.append(i)
        except InvalidEvent as exc:
            rejects[i] = str(exc)
    return good, where, rejects


def _assert_same_verdict(values: list[bytes | None]) -> None:
    good, where, rejects = _expected(values)
    got = decode_many(values)
    assert got.rejects == rejects
    assert got.positions.tolist() == where
    columns = [f.name for f in COLUMNS]
    want = events_to_table(good, "stream", ["o"] * len(good), 0).select(columns)
    assert got.table.schema == COLUMNS
    assert got.table.to_pylist() == want.to_pylist()


def _mutate(rng: random.Random, event: SaleEvent) -> bytes:
    """One plausible way a producer elsewhere could get an event wrong (or merely unusual)."""
    payload = event.to_payload()
    field = rng.choice(list(payload))
    choice = rng.randrange(22)
    if choice == 0:
        payload.pop(field)
    elif choice == 1:
        payload[field] = None
    elif choice == 2:
        payload[field] = rng.choice([1, 1.5, True, "x", [], {}, -1, 0, 2**64 - 1])
    elif choice == 3 and isinstance(payload[field], str):
        payload[field] = f" {payload[field]} "
    elif choice == 4:
        payload["unit_price"] = rng.choice(["1.999", "-1.00", "1,00", "12", "0.5", "007.10", 3, 3.25, "1e3"])
    elif choice == 5:
        payload["discount"] = rng.choice([0, 1, 1.5, -0.0, 0.12345, "0.1", 1e-05, 0.0001, 0.9999, 2])
    elif choice == 6:
        payload["event_time"] = rng.choice(
            [
                "2026-02-30T00:00:00.000Z",
                "2024-02-29T23:59:59.999Z",
                "2025-02-29T10:00:00.000Z",
                "2026-11-25T18:22:21Z",
                "2026-11-25T18:22:21.380+01:00",
                "2026-11-25T18:22:21.380",
                "2026-11-25 18:22:21.380Z",
                "0999-01-01T00:00:00.000Z",
                "2026-11-25T24:00:00.000Z",
                "2026-11-25T18:60:00.000Z",
                "yesterday",
            ]
        )
    elif choice == 7:
        payload["event_id"] = payload["event_id"].upper()
    elif choice == 8:
        payload["event_id"] = payload["event_id"].replace("-", "")
    elif choice == 9:
        payload["currency"] = rng.choice(["usd", "EURO", "€UR", ""])
    elif choice == 10:
        payload["product_id"] = rng.choice(["BK 1", "x" * 65, "x" * 64, "é", "\u00a0BK1", "BK1\x00"])
    elif choice == 11:
        payload["line_no"] = rng.choice([0, 10_000, 10_001, -0])
    elif choice == 12:
        payload["quantity"] = rng.choice([0, 100_000, 100_001])
    elif choice == 13:
        payload["event_type"] = rng.choice(["SALE", "return", ""])
    elif choice == 14:
        payload["schema"] = rng.choice(["sale.v2", "saleXv1", None])
    elif choice == 15:
        return orjson.dumps(payload, option=orjson.OPT_INDENT_2)  # newlines inside the message
    elif choice == 16:
        return encode(event) + b" "
    elif choice == 17:
        return encode(event)[:-1] + b',"note":NaN}'
    elif choice == 18:
        return encode(event)[:-1] + b',"note":"\xff"}'
    elif choice == 19:
        return encode(event)[:-1] + b',"event_type":"refund"}'  # duplicate key: the last one wins
    elif choice == 20:
        return encode(event) + encode(event)
    else:
        payload["extra"] = {"nested": [1, 2, {"deep": "yes"}]}
    return orjson.dumps(payload)


def test_clean_batch_matches_the_per_message_decoder(events: list[SaleEvent], monkeypatch) -> None:
    values = [encode(e) for e in events]
    with monkeypatch.context() as m:  # a clean batch never reaches the per-message path
        m.setattr("salespulse.events_columnar.decode", lambda value: pytest.fail("per-message path used"))
        got = decode_many(values)
    assert got.rejects == {}
    assert got.table.num_rows == len(events)
    _assert_same_verdict(values)


def test_every_poison_kind_and_random_mutations_get_the_same_verdict(events: list[SaleEvent]) -> None:
    rng = random.Random(11)
    values: list[bytes | None] = []
    for i, event in enumerate(events):
        if i % 3 == 0:
            values.append(_mutate(rng, event))
        elif i % 50 == 1:
            values.append(malformed(list(KINDS)[i % len(KINDS)], event))
        else:
            values.append(encode(event))
    values += [None, b"", b"{}", b"[]", b"{ }", b"null", b'"x"']
    _assert_same_verdict(values)
    got = decode_many(values)
    assert 0 < len(got.rejects) < len(values)
    _assert_same_verdict(values[:60])  # below MIN_COLUMNAR: the per-message path throughout
    _assert_same_verdict(values[-40:])


def test_many_seeds_of_mutations(events: list[SaleEvent]) -> None:
    for seed in range(20):
        rng = random.Random(seed)
        values: list[bytes | None] = [
            _mutate(rng, e) if rng.random() < 0.2 else encode(e) for e in events[:300]
        ]
        _assert_same_verdict(values)


def test_empty_batch() -> None:
    got = decode_many([])
    assert got.table.num_rows == 0 and got.rejects == {} and got.positions.tolist() == []


def test_columns_are_the_raw_zone_columns() -> None:
    raw = {f.name: f.type for f in RAW_SALES_SCHEMA}
    assert all(raw[f.name] == f.type for f in COLUMNS)
    assert isinstance(COLUMNS.field("event_time").type, pa.TimestampType)


def test_producer_wire_template_is_byte_for_byte_the_contract_encoding() -> None:
    from salespulse.stream.producer import _wire_lines

    source = LineSource(np.random.default_rng(3), load_settings({}), 0.05, 300)
    lines = source.take_lines(500)
    assert {line.key for line in lines} >= {lines[0].row[3].encode()}
    for t in (1_764_085_341_380, 1_764_085_341_007, 0):
        stamp = format_event_time(t).encode()
        assert [line.value(stamp) for line in lines] == [encode(line.event(t)) for line in lines]
    # Text that would need JSON escaping falls back to the encoder.
    row = lines[0].row
    odd = dict(zip(_COLUMNS, ([v] for v in (*row[:5], 'CU"7', *row[6:])), strict=True))
    (line,) = _wire_lines(odd)
    assert line.value(format_event_time(1_764_028_800_000).encode()) == encode(line.event(1_764_028_800_000))
    assert b'"CU\\"7"' in line.value(b"x")


def test_producer_stamp_is_the_contract_time_format() -> None:
    from salespulse.stream.producer import SalesProducer

    producer = SalesProducer.__new__(SalesProducer)
    producer._stamp_second, producer._stamp_prefix = -1, b""
    for t in (1_764_085_341_380, 1_764_085_341_999, 1_764_085_342_000, 1_764_085_342_007, 86_399_999):
        assert producer._stamp(t) == format_event_time(t).encode()
