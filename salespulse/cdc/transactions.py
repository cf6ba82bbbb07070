"""Turn the pgoutput message stream into whole committed transactions.

pgoutput (without the streaming option) sends each transaction only after it
committed, as Begin, changes, Commit, and in commit order.  The assembler
keeps the relation descriptions the server sends (once per session and after
each schema change) and hands out one :class:`Transaction` per Commit, with
rows as ``{column: text}`` dicts.  It does no I/O, so the whole decoding path
is testable with bytes built in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from salespulse.cdc import pgoutput as pg

INSERT, UPDATE, DELETE, TRUNCATE = "insert", "update", "delete", "truncate"

Row = dict[str, str | None]


@dataclass(frozen=True, slots=True)
class RowChange:
    table: str
    op: str  # insert | update | delete | truncate
    old: Row | None  # the row before (update/delete; full with REPLICA IDENTITY FULL)
    new: Row | None  # the row after (insert/update)


@dataclass(frozen=True, slots=True)
class Transaction:
    xid: int
    commit_lsn: int
    end_lsn: int
    commit_time_us: int
    changes: tuple[RowChange, ...]

    @property
    def commit_time_ms(self) -> int:
        return self.commit_time_us // 1000


class StreamError(RuntimeError):
    """The message sequence broke the protocol (e.g. a change outside a transaction)."""


def _row(rel: pg.Relation, values: tuple[pg.Value, ...], base: Row | None = None) -> Row:
    if len(values) != len(rel.columns):
        raise StreamError(f"{rel.name}: {len(values)} values for {len(rel.columns)} columns")
    row: Row = {}
    for col, value in zip(rel.columns, values, strict=True):
        if value is pg.UNCHANGED:
            # An unchanged TOASTed value: the old row (REPLICA IDENTITY FULL) has it.
            row[col.name] = base.get(col.name) if base else None
        else:
            row[col.name] = value  # type: ignore[assignment]
    return row


@dataclass
class TransactionAssembler:
    """Feed decoded messages in stream order; get a :class:`Transaction` back at each Commit."""

    relations: dict[int, pg.Relation] = field(default_factory=dict)
    _begin: pg.Begin | None = None
    _changes: list[RowChange] = field(default_factory=list)

    @property
    def in_transaction(self) -> bool:
        """Between a Begin and its Commit: the stream position is not a safe point to confirm."""
        return self._begin is not None

    def _relation(self, oid: int) -> pg.Relation:
        try:
            return self.relations[oid]
        except KeyError:
            raise StreamError(f"change for unknown relation oid {oid}") from None

    def feed(self, msg: pg.Message) -> Transaction | None:
        if isinstance(msg, pg.Relation):
            self.relations[msg.oid] = msg
            return None
        if isinstance(msg, pg.Begin):
            if self._begin is not None:
                raise StreamError("Begin inside an open transaction")
            self._begin, self._changes = msg, []
            return None
        if isinstance(msg, pg.Origin | pg.TypeInfo):
            return None
        if self._begin is None:
            raise StreamError(f"{type(msg).__name__} outside a transaction")
        if isinstance(msg, pg.Commit):
            begin, self._begin = self._begin, None
            return Transaction(
                xid=begin.xid,
                commit_lsn=msg.commit_lsn,
                end_lsn=msg.end_lsn,
                commit_time_us=msg.commit_time_us,
                changes=tuple(self._changes),
            )
        self._changes.extend(self._to_changes(msg))
        return None

    def _to_changes(self, msg: pg.Message) -> list[RowChange]:
        if isinstance(msg, pg.Insert):
            rel = self._relation(msg.relation_oid)
            return [RowChange(rel.name, INSERT, None, _row(rel, msg.new))]
        if isinstance(msg, pg.Update):
            rel = self._relation(msg.relation_oid)
            old = _row(rel, msg.old) if msg.old is not None else None
            return [RowChange(rel.name, UPDATE, old, _row(rel, msg.new, old))]
        if isinstance(msg, pg.Delete):
            rel = self._relation(msg.relation_oid)
            return [RowChange(rel.name, DELETE, _row(rel, msg.old), None)]
        if isinstance(msg, pg.Truncate):
            return [RowChange(self._relation(oid).name, TRUNCATE, None, None) for oid in msg.relation_oids]
        raise StreamError(f"unexpected message {type(msg).__name__}")
