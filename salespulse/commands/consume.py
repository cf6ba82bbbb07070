"""``salespulse consume``: the stream consumer (Kafka -> DLQ, lake, Redis views)."""

from __future__ import annotations

import argparse

from salespulse.stream.consumer import CRASH_EXIT_CODE, CRASH_POINTS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic", help="topic to read (default: the configured sales topic)")
    parser.add_argument("--group", help="consumer group (default: the configured group)")
    parser.add_argument("--batch-size", type=int, default=5000, help="most messages per batch (default 5000)")
    parser.add_argument(
        "--batch-wait-ms",
        type=int,
        default=50,
        help="longest wait for the first message of a batch; a batch never waits to fill up: "
        "it takes what is queued, up to --batch-size (default 50)",
    )
    parser.add_argument(
        "--min-batch-interval-ms",
        type=int,
        default=50,
        help="a batch smaller than 500 messages waits until this long after the previous batch "
        "began, so low rates do not pay each batch's fixed cost hundreds of times a second (default 50)",
    )
    parser.add_argument(
        "--session-timeout-ms",
        type=int,
        default=6000,
        help="group session timeout: a crashed member's partitions move after this (default 6000)",
    )
    parser.add_argument(
        "--until-idle", type=float, metavar="SECONDS", help="exit after this long without messages and lag"
    )
    parser.add_argument("--max-events", type=int, help="exit after applying this many good events")
    parser.add_argument(
        "--crash-at",
        metavar="POINT[:N]",
        help=f"testing only: exit abruptly (code {CRASH_EXIT_CODE}) at POINT of the N-th batch; "
        f"POINT is one of {', '.join(CRASH_POINTS)}",
    )
    parser.add_argument("--stats-interval", type=float, default=1.0, help="seconds between stats lines")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "consume",
        help="run the stream consumer: Kafka sale events into Redis views, the lake and the DLQ",
        description=(
            "Consume sale events as a member of the consumer group. Per batch: bad messages to the "
            "dead-letter topic, good events to the lake's raw zone, all view deltas and the progress "
            "markers to Redis in one atomic script, then offsets are committed. Stop with Ctrl-C."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salespulse.stream.consumer import ConsumerOptions, StreamConsumer

    options = ConsumerOptions(
        topic=args.topic,
        group=args.group,
        batch_size=args.batch_size,
        batch_wait_ms=args.batch_wait_ms,
        min_batch_interval_ms=args.min_batch_interval_ms,
        session_timeout_ms=args.session_timeout_ms,
        until_idle_s=args.until_idle,
        max_events=args.max_events,
        crash_at=args.crash_at,
        stats_interval_s=args.stats_interval,
    )
    StreamConsumer(options=options).run()
    return 0
