"""``salespulse cdc``: capture committed shop changes into the sales topic."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "cdc",
        help="change data capture: shop order lines -> sale.v1 events on the sales topic",
        description=(
            "Stream committed changes of the shop tables (shop_orderline, with shop_order, shop_book, "
            "shop_customer for lookups) from PostgreSQL logical decoding (pgoutput, slot "
            "salespulse_cdc_<database>, publication salespulse_cdc) into the sales topic as sale.v1 "
            "events, keyed by order id, exactly once and in commit order. A new line is a sale, a "
            "changed quantity/price/discount/book a refund plus a sale, a cancelled or deleted line a "
            "refund. Resumes from the slot's confirmed position after any stop or crash."
        ),
    )
    parser.add_argument("--once", action="store_true", help="stop when caught up with the WAL as of start-up")
    parser.add_argument(
        "--idle-timeout", type=float, metavar="S", help="stop after S seconds without a committed transaction"
    )
    parser.add_argument(
        "--batch-ms", type=int, default=200, metavar="MS", help="flush and confirm at least every MS ms (200)"
    )
    parser.add_argument(
        "--confirm-ms",
        type=int,
        default=1000,
        metavar="MS",
        help="confirm delivered commits to the replication slot at most every MS ms (1000)",
    )
    parser.add_argument(
        "--create-schema",
        action="store_true",
        help="create the shop tables from salespulse/cdc/schema.sql first (use without Django migrations)",
    )
    parser.add_argument(
        "--status", action="store_true", help="print the slot's and the stored position, then exit"
    )
    parser.add_argument(
        "--drop-slot",
        action="store_true",
        help="drop this database's replication slot (releases pinned WAL), then exit",
    )
    parser.set_defaults(func=run)


def _status() -> int:
    from salespulse.cdc import pgoutput, source
    from salespulse.services import urls

    url = urls().database
    slot = source.slot_name(source.database_name(url))
    conn = source.connect(url)
    try:
        info = source.slot_info(conn, slot)
        stored = source.stored_position(conn, slot)
    finally:
        conn.close()
    if info is None:
        print(f"slot {slot}: does not exist (the first `salespulse cdc` creates it)")
    else:
        state = f"active (pid {info.active_pid})" if info.active_pid else "inactive"
        print(
            f"slot {slot}: confirmed {pgoutput.format_lsn(info.confirmed_lsn)}, restart "
            f"{pgoutput.format_lsn(info.restart_lsn)}, WAL now {pgoutput.format_lsn(info.current_lsn)}, "
            f"lag {info.lag_bytes} bytes, {state}"
        )
    if stored:
        print("stored position: " + ", ".join(f"{k}={v}" for k, v in stored.items()))
    return 0


def run(args: argparse.Namespace) -> int:
    from salespulse.cdc import source
    from salespulse.cdc.runner import Capture, CaptureOptions
    from salespulse.services import urls

    if args.status:
        return _status()
    if args.drop_slot:
        url = urls().database
        slot = source.slot_name(source.database_name(url))
        conn = source.connect(url)
        try:
            dropped = source.drop_slot(conn, slot)
        finally:
            conn.close()
        print(f"slot {slot}: {'dropped' if dropped else 'did not exist'}")
        return 0
    if args.create_schema:
        conn = source.connect(urls().database)
        try:
            source.apply_schema(conn)
        finally:
            conn.close()
    capture = Capture(
        options=CaptureOptions(
            once=args.once,
            idle_timeout=args.idle_timeout,
            batch_ms=args.batch_ms,
            confirm_ms=args.confirm_ms,
        )
    )

    def _stop(signum: int, frame: FrameType | None) -> None:
        capture.stop_requested = True  # finish the batch, confirm, exit cleanly

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        capture.run()
    except source.SetupError as exc:
        print(f"salespulse cdc: {exc}", file=sys.stderr)
        return 1
    return 0
