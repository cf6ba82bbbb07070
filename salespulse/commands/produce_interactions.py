"""``salespulse produce-interactions``: simulated shopper interactions (no sales) into their topic."""

from __future__ import annotations

import argparse
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "produce-interactions",
        help="produce simulated shopper interactions (views, carts, checkouts) for tests and demos",
        description=(
            "Simulates ORDERS orders over a window of event time, the sale lines they consist of, and the "
            "interactions that led to them plus abandoned sessions, then produces ONLY the interactions "
            "(interaction.v1, keyed by session id) to the interactions topic. The live producer produces "
            "both together; this command is for testing and demos."
        ),
    )
    parser.add_argument("--orders", type=int, default=1000, help="orders to simulate (default 1000)")
    parser.add_argument(
        "--hours", type=float, default=1.0, help="event-time window ending now, in hours (default 1)"
    )
    parser.add_argument(
        "--end", help="end of the window instead of now (ISO-8601 with offset, e.g. 2026-03-01T00:00Z)"
    )
    parser.add_argument("--seed", type=int, help="random seed (default: clock)")
    parser.add_argument("--topic", help="topic to write (default: the configured interactions topic)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import numpy as np
    from confluent_kafka import Producer

    from salespulse import kafka as sp_kafka
    from salespulse.events import parse_event_time_ms
    from salespulse.interactions.simulate import encode_columns, simulate_interactions
    from salespulse.names import Names
    from salespulse.reference import get_catalogue
    from salespulse.settings import get_settings
    from salespulse.simulation import orders_to_lines, rhythm_times_ms

    if args.orders < 1 or args.hours <= 0:
        print("produce-interactions: --orders must be >= 1 and --hours > 0", file=sys.stderr)
        return 2
    settings = get_settings()
    topic = args.topic or Names.from_settings(settings).interactions_topic
    end_ms = time.time_ns() // 1_000_000
    if args.end:
        parsed, reason = parse_event_time_ms(args.end)
        if reason:
            print(f"produce-interactions: --end: {reason}", file=sys.stderr)
            return 2
        end_ms = int(parsed or 0)
    start_ms = end_ms - int(args.hours * 3_600_000)
    seed = args.seed if args.seed is not None else time.time_ns()
    rng = np.random.default_rng(seed)
    catalogue = get_catalogue(settings)
    lines = orders_to_lines(rng, catalogue, rhythm_times_ms(rng, start_ms, end_ms, args.orders))
    columns = simulate_interactions(rng, catalogue, lines)
    messages = encode_columns(columns)
    sp_kafka.ensure_topics({topic: settings.partitions}, settings)
    producer = Producer(sp_kafka.producer_config(settings))
    failed: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failed.append(str(err))

    for key, value in zip(columns["session_id"].tolist(), messages, strict=True):
        while True:
            try:
                producer.produce(topic, value=value, key=key.encode(), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(60)
    print(
        f"produced {len(messages) - len(failed) - left} interactions for {args.orders} orders "
        f"to {topic} (seed {seed})"
    )
    if failed or left:
        print(f"produce-interactions: {len(failed) + left} deliveries failed: {failed[:3]}", file=sys.stderr)
        return 1
    return 0
