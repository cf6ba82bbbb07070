"""``salespulse generate``: years of sales history into the lake's raw zone."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from salespulse.history import DEFAULT_CHUNK_SALES


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in 0..1, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "generate",
        help="write generated sales history (sale.v1 rows) into the raw zone",
        description=(
            "Generate realistic sales (daily and weekly rhythm, best-seller skew, multi-line orders, "
            "refunds) for the shared catalogue and write them as Parquet under "
            "raw/sales/source=generator/event_date=YYYY-MM-DD/. Deterministic: the same arguments "
            "give the same files. The window ends at --end (default yesterday, UTC); today belongs "
            "to the live stream. Generator files of earlier runs are replaced unless --append."
        ),
    )
    parser.add_argument(
        "--books", type=_positive, help="catalogue size (default SALESPULSE_BOOKS; keep them equal)"
    )
    parser.add_argument(
        "--sales",
        type=_non_negative,
        default=100_000,
        help="sale lines to generate; refunds come on top (default 100000)",
    )
    parser.add_argument("--days", type=_positive, default=365, help="days of history (default 365)")
    parser.add_argument("--end", type=date.fromisoformat, help="last day, YYYY-MM-DD (default yesterday UTC)")
    parser.add_argument(
        "--seed", type=_non_negative, help="seed of the sales draws (default SALESPULSE_SEED)"
    )
    parser.add_argument(
        "--chunk",
        type=_positive,
        default=DEFAULT_CHUNK_SALES,
        help=f"sale lines per chunk, bounds memory (default {DEFAULT_CHUNK_SALES})",
    )
    parser.add_argument(
        "--refund-rate", type=_rate, default=0.02, help="share of lines refunded later (default 0.02)"
    )
    parser.add_argument(
        "--append", action="store_true", help="keep generator files of earlier runs (other seeds)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from salespulse.history import generate_history

    try:
        result = generate_history(
            sales=args.sales,
            days=args.days,
            books=args.books,
            end=args.end,
            seed=args.seed,
            chunk_sales=args.chunk,
            refund_rate=args.refund_rate,
            append=args.append,
            progress=not args.no_progress,
        )
    except ValueError as exc:
        print(f"salespulse generate: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0
