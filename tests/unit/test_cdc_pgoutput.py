"""pgoutput decoding and transaction assembly, on bytes built the way the server frames them."""

from __future__ import annotations

import struct

import pytest

from salespulse.cdc import pgoutput as pg
from salespulse.cdc.transactions import DELETE, INSERT, UPDATE, StreamError, TransactionAssembler

# -- encoders (the server's side of the protocol) ------------------------------------


def _tuple(values: list[str | object | None]) -> bytes:
    out = struct.pack(">h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v is pg.UNCHANGED:
            out += b"u"
        else:
            raw = str(v).encode()
            out += b"t" + struct.pack(">i", len(raw)) + raw
    return out


def begin(final_lsn: int, ts_us: int, xid: int) -> bytes:
    return b"B" + struct.pack(">QqI", final_lsn, ts_us - pg.PG_EPOCH_OFFSET_US, xid)


def commit(commit_lsn: int, end_lsn: int, ts_us: int) -> bytes:
    return b"C" + struct.pack(">bQQq", 0, commit_lsn, end_lsn, ts_us - pg.PG_EPOCH_OFFSET_US)


def relation(oid: int, name: str, columns: list[str], identity: str = "f") -> bytes:
    out = b"R" + struct.pack(">I", oid) + b"public\x00" + name.encode() + b"\x00" + identity.encode()
    out += struct.pack(">h", len(columns))
    for i, col in enumerate(columns):
        out += struct.pack(">b", 1 if i == 0 else 0) + col.encode() + b"\x00" + struct.pack(">Ii", 25, -1)
    return out


def insert(oid: int, values: list) -> bytes:
    return b"I" + struct.pack(">I", oid) + b"N" + _tuple(values)


def update(oid: int, old: list | None, new: list) -> bytes:
    out = b"U" + struct.pack(">I", oid)
    if old is not None:
        out += b"O" + _tuple(old)
    return out + b"N" + _tuple(new)


def delete(oid: int, old: list) -> bytes:
    return b"D" + struct.pack(">I", oid) + b"O" + _tuple(old)


# -- tests ------------------------------------------------------------------------------


def test_lsn_text_round_trip() -> None:
    assert pg.format_lsn(0x16B3748) == "0/16B3748"
    assert pg.format_lsn((3 << 32) | 0xA) == "3/A"
    assert pg.parse_lsn("0/16B3748") == 0x16B3748
    assert pg.parse_lsn("3/A") == (3 << 32) | 0xA
    for bad in ("", "16B3748", "x/y", "/1"):
        with pytest.raises(ValueError):
            pg.parse_lsn(bad)


def test_parse_real_server_bytes() -> None:
    """Bytes captured from PostgreSQL 16 (an insert of (1, 1, 12.99, 'a') and its commit)."""
    raw_insert = bytes.fromhex("49000040134e0004740000000131740000000131") + bytes.fromhex(
        "7400000005" + "31322e3939" + "7400000001" + "61"
    )
    msg = pg.parse(raw_insert)
    assert msg == pg.Insert(relation_oid=0x4013, new=("1", "1", "12.99", "a"))
    raw_commit = bytes.fromhex("43000000000002511cf00000000002511d200003041aa6f8d2c4")
    c = pg.parse(raw_commit)
    assert isinstance(c, pg.Commit)
    assert (c.commit_lsn, c.end_lsn) == (0x2511CF0, 0x2511D20)
    assert c.commit_time_us == 0x0003041AA6F8D2C4 + pg.PG_EPOCH_OFFSET_US


def test_parse_each_message_type() -> None:
    ts = 1_795_000_000_123_456
    assert pg.parse(begin(100, ts, 7)) == pg.Begin(100, ts, 7)
    assert pg.parse(commit(100, 120, ts)) == pg.Commit(100, 120, ts)
    rel = pg.parse(relation(9, "t", ["id", "q"]))
    assert rel == pg.Relation(9, "public", "t", "f", (pg.Column("id", 25, True), pg.Column("q", 25, False)))
    assert pg.parse(update(9, ["1", "2"], ["1", pg.UNCHANGED])) == pg.Update(
        9, ("1", "2"), False, ("1", pg.UNCHANGED)
    )
    assert pg.parse(update(9, None, ["1", None])) == pg.Update(9, None, False, ("1", None))
    assert pg.parse(delete(9, ["1", "2"])) == pg.Delete(9, ("1", "2"), False)
    truncate = b"T" + struct.pack(">ib", 2, 1) + struct.pack(">II", 9, 10)
    assert pg.parse(truncate) == pg.Truncate((9, 10), cascade=True, restart_identity=False)
    assert pg.parse(b"Y" + struct.pack(">I", 5) + b"ns\x00typ\x00") == pg.TypeInfo(5, "ns", "typ")


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"Z",
        b"B\x00\x01",
        insert(9, ["1"])[:-1],
        insert(9, ["1"]) + b"\x00",
        b"I\x00\x00\x00\x09X\x00\x00",
    ],
)
def test_malformed_messages_are_rejected_with_a_reason(payload: bytes) -> None:
    with pytest.raises(pg.ProtocolError):
        pg.parse(payload)


def test_assembler_yields_whole_transactions_with_named_rows() -> None:
    a = TransactionAssembler()
    stream = [
        begin(1000, 1_795_000_000_000_000, 42),
        relation(9, "shop_orderline", ["id", "quantity", "note"]),
        insert(9, ["5", "2", "x"]),
        update(9, ["5", "2", "x"], ["5", "3", pg.UNCHANGED]),
        delete(9, ["5", "3", "x"]),
        commit(1000, 1040, 1_795_000_000_000_000),
    ]
    out = [a.feed(pg.parse(m)) for m in stream]
    assert out[:-1] == [None] * 5
    tx = out[-1]
    assert tx is not None and not a.in_transaction
    assert (tx.xid, tx.commit_lsn, tx.end_lsn, tx.commit_time_ms) == (42, 1000, 1040, 1_795_000_000_000)
    assert [(c.table, c.op) for c in tx.changes] == [
        ("shop_orderline", INSERT),
        ("shop_orderline", UPDATE),
        ("shop_orderline", DELETE),
    ]
    assert tx.changes[0].new == {"id": "5", "quantity": "2", "note": "x"}
    # The unchanged (TOASTed) value is taken from the old row.
    assert tx.changes[1].new == {"id": "5", "quantity": "3", "note": "x"}
    assert tx.changes[2].old == {"id": "5", "quantity": "3", "note": "x"}


def test_assembler_rejects_broken_sequences() -> None:
    a = TransactionAssembler()
    with pytest.raises(StreamError):
        a.feed(pg.parse(insert(9, ["1"])))  # outside a transaction
    a.feed(pg.parse(begin(1, 0 + pg.PG_EPOCH_OFFSET_US, 1)))
    with pytest.raises(StreamError):
        a.feed(pg.parse(insert(99, ["1"])))  # unknown relation
    with pytest.raises(StreamError):
        a.feed(pg.parse(begin(2, pg.PG_EPOCH_OFFSET_US, 2)))  # nested Begin
