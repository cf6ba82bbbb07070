"""API and WebSocket fan-out benchmark of the serving layer.

Runs against the configured environment (``DATABASE_URL``, ``REDIS_URL``,
``SALESPULSE_REDIS_PREFIX``, ``SALESPULSE_PG_SCHEMA``): whatever warehouse is
published there and whatever speed views Redis holds.  For the issue's target
load 10M sales first (``salespulse generate --sales 10000000 --days 1826`` then
``salespulse batch``); ``--synthetic N`` instead loads N generated events into
both layers through ``api.testdata`` (small N only; it writes the configured
warehouse schema, so point it at a scratch database).

It starts ``--workers`` daphne processes sharing one socket (as ``salespulse web
--workers`` does) and the relay on a free port, then:

* API: ``--clients`` concurrent clients (default 50) call each endpoint for
  ``--seconds`` with ranges of 30 days, 1 year and 5 years; p50/p95 per endpoint.
  ``--mode closed``: each client sends its next request as soon as the previous
  answer arrives (back-to-back; measures saturation, latency = clients /
  throughput).  ``--mode paced``: each client sends one request every
  ``--interval`` seconds (open loop, random phase); latency is measured from
  the *scheduled* send time, so queueing in the client is counted too.  Before
  measuring a URL it is requested once and that first (cache-cold after a
  publish) latency is reported as ``first ms``.  ``--repeat R`` runs everything R
  times and prints the median of each figure.  With ``--markers`` the
  watermark and run id of the configured warehouse schema (its ``batch_info``)
  are written to the Redis prefix first (for a prefix no consumer has used).
* Fan-out: ``--ws`` logged-in WebSocket clients; each round applies one sale to
  the speed views and publishes the update as the consumer would; the delay
  from the sale's event time until each client has the message, p50/p99.

    SALESPULSE_PG_SCHEMA=bench_batch SALESPULSE_REDIS_PREFIX=benchapi10m \\
        .venv/bin/python bench/api.py --markers --mode both --clients 50 --seconds 3 --repeat 3 --ws 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from salespulse import kafka as sp_kafka
from salespulse.names import Names
from salespulse.services import urls
from salespulse.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
DJANGO_DIR = ROOT / "django_app"
ENDPOINTS = [
    "summary/",
    "timeseries/?interval=day",
    "timeseries/?interval=month",
    "top-books/?limit=10",
    "top-books/?limit=10&by=units",
    "sales-by-region/",
    "sales-by-genre/",
    "sales-by-channel/",
    "top-customers/?limit=10",
    "monthly-revenue/",
    "pipeline-status/",
]
RANGES = {"30d": "days=30", "1y": "days=365", "5y": "days=1826"}


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    if str(DJANGO_DIR) not in sys.path:  # the bench runs from the repository root
        sys.path.insert(0, str(DJANGO_DIR))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def bench_user() -> tuple[str, str]:
    """A staff user with a token and a session key (for the WebSocket handshake)."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    token, _ = Token.objects.get_or_create(user=user)
    client = Client()
    client.force_login(user)
    return token.key, client.cookies["sessionid"].value


def random_sales(rng: Any, cat: Any, n: int, start_ms: int, span_ms: int, tag: str) -> list[Any]:
    """``n`` one-line sales of random books and customers, at random times in ``[start, start + span)``."""
    from salespulse.events import SaleEvent
    from salespulse.reference import CHANNELS, REGIONS

    books, customers = cat.book_id.tolist(), cat.customer_id.tolist()
    return [
        SaleEvent(
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "sale",
            start_ms + rng.randrange(span_ms),
            f"{tag}{i:09d}",
            1,
            rng.choice(customers),
            rng.choice(books),
            rng.randint(1, 3),
            rng.choice([999, 1499, 2499]),
            0,
            "USD",
            rng.choice(CHANNELS).code,
            rng.choice(REGIONS).code,
            "card",
        )
        for i in range(n)
    ]


def load_synthetic(n: int) -> None:
    """N events over five years into both layers (the last two days to the speed views)."""
    from api import speed, testdata

    from salespulse.reference import get_catalogue

    cat = get_catalogue()
    rng = random.Random(1)
    today = datetime.now(UTC).date()
    watermark = today - timedelta(days=1)
    start_ms = int(
        datetime.combine(today - timedelta(days=1825), datetime.min.time(), UTC).timestamp() * 1000
    )
    span = int(datetime.now(UTC).timestamp() * 1000) - start_ms
    events = random_sales(rng, cat, n, start_ms, span, "B")
    testdata.warehouse_load(events, watermark, cat, run_id=f"bench-{n}")
    r = speed.client()
    testdata.speed_clear(r)
    testdata.speed_apply(r, [e for e in events if e.event_date >= watermark], cat)
    testdata.markers_set(r, watermark, f"bench-{n}")


def load_speed(n: int) -> None:
    """Replace the prefix's per-day speed views with ``n`` random sales of today (Redis only).

    Only ``day`` keys are deleted (the markers and the web cache stay); the warehouse is not
    touched.  Shows what a live speed part costs: every answer reaching today merges it, and
    rankings bound its keys against the cached batch top.
    """
    from api import speed, testdata

    from salespulse.names import Names
    from salespulse.reference import get_catalogue

    r, names = speed.client(), Names.from_settings()
    keys = list(r.scan_iter(names.key("day", "*"), count=1000))
    for i in range(0, len(keys), 500):
        r.delete(*keys[i : i + 500])
    if n <= 0:
        return
    cat = get_catalogue()
    rng = random.Random(2)
    now = datetime.now(UTC)
    midnight_ms = int(datetime.combine(now.date(), datetime.min.time(), UTC).timestamp() * 1000)
    span = max(1, int(now.timestamp() * 1000) - midnight_ms)
    events = random_sales(rng, cat, n, midnight_ms, span, "S")
    for i in range(0, n, 5000):
        testdata.speed_apply(r, events[i : i + 5000], cat)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def markers_from_warehouse() -> None:
    """Copy the schema's ``batch_info`` (watermark, run id) to the Redis markers, as a publish does."""
    from api import selectors, speed, testdata
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"SELECT run_id, watermark FROM {selectors.table('batch_info')}")
        run_id, watermark = cur.fetchone()
    testdata.markers_set(speed.client(), watermark, run_id)


def start_server(port: int, workers: int) -> list[subprocess.Popen[bytes]]:
    from salespulse.commands.web import start_servers

    # The benchmark measures latency, not the throttle: lift the per-user rate.  DEBUG off, as
    # deployed (the local settings default to DEBUG on).
    env = {
        **os.environ,
        "SALESPULSE_API_USER_RATE": "10000000/min",
        "SALESPULSE_LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "0"),
    }
    with open(os.devnull, "wb") as devnull:
        procs = start_servers("127.0.0.1", port, workers, DJANGO_DIR, env, stdout=devnull)
    procs.append(
        subprocess.Popen(
            [sys.executable, "manage.py", "relay"],
            cwd=DJANGO_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    asyncio.run(wait_ready(port, 8 * workers))
    return procs


async def wait_ready(port: int, probes: int, timeout: float = 60) -> None:
    """Until ``probes`` fresh connections at once all get the login page.

    The sockets are bound before the workers have imported Django, so an open port says
    nothing; one answer says one worker is up; many fresh connections at once, spread by
    the kernel, reach every worker (the chance that one worker gets none of 16 is 2^-15).
    """

    async def probe() -> int:
        conn = Connection(port, "")
        try:
            return (await conn.get("/login/"))[0]
        finally:
            await conn.close()

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            statuses = await asyncio.gather(*(probe() for _ in range(probes)))
            if all(code == 200 for code in statuses):
                return
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("daphne did not start")


def cpu_seconds(procs: list[subprocess.Popen[bytes]]) -> list[float]:
    """User + system CPU of each process so far (Linux /proc), to see how the workers share the load."""
    out = []
    for proc in procs:
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            out.append(round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1))
        except (OSError, IndexError, ValueError):
            out.append(float("nan"))
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Connection:
    """A minimal HTTP/1.1 keep-alive client: one GET at a time, answers read by Content-Length.

    The load generator shares the 2 cores with the server, so it must cost little per
    request: a general client (httpx) spends about as much CPU per request as the server.
    """

    def __init__(self, port: int, token: str):
        self.port = port
        self.head = f"Host: 127.0.0.1:{port}\r\nAuthorization: Token {token}\r\n\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.head)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        close = chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value == b"close":
                close = True
            elif name == b"transfer-encoding" and value == b"chunked":
                chunked = True
        if chunked:
            body = b""
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                body += (await self.reader.readexactly(size + 2))[:-2]
            await self.reader.readuntil(b"\r\n")
        else:
            body = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = self.reader = None


async def bench_endpoint(
    port: int, token: str, path: str, clients: int, seconds: float, mode: str, interval: float
) -> tuple[list[float], float]:
    """Latencies (ms) of ``path`` under ``clients`` closed-loop or paced clients; and the first one."""
    latencies: list[float] = []
    errors = 0
    conns = [Connection(port, token) for _ in range(clients)]
    t0 = time.perf_counter()
    await conns[0].get(path)  # first request: may fill the caches
    first = (time.perf_counter() - t0) * 1000
    deadline = time.monotonic() + seconds

    async def closed(conn: Connection) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            status, _ = await conn.get(path)
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += status != 200

    async def paced(conn: Connection) -> None:
        nonlocal errors
        due = time.perf_counter() + random.uniform(0, interval)
        while time.monotonic() < deadline:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            status, _ = await conn.get(path)
            latencies.append((time.perf_counter() - due) * 1000)  # from the scheduled time
            errors += status != 200
            due += interval

    await asyncio.gather(*((closed if mode == "closed" else paced)(c) for c in conns))
    for conn in conns:
        await conn.close()
    if errors:
        print(f"  {errors} non-200 answers on {path}", file=sys.stderr)
    return latencies, first


async def bench_fanout(port: int, session: str, n: int, rounds: int) -> list[float]:
    import websockets
    from api import speed, testdata

    from salespulse.events import SaleEvent
    from salespulse.reference import get_catalogue

    cat = get_catalogue()
    headers = {"Cookie": f"sessionid={session}", "Origin": f"http://127.0.0.1:{port}"}
    sockets = []
    for _ in range(n):
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/ws/live/", additional_headers=headers, max_size=None
        )
        await ws.recv()  # snapshot
        sockets.append(ws)
    delays: list[float] = []
    r = speed.client()
    for i in range(rounds):
        now_ms = int(time.time() * 1000)
        event = SaleEvent(
            str(uuid.uuid4()), "sale", now_ms, f"FAN{i:06d}", 1, cat.customer_id[0], cat.book_id[0],
            1, 999, 0, "USD", "web", "uk", "card",
        )  # fmt: skip
        message = testdata.speed_apply(r, [event], cat)
        testdata.update_publish(r, message)

        async def receive(ws: Any, order_id: str, now_ms: int = now_ms) -> float:
            while True:
                msg = json.loads(await ws.recv())
                orders = msg.get("latest_orders") or []
                if orders and orders[0]["order_id"] == order_id:
                    return time.time() * 1000 - now_ms

        delays += await asyncio.gather(*(receive(ws, event.order_id) for ws in sockets))
        await asyncio.sleep(0.25)
    for ws in sockets:
        await ws.close()
    return delays


def start_live_pipeline(rate: int) -> tuple[list[subprocess.Popen[bytes]], str]:
    """The real speed layer on the bench's Redis prefix: a consumer, then a producer at ``rate``/s.

    Its own topic prefix, so nothing else reads or writes these topics; returns the
    processes and the topic prefix (for deleting the topics afterwards).
    """
    topics = f"benchws{uuid.uuid4().hex[:6]}."
    env = {**os.environ, "SALESPULSE_TOPIC_PREFIX": topics, "SALESPULSE_LOG_LEVEL": "WARNING"}
    cli = [sys.executable, "-m", "salespulse.cli"]
    subprocess.run(
        [*cli, "produce", "--rate", "0", "--count", "1"], env=env, check=True, stderr=subprocess.DEVNULL
    )
    consumer = subprocess.Popen(
        [*cli, "consume", "--session-timeout-ms", "2000"], env=env, stderr=subprocess.DEVNULL
    )
    r = redis.Redis.from_url(urls().redis, decode_responses=True)
    stats_key = Names.from_settings(load_settings()).key("stats", "consumer")
    r.delete(stats_key)
    deadline = time.monotonic() + 90
    while not r.hget(stats_key, "updated_at"):  # joined the group and applied the first message
        if time.monotonic() > deadline:
            raise TimeoutError("the consumer did not start")
        time.sleep(0.2)
    producer = subprocess.Popen([*cli, "produce", "--rate", str(rate)], env=env, stderr=subprocess.DEVNULL)
    return [producer, consumer], topics


async def bench_fanout_live(
    port: int, session: str, n: int, seconds: float
) -> tuple[list[float], list[float], int]:
    """``n`` logged-in clients on ``/ws/live/`` while the real pipeline runs.

    Each client listens from its own connection on (so nothing queues up at the
    client while the others connect); measured are the updates about sales made
    once all ``n`` are connected, for ``seconds``: arrival minus the update's
    newest event time, and minus its oldest listed order's.
    """
    import websockets

    headers = {"Cookie": f"sessionid={session}", "Origin": f"http://127.0.0.1:{port}"}
    newest: list[float] = []
    oldest: list[float] = []
    window = {"from_ms": float("inf"), "deadline": float("inf")}

    async def listen(ws: Any) -> None:
        while True:
            left = window["deadline"] - time.monotonic()
            if left <= 0:
                return
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=min(left, 5.0))
            except TimeoutError:
                continue
            now_ms = time.time() * 1000
            msg = json.loads(raw)
            if not msg.get("max_event_time") or _epoch_ms(msg["max_event_time"]) < window["from_ms"]:
                continue  # a sale from before every client was connected
            newest.append(now_ms - _epoch_ms(msg["max_event_time"]))
            times = [_epoch_ms(o["event_time"]) for o in msg.get("latest_orders") or []]
            if times:
                oldest.append(now_ms - min(times))

    sockets, tasks = [], []
    for _ in range(n):
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/ws/live/", additional_headers=headers, max_size=None
        )
        await ws.recv()  # snapshot
        sockets.append(ws)
        tasks.append(asyncio.create_task(listen(ws)))
    window["from_ms"] = time.time() * 1000
    window["deadline"] = time.monotonic() + seconds
    await asyncio.gather(*tasks)
    for ws in sockets:
        await ws.close()
    return newest, oldest, len(sockets)


def _epoch_ms(text: str) -> float:
    return datetime.fromisoformat(text).timestamp() * 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="per endpoint and range")
    parser.add_argument("--mode", choices=("closed", "paced", "both"), default="both")
    parser.add_argument("--interval", type=float, default=1.0, help="paced: seconds between requests")
    parser.add_argument("--repeat", type=int, default=1, help="runs (median shown)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="daphne processes")
    parser.add_argument("--ranges", default=",".join(RANGES), help="comma list of 30d,1y,5y")
    parser.add_argument("--only", default="", help="comma list of endpoint prefixes to run")
    parser.add_argument("--markers", action="store_true", help="set the Redis markers from batch_info")
    parser.add_argument("--ws", type=int, default=500, help="WebSocket clients for the fan-out (0: skip)")
    parser.add_argument("--rounds", type=int, default=20, help="fan-out rounds")
    parser.add_argument(
        "--ws-producer-rate",
        type=int,
        default=0,
        help="fan-out under the real pipeline: producer at this many sales/s -> consumer -> relay "
        "(0: synthetic rounds instead)",
    )
    parser.add_argument("--ws-seconds", type=float, default=30.0, help="live fan-out duration")
    parser.add_argument("--synthetic", type=int, default=0, help="load N synthetic events first")
    parser.add_argument(
        "--speed-events",
        type=int,
        default=-1,
        help="replace the prefix's speed views with N random sales of today (0: empty them; default: keep)",
    )
    args = parser.parse_args()

    django_setup()
    if args.synthetic:
        load_synthetic(args.synthetic)
    if args.markers:
        markers_from_warehouse()
    if args.speed_events >= 0:
        load_speed(args.speed_events)
    token, session = bench_user()
    port = free_port()
    procs = start_server(port, args.workers)
    topics = ""
    base = "/api/analytics/"
    modes = ("closed", "paced") if args.mode == "both" else (args.mode,)
    ranges = [r for r in args.ranges.split(",") if r]
    only = tuple(p for p in args.only.split(",") if p)
    try:
        for mode in modes:
            how = (
                f"{args.clients} closed-loop clients (back-to-back)"
                if mode == "closed"
                else f"{args.clients} paced clients, 1 request / {args.interval:g} s each"
            )
            print(f"\n{how}, {args.seconds:g} s per row, {args.workers} daphne worker(s), "
                  f"median of {args.repeat} run(s)")  # fmt: skip
            print("| endpoint | range | req/s | first ms | p50 ms | p95 ms | load avg |")
            print("| --- | --- | --- | --- | --- | --- | --- |")
            for path in ENDPOINTS:
                if only and not path.startswith(only):
                    continue
                for label in ranges:
                    if path.startswith("pipeline-status") and label != ranges[0]:
                        continue
                    sep = "&" if "?" in path else "?"
                    runs = []
                    for _ in range(args.repeat):
                        lat, first = asyncio.run(
                            bench_endpoint(
                                port, token, f"{base}{path}{sep}{RANGES[label]}", args.clients,
                                args.seconds, mode, args.interval,
                            )
                        )  # fmt: skip
                        runs.append((len(lat) / args.seconds, first, statistics.median(lat), pct(lat, 0.95)))
                    rps, first, p50, p95 = (statistics.median(r[i] for r in runs) for i in range(4))
                    print(
                        f"| {path} | {label} | {rps:.0f} | {first:.1f} | {p50:.1f} | {p95:.1f} "
                        f"| {os.getloadavg()[0]:.2f} |",
                        flush=True,
                    )
        if args.ws and args.ws_producer_rate:
            pipeline, topics = start_live_pipeline(args.ws_producer_rate)
            procs += pipeline
            client_cpu = time.process_time()
            newest, oldest, clients = asyncio.run(bench_fanout_live(port, session, args.ws, args.ws_seconds))
            client_cpu = time.process_time() - client_cpu
            print(
                f"\nlive fan-out: {clients} clients, producer at {args.ws_producer_rate}/s for "
                f"{args.ws_seconds:g} s, {len(newest)} updates received; arrival - newest event time: "
                f"p50 {statistics.median(newest):.0f} ms, p99 {pct(newest, 0.99):.0f} ms, "
                f"max {max(newest):.0f} ms; arrival - oldest listed order: "
                f"p50 {statistics.median(oldest):.0f} ms, p99 {pct(oldest, 0.99):.0f} ms "
                f"(load avg {os.getloadavg()[0]:.2f}; the clients' own process used {client_cpu:.1f} CPU s)"
            )
        elif args.ws:
            delays = asyncio.run(bench_fanout(port, session, args.ws, args.rounds))
            print(
                f"\nfan-out: {args.ws} clients x {args.rounds} updates: event time -> client "
                f"p50 {statistics.median(delays):.0f} ms, p99 {pct(delays, 0.99):.0f} ms, "
                f"max {max(delays):.0f} ms"
            )
    finally:
        print(f"\nCPU seconds per server process (daphne workers, relay): {cpu_seconds(procs)}")
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        if topics:
            names = Names.from_settings(load_settings({**os.environ, "SALESPULSE_TOPIC_PREFIX": topics}))
            sp_kafka.delete_topics([names.sales_topic, names.dlq_topic], load_settings())
    return 0


if __name__ == "__main__":
    sys.exit(main())
