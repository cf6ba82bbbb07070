"""``salespulse consume-interactions``: the funnel consumer (interactions -> lake + Redis funnel)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "consume-interactions",
        help="consume shopper interactions into the lake and the live funnel counters in Redis",
        description=(
            "A consumer-group member with manual commits: per batch, invalid interactions go to "
            "<topic>.dlq with their reasons, valid ones to the raw zone (raw/interactions/event_date=D/), "
            "then the per-day funnel counters and the per-partition progress markers are applied to Redis "
            "in one atomic script (a replay is recognised, never counted twice), then offsets are committed."
        ),
    )
    parser.add_argument("--topic", help="topic to read (default: the configured interactions topic)")
    parser.add_argument("--group", help="consumer group (default: <topic prefix>salespulse-funnel)")
    parser.add_argument("--batch-size", type=int, default=5000, help="messages per batch (default 5000)")
    parser.add_argument(
        "--until-idle", type=float, metavar="SECONDS", help="stop after this long without data"
    )
    parser.add_argument("--max-events", type=int, help="stop after this many valid interactions")
    parser.add_argument(
        "--assign",
        action="store_true",
        help="read every partition directly instead of joining the group (one instance only; starts faster)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from salespulse.interactions.consumer import FunnelConsumer, Options

    consumer = FunnelConsumer(
        options=Options(
            topic=args.topic,
            group=args.group,
            batch_size=args.batch_size,
            until_idle_s=args.until_idle,
            max_events=args.max_events,
            assign=args.assign,
        )
    )
    consumer.install_signal_handlers()
    s = consumer.run()
    print(
        f"consumed {s.events} interactions ({s.invalid} to the DLQ, {s.replayed} replayed and skipped) "
        f"in {s.batches} batches, {s.seconds:.1f} s"
    )
    return 0
