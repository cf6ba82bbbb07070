"""``salespulse produce``: simulated live sales into the Kafka topic."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="events per second, 0 = flat out (default 1000)"
    )
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument("--count", type=int, help="stop after this many events")
    stop.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    parser.add_argument("--seed", type=int, help="random seed of the simulated sales (default: clock)")
    parser.add_argument(
        "--refund-rate", type=float, default=0.02, help="share of lines refunded (default 0.02)"
    )
    parser.add_argument("--late-ratio", type=float, default=0.0, help="share of events made late (default 0)")
    parser.add_argument(
        "--late-hours",
        type=float,
        nargs=2,
        default=(1.0, 48.0),
        metavar=("MIN", "MAX"),
        help="late events are this many hours old, uniformly (default 1 48)",
    )
    parser.add_argument(
        "--malformed-ratio",
        type=float,
        default=0.0,
        help="share of messages made malformed, rotating through every kind (default 0)",
    )
    parser.add_argument("--topic", help="topic to write (default: the configured sales topic)")
    parser.add_argument(
        "--interactions",
        action="store_true",
        help="also produce the shopper interactions behind each sale to the interactions topic",
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "produce",
        help="produce simulated live sales (multi-line orders, refunds, late and bad events on request)",
        description=(
            "Simulated live sales from the shared catalogue, smoothly paced, keyed by order id, "
            "with an idempotent, fully acknowledged producer. Prints a progress line with the "
            "achieved rate; exits non-zero if any delivery failed."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import signal

    from salespulse.stream.producer import ProducerOptions, SalesProducer

    producer = SalesProducer(
        options=ProducerOptions(
            rate=args.rate,
            count=args.count,
            duration_s=args.duration,
            seed=args.seed,
            refund_rate=args.refund_rate,
            late_ratio=args.late_ratio,
            late_min_hours=args.late_hours[0],
            late_max_hours=args.late_hours[1],
            malformed_ratio=args.malformed_ratio,
            topic=args.topic,
            interactions=args.interactions,
        )
    )
    signal.signal(signal.SIGTERM, producer.stop)
    signal.signal(signal.SIGINT, producer.stop)
    summary = producer.run()
    return 1 if summary.failed else 0
