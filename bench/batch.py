"""Batch benchmark: generation, full rebuild and incremental run, timed end to end.

    .venv/bin/python bench/batch.py [--sales 1000000 --sales 10000000] [--books 500000]
        [--schema bench_batch2 --data-dir /tmp/salespulse-bench-batch2] [--reuse-data] [--no-write]

For each size: a fresh raw zone of ``--days`` of history ending the day before
yesterday (``salespulse generate``), a full rebuild with the watermark at
yesterday (spark-submit start to published warehouse), then one more day of
events and an incremental run up to today.  Each command is timed from the
outside; the per-step seconds come from ``warehouse_meta.batch_runs``.  Uses
its own data folder, PostgreSQL schema and Redis prefix, so it never touches
the default warehouse.  Results are appended to docs/BENCHMARKS.md ("Batch").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2

from salespulse import services
from salespulse.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "salespulse.cli"]


def timed(cmd: list[str], env: dict[str, str], log: Path) -> float:
    started = time.monotonic()
    with open(log, "a") as out:
        out.write(f"\n$ {shlex.join(cmd)}\n")
        out.flush()
        code = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        raise SystemExit(f"failed ({code}): {shlex.join(cmd)} (see {log})")
    return time.monotonic() - started


def last_run(database_url: str, schema: str) -> dict[str, object]:
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT run_id, mode, rows_raw, rows_fact, steps, range_from, range_to "
            "FROM warehouse_meta.batch_runs WHERE pg_schema = %s AND status = 'published' "
            "ORDER BY started_at DESC LIMIT 1",
            (schema,),
        )
        run_id, mode, rows_raw, rows_fact, steps, first, last = cur.fetchone()
    return {
        "run_id": run_id,
        "mode": mode,
        "rows_raw": rows_raw,
        "rows_fact": rows_fact,
        "steps": json.loads(steps),
        "range": f"{first}..{last}",
    }


#: Written next to the raw zone after generating it: the generate command's arguments.
GENERATED = "bench-generated.json"


def reusable(data: Path, gen: list[str]) -> bool:
    """Whether ``data`` holds exactly what ``gen`` would generate; if so, reset it for another round.

    Generation is deterministic (seeded), so rerunning it only adds noise and
    minutes; the previous round's extra day (the incremental input, the only
    files on the day before today) and its curated output are removed instead.
    """
    marker = data / GENERATED
    if not marker.exists() or json.loads(marker.read_text()) != gen[2:]:
        return False
    extra_day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    for source in (data / "lake" / "raw" / "sales").glob("source=*"):
        shutil.rmtree(source / f"event_date={extra_day}", ignore_errors=True)
    shutil.rmtree(data / "lake" / "curated", ignore_errors=True)
    return True


def per_minute(rows: int, seconds: float) -> str:
    return f"{rows / seconds * 60:,.0f}"


def bench_size(sales: int, args: argparse.Namespace, env: dict[str, str], log: Path) -> list[str]:
    today = datetime.now(UTC).date()
    data = Path(env["SALESPULSE_DATA_DIR"])
    lines = []
    gen = [
        *CLI,
        "generate",
        "--sales",
        str(sales),
        "--days",
        str(args.days),
        "--books",
        str(args.books),
        "--end",
        (today - timedelta(days=2)).isoformat(),
        "--no-progress",
    ]
    if args.reuse_data and reusable(data, gen):
        lines.append(
            f"| generate {sales:,} sales (reused from an earlier run) | `{shlex.join(gen[2:])}` | | | |"
        )
    else:
        shutil.rmtree(data, ignore_errors=True)
        t_gen = timed(gen, env, log)
        (data / GENERATED).write_text(json.dumps(gen[2:]))
        rate = per_minute(sales, t_gen)
        lines.append(f"| generate {sales:,} sales | `{shlex.join(gen[2:])}` | {t_gen:.1f} | {rate} | |")

    full = [
        *CLI,
        "batch",
        "--mode",
        "full",
        "--watermark",
        (today - timedelta(days=1)).isoformat(),
        *args.spark,
    ]
    t_full = timed(full, env, log)
    run = last_run(env["DATABASE_URL"], env["SALESPULSE_PG_SCHEMA"])
    steps = ", ".join(f"{k} {v:.1f}" for k, v in run["steps"].items())  # type: ignore[union-attr]
    lines.append(
        f"| full rebuild, {run['rows_fact']:,} fact rows | `{shlex.join(full[2:])}` | {t_full:.1f} | "
        f"{per_minute(int(run['rows_fact']), t_full)} | {steps} |"
    )

    per_day = max(1, sales // args.days)
    more = [
        *CLI,
        "generate",
        "--sales",
        str(per_day),
        "--days",
        "1",
        "--books",
        str(args.books),
        "--end",
        (today - timedelta(days=1)).isoformat(),
        "--seed",
        "4242",
        "--append",
        "--no-progress",
    ]
    timed(more, env, log)
    inc = [*CLI, "batch", "--mode", "incremental", "--watermark", today.isoformat(), *args.spark]
    t_inc = timed(inc, env, log)
    run = last_run(env["DATABASE_URL"], env["SALESPULSE_PG_SCHEMA"])
    steps = ", ".join(f"{k} {v:.1f}" for k, v in run["steps"].items())  # type: ignore[union-attr]
    lines.append(
        f"| incremental, one new day ({run['rows_fact']:,} rows rebuilt, days {run['range']}) | "
        f"`{shlex.join(inc[2:])}` | {t_inc:.1f} | {per_minute(int(run['rows_fact']), t_inc)} | {steps} |"
    )
    for line in lines:
        print(line, flush=True)
    return lines


def append_results(lines: list[str], command: str, note: str) -> Path:
    path = ROOT / "docs" / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = (
        f"\n### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `{command}`\n\n{note}\n\n"
        "| step | command | seconds | records/minute | steps inside the run (s) |\n"
        "| --- | --- | ---: | ---: | --- |\n" + "\n".join(lines) + "\n"
    )
    if "\n## Batch\n" not in text:
        text = text.rstrip("\n") + "\n\n## Batch\n\nFull rebuild = spark-submit start to published warehouse "
        text += "(build, COPY load, quality gate, indexes, atomic swap, Redis watermark). `bench/batch.py`.\n"
    head, _, tail = text.partition("\n## Batch\n")
    body, sep, rest = tail.partition("\n## ")
    text = head + "\n## Batch\n" + body.rstrip("\n") + "\n" + block + (sep + rest if sep else "")
    path.write_text(text)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, action="append", help="sales per size (repeatable; default 1M)")
    parser.add_argument("--books", type=int, default=500_000)
    parser.add_argument("--days", type=int, default=1825)
    parser.add_argument("--data-dir", default="/tmp/salespulse-bench-batch")
    parser.add_argument(
        "--schema",
        dest="schema",
        help="PostgreSQL schema and Redis prefix of the benchmark warehouse (default: bench_batch)",
    )
    parser.add_argument(
        "--reuse-data",
        action="store_true",
        help="reuse the raw zone an earlier run generated with the same arguments (skip generation)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not append to docs/BENCHMARKS.md")
    parser.add_argument(
        "spark", nargs="*", help="extra `salespulse batch` flags after --, e.g. -- --master local[2]"
    )
    args = parser.parse_args()
    args.schema = args.schema or os.environ.get("SALESPULSE_BENCH_SCHEMA", "bench_batch")
    sizes = args.sales or [1_000_000]
    base = load_settings()
    urls = services.urls(base)
    env = dict(
        os.environ,
        SALESPULSE_DATA_DIR=args.data_dir,
        SALESPULSE_PG_SCHEMA=args.schema,
        SALESPULSE_REDIS_PREFIX=f"{args.schema}",
        SALESPULSE_BOOKS=str(args.books),
        DATABASE_URL=urls.database,
        REDIS_URL=urls.redis,
    )
    log = Path(args.data_dir + ".log")
    log.unlink(missing_ok=True)
    load = os.getloadavg()
    note = (
        f"{os.cpu_count()} cores, {platform.python_version()}, load average before start "
        f"{load[0]:.1f} (machine shared with other work); {args.books:,} books, {args.days} days."
    )
    lines = []
    for sales in sizes:
        lines += bench_size(sales, args, env, log)
    command = "python bench/batch.py " + " ".join(f"--sales {s}" for s in sizes)
    if args.schema != "bench_batch":
        command += f" --schema {args.schema} --data-dir {args.data_dir}"
    if not args.no_write:
        print(f"appended to {append_results(lines, command, note)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
