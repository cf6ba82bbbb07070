"""``salespulse trim-speed``: drop speed-layer day keys the warehouse now serves.

Idempotent: sets ``P:watermark``/``P:batch:latest`` to the published run and
deletes ``P:day:{D}:*`` for days before the watermark.  A publish does this
itself; run it to repair Redis after a publish whose Redis step failed, or as
the DAG's own task.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from salespulse.names import Names
from salespulse.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("trim-speed", help="trim speed-layer day keys older than the batch watermark")
    parser.add_argument("--watermark", type=date.fromisoformat, help="default: the published watermark")
    parser.add_argument(
        "--announce", action="store_true", help="also publish a batch_published message (web caches drop)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salespulse.batch.pipeline import published_state
    from salespulse.warehouse import db, speed

    settings = get_settings()
    with db.connected(settings) as conn:
        published = published_state(conn, settings.pg_schema)
    if published is None and args.watermark is None:
        print("salespulse trim-speed: no published warehouse (give --watermark)", file=sys.stderr)
        return 1
    watermark = args.watermark or published.watermark  # type: ignore[union-attr]
    if args.announce and published is not None:
        trimmed = speed.announce(settings, published.run_id, watermark)
    else:
        names = Names.from_settings(settings)
        r = speed.client(settings)
        try:
            if published is not None:
                r.set(names.key("watermark"), watermark.isoformat())
                r.set(names.key("batch", "latest"), published.run_id)
            trimmed = speed.trim(r, names, watermark)
        finally:
            r.close()
    print(f"watermark {watermark}: {trimmed} day keys trimmed")
    return 0
