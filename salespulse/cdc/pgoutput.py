"""Parser of PostgreSQL's ``pgoutput`` logical replication protocol (version 1).

Why ``pgoutput`` and not ``test_decoding``: it is built into every PostgreSQL
since 10 (the embedded server ships no ``test_decoding``), it sends only the
tables of a publication, it sends complete transactions in commit order, and
its binary framing is unambiguous -- a text value containing quotes, spaces or
newlines cannot be mis-split, which a parser of ``test_decoding``'s
human-readable lines has to guess at.

Only what a CDC of plain tables needs is decoded: Begin, Commit, Relation,
Insert, Update, Delete, Truncate, Origin and Type.  Values stay as PostgreSQL's
text output (``'12.99'``, ``'t'``); typing them is the mapping's job.  The
functions here are pure: bytes in, frozen dataclasses out.

Reference: "Logical Replication Message Formats" in the PostgreSQL manual.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

#: Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01 UTC).
PG_EPOCH_OFFSET_US: Final = 946_684_800_000_000


class ProtocolError(ValueError):
    """A message that does not follow the pgoutput format."""


class _Unchanged:
    """Marker for an unchanged TOASTed value (pgoutput sends ``'u'`` instead of the value)."""

    _instance: _Unchanged | None = None

    def __new__(cls) -> _Unchanged:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged()

#: One column value: text, ``None`` for SQL NULL, or :data:`UNCHANGED`.
Value = str | None | _Unchanged


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type_oid: int
    is_key: bool


@dataclass(frozen=True, slots=True)
class Begin:
    final_lsn: int
    commit_time_us: int  # Unix epoch microseconds
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    commit_time_us: int


@dataclass(frozen=True, slots=True)
class Relation:
    oid: int
    namespace: str
    name: str
    replica_identity: str  # d(efault), n(othing), f(ull), i(ndex)
    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class Insert:
    relation_oid: int
    new: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Update:
    relation_oid: int
    old: tuple[Value, ...] | None  # full old row ('O') or key only ('K'); None if not sent
    old_is_key_only: bool
    new: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Delete:
    relation_oid: int
    old: tuple[Value, ...]
    old_is_key_only: bool


@dataclass(frozen=True, slots=True)
class Truncate:
    relation_oids: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True, slots=True)
class Origin:
    lsn: int
    name: str


@dataclass(frozen=True, slots=True)
class TypeInfo:
    oid: int
    namespace: str
    name: str


Message = Begin | Commit | Relation | Insert | Update | Delete | Truncate | Origin | TypeInfo


class _Reader:
    """Cursor over one message's bytes; every read checks the length."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes):
        self.buf = buf
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            raise ProtocolError(f"message truncated: wanted {n} bytes at {self.pos}, have {len(self.buf)}")
        chunk = self.buf[self.pos : end]
        self.pos = end
        return chunk

    def byte(self) -> str:
        return self.take(1).decode("ascii")

    def int8(self) -> int:
        return self.take(1)[0]

    def int16(self) -> int:
        return int(struct.unpack(">h", self.take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self.take(4))[0])

    def uint32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def int64(self) -> int:
        return int(struct.unpack(">q", self.take(8))[0])

    def uint64(self) -> int:
        return int(struct.unpack(">Q", self.take(8))[0])

    def cstring(self) -> str:
        end = self.buf.find(b"\x00", self.pos)
        if end < 0:
            raise ProtocolError("unterminated string")
        text = self.buf[self.pos : end].decode("utf-8")
        self.pos = end + 1
        return text

    def tuple_data(self) -> tuple[Value, ...]:
        values: list[Value] = []
        for _ in range(self.int16()):
            kind = self.byte()
            if kind == "n":
                values.append(None)
            elif kind == "u":
                values.append(UNCHANGED)
            elif kind in ("t", "b"):
                length = self.int32()
                raw = self.take(length)
                # 'b' (binary) only appears with the 'binary' option, which we never request.
                values.append(raw.decode("utf-8") if kind == "t" else raw.hex())
            else:
                raise ProtocolError(f"unknown tuple value kind {kind!r}")
        return tuple(values)

    def done(self) -> None:
        if self.pos != len(self.buf):
            raise ProtocolError(f"{len(self.buf) - self.pos} trailing bytes")


def _timestamp_us(pg_us: int) -> int:
    return pg_us + PG_EPOCH_OFFSET_US


def parse(payload: bytes | bytearray | memoryview) -> Message:
    """Decode one pgoutput message; raises :class:`ProtocolError` on anything malformed."""
    r = _Reader(bytes(payload))
    if not r.buf:
        raise ProtocolError("empty message")
    tag = r.byte()
    msg: Message
    if tag == "B":
        msg = Begin(final_lsn=r.uint64(), commit_time_us=_timestamp_us(r.int64()), xid=r.uint32())
    elif tag == "C":
        r.int8()  # flags, unused
        msg = Commit(commit_lsn=r.uint64(), end_lsn=r.uint64(), commit_time_us=_timestamp_us(r.int64()))
    elif tag == "R":
        oid, namespace, name, identity = r.uint32(), r.cstring(), r.cstring(), r.byte()
        columns = []
        for _ in range(r.int16()):
            flags = r.int8()
            col_name = r.cstring()
            type_oid = r.uint32()
            r.int32()  # type modifier
            columns.append(Column(col_name, type_oid, bool(flags & 1)))
        msg = Relation(oid, namespace or "pg_catalog", name, identity, tuple(columns))
    elif tag == "I":
        oid = r.uint32()
        if r.byte() != "N":
            raise ProtocolError("insert without new tuple")
        msg = Insert(oid, r.tuple_data())
    elif tag == "U":
        oid = r.uint32()
        kind = r.byte()
        old = None
        if kind in ("K", "O"):
            old = r.tuple_data()
            key_only = kind == "K"
            kind = r.byte()
        else:
            key_only = False
        if kind != "N":
            raise ProtocolError(f"update without new tuple (got {kind!r})")
        msg = Update(oid, old, key_only, r.tuple_data())
    elif tag == "D":
        oid = r.uint32()
        kind = r.byte()
        if kind not in ("K", "O"):
            raise ProtocolError(f"delete without old tuple (got {kind!r})")
        msg = Delete(oid, r.tuple_data(), kind == "K")
    elif tag == "T":
        count = r.int32()
        options = r.int8()
        oids = tuple(r.uint32() for _ in range(count))
        msg = Truncate(oids, cascade=bool(options & 1), restart_identity=bool(options & 2))
    elif tag == "O":
        msg = Origin(lsn=r.uint64(), name=r.cstring())
    elif tag == "Y":
        msg = TypeInfo(oid=r.uint32(), namespace=r.cstring(), name=r.cstring())
    else:
        raise ProtocolError(f"unsupported message type {tag!r}")
    r.done()
    return msg


def format_lsn(lsn: int) -> str:
    """``0x16B3748`` -> ``'0/16B3748'``, PostgreSQL's own notation."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """``'0/16B3748'`` -> integer LSN; raises ``ValueError`` on anything else."""
    high, sep, low = text.strip().partition("/")
    if not sep or not high or not low:
        raise ValueError(f"not an LSN: {text!r}")
    return (int(high, 16) << 32) | int(low, 16)
