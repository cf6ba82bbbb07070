"""History generator: years of realistic sales written straight into the raw zone.

The batch layer needs history to be worth rebuilding (the seeds promise 10M
sales over 5 years for 500K titles), and it has to come from the same model as
the live producer (:mod:`salespulse.simulation`), for the shared catalogue.

The window is cut into chunks of whole days.  Each chunk draws its orders
from its own seeded generator, so the output depends only on the arguments,
never on the clock or the machine.  Refunds that fall after their chunk are
carried into the chunk that covers their day, so every ``event_date``
partition gets exactly one file (``gen-<seed>-<chunk>.parquet``) and a rerun
with the same arguments rewrites the same files.  Refunds after the window end
are dropped: the generator never writes today or the future (the live stream
covers today).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa

from salespulse import simulation as sim
from salespulse.lake import partition_dir, write_atomic
from salespulse.names import Names
from salespulse.reference import Catalogue, get_catalogue
from salespulse.settings import Settings, get_settings

log = logging.getLogger(__name__)

SOURCE = "generator"
DEFAULT_CHUNK_SALES = 500_000
_EPOCH_DAY = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Days ``[first_day, end_day)`` (epoch days) and the sale lines they get."""

    index: int
    first_day: int
    end_day: int
    sales: int


@dataclass(frozen=True, slots=True)
class GenerateResult:
    start: date
    end: date
    sales: int
    refunds: int
    refunds_after_window: int
    files: int
    removed_files: int
    seconds: float
    root: Path

    def summary(self) -> str:
        rate = self.sales / self.seconds if self.seconds else 0.0
        return (
            f"generated {self.sales:,} sales + {self.refunds:,} refunds from {self.start} to {self.end} "
            f"in {self.files:,} files under {self.root} in {self.seconds:.1f} s ({rate:,.0f} sales/s)"
        )


def yesterday_utc() -> date:
    """The default last day: the live stream, not the generator, covers today."""
    return datetime.now(UTC).date() - timedelta(days=1)


def epoch_day(day: date) -> int:
    return (day - _EPOCH_DAY).days


def plan_chunks(seed: int, first_day: int, days: int, sales: int, chunk_sales: int) -> list[Chunk]:
    """Split the window into runs of whole days and share ``sales`` among them.

    Shares follow the rhythm's weight of each chunk (weekends and partial
    weeks weigh what they should) in one multinomial draw, so the total is
    exactly ``sales``.
    """
    if days < 1 or sales < 0 or chunk_sales < 1:
        raise ValueError("days and chunk_sales must be >= 1 and sales >= 0")
    days_per_chunk = max(1, min(days, (chunk_sales * days) // max(sales, 1)))
    bounds = [*range(first_day, first_day + days, days_per_chunk), first_day + days]
    _, _, hourly = sim.hour_weights(first_day * sim.DAY_MS, (first_day + days) * sim.DAY_MS)
    per_day = hourly.reshape(days, 24).sum(axis=1)
    weights = np.array([per_day[a - first_day : b - first_day].sum() for a, b in pairwise(bounds)])
    rng = np.random.default_rng([seed, 0])
    shares = rng.multinomial(sales, weights / weights.sum())
    return [
        Chunk(i, a, b, int(m)) for i, (a, b, m) in enumerate(zip(bounds, bounds[1:], shares, strict=False))
    ]


def exact_lines_per_order(rng: np.random.Generator, sales: int) -> np.ndarray:
    """Lines per order summing to exactly ``sales`` (the last order is cut short if needed)."""
    if sales == 0:
        return np.empty(0, dtype=np.int64)
    k = sim.draw_lines_per_order(rng, sales)  # each order has >= 1 line: never more orders than sales
    total = np.cumsum(k)
    n_orders = int(np.searchsorted(total, sales)) + 1
    k = k[:n_orders].copy()
    k[-1] -= int(total[n_orders - 1]) - sales
    return k


def chunk_lines(seed: int, chunk: Chunk, catalogue: Catalogue, refund_rate: float) -> dict[str, np.ndarray]:
    """All lines of one chunk, from the chunk's own generator (independent of other chunks)."""
    rng = np.random.default_rng([seed, 1, chunk.index])
    k = exact_lines_per_order(rng, chunk.sales)
    times = sim.rhythm_times_ms(rng, chunk.first_day * sim.DAY_MS, chunk.end_day * sim.DAY_MS, len(k))
    return sim.build_lines(rng, catalogue, times, k, refund_rate)


def split_at(
    lines: dict[str, np.ndarray], time_ms: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(rows before ``time_ms``, rows from it on) of time-sorted lines."""
    cut = int(np.searchsorted(lines["event_time"], time_ms, side="left"))
    return {k: v[:cut] for k, v in lines.items()}, {k: v[cut:] for k, v in lines.items()}


def day_slices(event_time_ms: np.ndarray) -> list[tuple[int, int, int]]:
    """(epoch day, start row, end row) of each day present in time-sorted rows."""
    if len(event_time_ms) == 0:
        return []
    days = event_time_ms // sim.DAY_MS
    starts = np.flatnonzero(np.diff(days)) + 1
    edges = np.concatenate([[0], starts, [len(days)]])
    return [(int(days[a]), int(a), int(b)) for a, b in pairwise(edges.tolist())]


def file_name(seed: int, chunk: int) -> str:
    return f"gen-{seed}-{chunk:05d}.parquet"


def write_days(table: pa.Table, root: Path, name: str) -> list[Path]:
    """One file per ``event_date`` present in the time-sorted ``table`` (zero-copy slices)."""
    times = table.column("event_time").cast(pa.int64()).to_numpy()
    written = []
    for day, a, b in day_slices(times):
        iso = (_EPOCH_DAY + timedelta(days=day)).isoformat()
        written.append(write_atomic(table.slice(a, b - a), partition_dir(root, iso) / name))
    return written


def remove_stale(root: Path, keep: set[Path]) -> int:
    """Delete generator files of earlier runs that this run did not rewrite, and empty partitions."""
    removed = 0
    for path in sorted(root.glob("event_date=*/gen-*.parquet")):
        if path not in keep:
            path.unlink()
            removed += 1
    for part in root.glob("event_date=*"):
        if part.is_dir() and not any(part.iterdir()):
            part.rmdir()
    return removed


def generate_history(
    *,
    sales: int,
    days: int,
    books: int | None = None,
    end: date | None = None,
    seed: int | None = None,
    chunk_sales: int = DEFAULT_CHUNK_SALES,
    refund_rate: float = 0.02,
    append: bool = False,
    settings: Settings | None = None,
    progress: bool = True,
    on_chunk: Callable[[int, int], None] | None = None,
) -> GenerateResult:
    """Generate ``sales`` sale lines (refunds on top) over the ``days`` days ending ``end``.

    The callable behind ``salespulse generate`` and Django's
    ``generate_sales_data``.  ``end`` defaults to yesterday (UTC) and must not
    be later.  Unless ``append``, generator files of earlier runs that this
    run did not rewrite are removed afterwards, so the generator's share of
    the lake is exactly this run's.  ``on_chunk(done, total)`` reports sale
    lines written so far (for callers without a terminal).
    """
    from tqdm import tqdm

    s = settings or get_settings()
    seed = s.seed if seed is None else seed
    books = books or s.books
    last = yesterday_utc()
    end = end or last
    if end > last:
        raise ValueError(f"--end {end} is not before today (UTC): the live stream covers today and later")
    if days < 1:
        raise ValueError("days must be >= 1")
    if books != s.books:
        log.warning(
            "generating for %d books while SALESPULSE_BOOKS=%d: set SALESPULSE_BOOKS=%d for the "
            "producer, Spark and Django too, or their catalogue will not match",
            books,
            s.books,
            books,
        )
    started = time.perf_counter()
    catalogue = get_catalogue(s, books=books)
    root = Names.from_settings(s).raw_sales_dir(SOURCE)
    first_day = epoch_day(end) - days + 1
    window_end_ms = (epoch_day(end) + 1) * sim.DAY_MS
    chunks = plan_chunks(seed, first_day, days, sales, chunk_sales)
    log.info("generating %d sales over %d days in %d chunks into %s", sales, days, len(chunks), root)

    written: set[Path] = set()
    pending: dict[str, np.ndarray] | None = None
    n_refunds = 0
    done = 0
    with tqdm(total=sales, unit="sale", unit_scale=True, disable=not progress, desc="generate") as bar:
        for chunk in chunks:
            lines = chunk_lines(seed, chunk, catalogue, refund_rate)
            if pending is not None:
                lines = sim.merge_by_time(lines, pending)
            lines, pending = split_at(lines, chunk.end_day * sim.DAY_MS)
            table = sim.lines_to_table(lines, SOURCE, f"{SOURCE}/{seed}/{chunk.index}", window_end_ms)
            written.update(write_days(table, root, file_name(seed, chunk.index)))
            n_refunds += int((lines["event_type"] == b"refund").sum())
            done += chunk.sales
            bar.update(chunk.sales)
            if on_chunk is not None:
                on_chunk(done, sales)
    removed = 0 if append else remove_stale(root, written)
    result = GenerateResult(
        start=_EPOCH_DAY + timedelta(days=first_day),
        end=end,
        sales=sales,
        refunds=n_refunds,
        refunds_after_window=0 if pending is None else len(pending["event_time"]),
        files=len(written),
        removed_files=removed,
        seconds=time.perf_counter() - started,
        root=root,
    )
    log.info(result.summary())
    return result
