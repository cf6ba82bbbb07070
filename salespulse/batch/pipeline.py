"""One batch run, step by step: build -> load -> check -> publish.

``build`` needs Spark (the spark-submit job, or a test's session); the other
steps only need PostgreSQL, so a run stopped after any step (``--steps``) can
be continued later by ``salespulse batch --steps check,publish`` or
``salespulse publish`` without a JVM.  Every step's duration goes to the log
and to ``warehouse_meta.batch_runs``; any failure marks the run failed and
leaves the published warehouse untouched (nothing is published before the
single publish transaction).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from salespulse.batch import plan as planning
from salespulse.batch.build import Manifest
from salespulse.names import Names
from salespulse.reference import get_catalogue
from salespulse.settings import Settings
from salespulse.warehouse import db, ddl, loader, publish, quality, runs, speed

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

STEPS = ("build", "load", "check", "publish")
MODES = ("full", "incremental", "backfill")
#: Test hook: ``SALESPULSE_BATCH_KILL_AFTER=load`` SIGKILLs the process right after that step,
#: exactly like an operator's ``kill -9`` (no cleanup code runs).
KILL_AFTER_ENV = "SALESPULSE_BATCH_KILL_AFTER"


class BatchError(RuntimeError):
    """A run cannot start or continue (bad arguments for the current state)."""


@dataclass(frozen=True)
class Options:
    mode: str = "incremental"
    range_from: date | None = None
    range_to: date | None = None
    watermark: date | None = None
    steps: tuple[str, ...] = STEPS
    run_id: str | None = None


@dataclass
class Result:
    run_id: str
    mode: str
    status: str
    watermark: date
    steps: dict[str, float] = field(default_factory=dict)
    figures: dict[str, int] = field(default_factory=dict)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The run options, shared by ``spark/jobs/batch_processing.py`` and ``salespulse batch``."""
    parser.add_argument("--mode", choices=MODES, help="full, incremental (default) or backfill")
    parser.add_argument("--from", dest="range_from", type=date.fromisoformat, help="backfill: first day")
    parser.add_argument("--to", dest="range_to", type=date.fromisoformat, help="backfill: last day")
    parser.add_argument(
        "--watermark",
        type=date.fromisoformat,
        help="publish days before this date (default: today, UTC, i.e. every complete day)",
    )
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"comma-separated subset of {','.join(STEPS)}, in order (stop early, or continue a run)",
    )
    parser.add_argument("--run-id", help="continue this run (default: the latest unfinished one)")


def options_from(args: argparse.Namespace) -> Options:
    steps = tuple(s.strip() for s in args.steps.split(",") if s.strip())
    unknown = [s for s in steps if s not in STEPS]
    if unknown or not steps:
        raise BatchError(f"--steps must be a subset of {','.join(STEPS)}, got {args.steps!r}")
    steps = tuple(s for s in STEPS if s in steps)
    mode = args.mode or ("backfill" if args.range_from or args.range_to else "incremental")
    if mode == "backfill" and not (args.range_from and args.range_to):
        raise BatchError("backfill needs --from and --to")
    if args.range_from and args.range_to and args.range_from > args.range_to:
        raise BatchError("--from is after --to")
    return Options(mode, args.range_from, args.range_to, args.watermark, steps, args.run_id)


def today_utc() -> date:
    return datetime.now(UTC).date()


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def run_dir(names: Names, run_id: str) -> Path:
    return names.zone("curated") / "warehouse" / f"run={run_id}"


@dataclass(frozen=True)
class Published:
    run_id: str
    watermark: date
    catalogue: str


def published_state(conn, schema: str) -> Published | None:  # type: ignore[no-untyped-def]
    if not db.schema_exists(conn, schema):
        return None
    with conn.cursor() as cur:
        cur.execute(f"SELECT run_id, watermark, catalogue FROM {schema}.batch_info")
        row = cur.fetchone()
    conn.commit()
    return Published(*row) if row else None


def make_plan(
    options: Options,
    files: list[planning.RawFile],
    published: Published | None,
    catalogue: str,
    conn,
    schema: str,
) -> planning.Plan:  # type: ignore[no-untyped-def]
    """Decide the run's files and days (falls back to full when incremental is impossible)."""
    watermark = options.watermark or today_utc()
    if options.mode == "full":
        return planning.full_plan(files, watermark)
    if published is None or published.catalogue != catalogue:
        if options.mode == "backfill":
            raise BatchError(
                "backfill needs a published warehouse built from the same catalogue: run --mode full"
            )
        why = "no published warehouse" if published is None else "the catalogue changed"
        log.info("plan: incremental impossible (%s): running a full rebuild", why)
        return planning.full_plan(files, watermark)
    if options.mode == "backfill":
        assert options.range_from and options.range_to
        watermark = published.watermark
        dates = set(planning.date_range(options.range_from, options.range_to))
    else:
        if watermark < published.watermark:
            raise BatchError(f"watermark {watermark} is before the published one ({published.watermark})")
        dates = planning.changed_dates(planning.before(files, watermark), runs.processed_files(conn, schema))
    versions = planning.read_csv_versions(planning.before(files, watermark))
    dates = planning.expand_by_versions(dates, versions)
    return planning.partial_plan(options.mode, files, watermark, dates)


WAITING = ("built", "loaded", "checked")
CONTINUE = "continue"
NOOP = "noop"
#: The step a waiting run continues with.
NEXT_STEP = {"built": "load", "loaded": "check", "checked": "publish"}


def resume_action(status: str, steps: tuple[str, ...]) -> str:
    """What continuing a run in ``status`` with ``steps`` does: CONTINUE, NOOP or why it cannot.

    Pure, so the re-run rules the Airflow tasks rely on are unit-tested: a
    retried quality gate re-checks a ``checked`` run (the staging schema it
    checked is still there, so checking again is safe and gives the same
    answer), and a retried ``publish`` of a ``published`` run does nothing.
    """
    first = steps[0]
    if status == runs.PUBLISHED:
        return NOOP if steps == ("publish",) else "already published: nothing to continue"
    if status not in WAITING:
        return "no built run waiting to be continued: run the build step first"
    needed = NEXT_STEP[status]
    if (
        first == needed
        or (status == "loaded" and first == "publish")
        or (status == "checked" and first == "check")
    ):
        return CONTINUE
    return f"continue with --steps {needed},..."


class Runner:
    """Runs the requested steps of one run, recording each."""

    def __init__(self, settings: Settings, spark_factory: Callable[[], SparkSession] | None = None):
        self.settings = settings
        self.names = Names.from_settings(settings)
        self.schema = settings.pg_schema
        self.staging = self.names.staging_schema
        self.spark_factory = spark_factory
        self._loader: loader.Loader | None = None
        self._analyzed = False  # this process's loader indexed and analyzed every staged table
        self.conn = db.connect(settings)
        runs.ensure_meta(self.conn)

    def close(self) -> None:
        self.conn.close()

    # -- the run ------------------------------------------------------------
    def run(self, options: Options) -> Result:
        if not runs.try_lock(self.conn, self.schema):
            raise BatchError(f"another batch run holds the lock of schema {self.schema}")
        if stale := runs.abandon_stale(self.conn, self.schema):
            log.warning("marked %d abandoned run(s) as failed", stale)
        if "build" in options.steps:
            manifest, steps = self._build(options), {}
            steps = dict(self._timings)
        else:
            record = self._continued_run(options)
            if resume_action(record.status, options.steps) == NOOP:
                log.info("run %s is already published and nothing newer waits: nothing to do", record.run_id)
                watermark = record.watermark or today_utc()
                return Result(record.run_id, record.mode, runs.PUBLISHED, watermark, dict(record.steps))
            log.info("continuing run %s (%s)", record.run_id, record.status)
            manifest, steps = Manifest.load(run_dir(self.names, record.run_id)), dict(record.steps)
        result = Result(manifest.run_id, manifest.mode, "", manifest.watermark_date, steps)
        try:
            for step in options.steps:
                if step == "build":
                    self._after(step, manifest, result)
                    continue
                runs.update_run(self.conn, manifest.run_id, status=runs.RUNNING)
                started = time.monotonic()
                getattr(self, f"_{step}")(manifest, result)
                result.steps[step] = round(time.monotonic() - started, 3)
                log.info("step %s done in %.1fs", step, result.steps[step])
                self._after(step, manifest, result)
        except BaseException as exc:
            self._fail(manifest.run_id, result, exc)
            raise
        return result

    def _after(self, step: str, manifest: Manifest, result: Result) -> None:
        result.status = runs.STEP_STATUS[step]
        if step != "publish":
            runs.update_run(self.conn, manifest.run_id, status=result.status, steps=result.steps)
        if os.environ.get(KILL_AFTER_ENV) == step:
            log.warning("%s=%s: killing this process now", KILL_AFTER_ENV, step)
            os.kill(os.getpid(), signal.SIGKILL)

    def _fail(self, run_id: str, result: Result, exc: BaseException) -> None:
        result.status = runs.FAILED
        try:
            self.conn.rollback()
            error = f"{type(exc).__name__}: {exc}"
            runs.update_run(
                self.conn, run_id, status=runs.FAILED, finished_at=runs.now(), steps=result.steps, error=error
            )
        except Exception:  # the database itself may be what failed
            log.exception("could not record the failure of run %s", run_id)
        log.error("run %s failed: %s", run_id, exc)

    # -- steps ----------------------------------------------------------------
    def _build(self, options: Options) -> Manifest:
        from salespulse.batch import build as building

        started = time.monotonic()
        catalogue = get_catalogue(self.settings)
        from salespulse.batch.dims import catalogue_signature

        signature = catalogue_signature(catalogue, self.settings.customers)
        files = planning.list_raw_files(self.names.zone("raw") / "sales")
        published = published_state(self.conn, self.schema)
        plan = make_plan(options, files, published, signature, self.conn, self.schema)
        run_id = new_run_id()
        runs.start_run(
            self.conn, run_id, self.schema, plan.mode, plan.watermark, plan.range_from, plan.range_to
        )
        if superseded := runs.supersede_waiting(self.conn, self.schema, run_id):
            log.info("%d earlier unpublished run(s) superseded", superseded)
        log.info(
            "run %s: %s, watermark %s, %d files, %s",
            run_id,
            plan.mode,
            plan.watermark,
            len(plan.files),
            "all days" if plan.is_full else f"{len(plan.dates or ())} days",
        )
        manifest = Manifest(
            run_id=run_id,
            mode=plan.mode,
            watermark=plan.watermark.isoformat(),
            catalogue=signature,
            dates=None if plan.dates is None else sorted(d.isoformat() for d in plan.dates),
            range_from=plan.range_from.isoformat() if plan.range_from else None,
            range_to=plan.range_to.isoformat() if plan.range_to else None,
            files=[[f.path, f.event_date.isoformat(), f.size_bytes, f.mtime_ns] for f in plan.files],
        )
        try:
            if self.spark_factory is None:
                raise BatchError("the build step needs Spark: run it through spark-submit (salespulse batch)")
            spark = self.spark_factory()
            directory = run_dir(self.names, run_id)
            directory.mkdir(parents=True, exist_ok=True)
            on_written = None
            if "load" in options.steps:  # load each table while Spark builds the next ones
                self._stage(manifest)
                self._loader = loader.Loader(self.settings, self.staging, indexes=plan.is_full)
                on_written = self._loader.submit
            building.build(spark, plan, catalogue, directory, manifest, on_written)
        except BaseException as exc:
            if self._loader is not None:
                self._loader.close()
                self._loader = None
            self._fail(run_id, Result(run_id, plan.mode, "", plan.watermark), exc)
            raise
        self._timings = {"build": round(time.monotonic() - started, 3)}
        log.info("step build done in %.1fs", self._timings["build"])
        runs.update_run(
            self.conn,
            run_id,
            rows_raw=manifest.rows_raw,
            rows_deduped=manifest.rows_deduped,
            revenue_cents=manifest.raw_revenue_cents,
        )
        return manifest

    def _continued_run(self, options: Options) -> runs.RunRecord:
        """The run ``options`` continue: ``--run-id``, else the schema's latest run (any status).

        Taking the latest run of any status (not the latest waiting one) is what
        makes a repeated ``publish`` a no-op only while nothing newer exists: a
        newer failed build is reported, not hidden behind an older success.
        """
        record = (
            runs.get_run(self.conn, options.run_id)
            if options.run_id
            else runs.latest_run(self.conn, self.schema, (*WAITING, runs.PUBLISHED, runs.FAILED))
        )
        if record is None:
            raise BatchError("no built run waiting to be continued: run the build step first")
        action = resume_action(record.status, options.steps)
        if action not in (CONTINUE, NOOP):
            raise BatchError(f"run {record.run_id} is {record.status}: {action}")
        return record

    def _stage(self, manifest: Manifest) -> None:
        """A fresh staging schema that names this run (check and publish refuse any other run's)."""
        loader.create_staging(self.settings, self.staging, ddl.ALL)
        with self.conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO {self.staging}.batch_info (run_id, mode, watermark, catalogue, loaded_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (manifest.run_id, manifest.mode, manifest.watermark, manifest.catalogue, runs.now()),
            )
        self.conn.commit()

    def _load(self, manifest: Manifest, result: Result) -> None:
        """COPY the curated tables into staging; after a build in the same run, most of them
        are loaded already (handed over as Spark wrote them): this waits for the rest."""
        early, self._loader = self._loader, None
        overlapped = early is not None
        if early is None:
            self._stage(manifest)
            early = loader.Loader(self.settings, self.staging)
        rows = early.finish(manifest.tables)
        self._analyzed = early.indexes and set(rows) == {t.name for t in ddl.CURATED}
        result.figures.update({f"rows_{k}": v for k, v in rows.items()})
        if overlapped:  # the COPYs' own wall time, mostly inside the build ("load" is the wait after it)
            result.steps["copy_overlapped"] = round(early.span, 3)

    def _check(self, manifest: Manifest, result: Result) -> None:
        self._owns_staging(manifest)
        published = None if manifest.is_full else self.schema
        failures, figures = quality.check_staging(self.conn, self.staging, published, manifest)
        result.figures.update(figures)
        log.info("quality gate figures: %s", figures)
        if failures:
            raise quality.QualityError(failures)
        log.info("quality gate passed")

    def _publish(self, manifest: Manifest, result: Result) -> None:
        self._owns_staging(manifest)
        if "check" not in result.steps:
            self._check(manifest, result)
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {self.staging}.fct_sales")
            (rows_fact,) = cur.fetchone()
        self.conn.commit()
        if manifest.is_full:
            started = time.monotonic()
            publish.build_indexes(self.settings, self.staging, analyze_tables=not self._analyzed)
            result.steps["index"] = round(time.monotonic() - started, 3)
            log.info("indexes and statistics built in %.1fs", result.steps["index"])
        result.steps["publish"] = 0.0  # recorded in the publish transaction; refined below
        started = time.monotonic()
        if manifest.is_full:
            publish.swap(self.conn, self.schema, self.staging, manifest, result.steps, rows_fact)
        else:
            publish.merge(self.conn, self.schema, self.staging, manifest, result.steps, rows_fact)
            with self.conn.cursor() as cur:
                cur.execute(f"DROP SCHEMA IF EXISTS {self.staging} CASCADE")
            self.conn.commit()
            publish.analyze(self.settings, self.schema, [t.name for t in ddl.CURATED])
        log.info("published run %s (%s, watermark %s)", manifest.run_id, manifest.mode, manifest.watermark)
        try:
            speed.announce(self.settings, manifest.run_id, manifest.watermark_date)
        except Exception as exc:  # published already; trim-speed repairs Redis later
            log.warning("speed layer not updated (run `salespulse trim-speed`): %s", exc)
        self._cleanup(manifest.run_id)
        result.steps["publish"] = round(time.monotonic() - started, 3)
        runs.update_run(self.conn, manifest.run_id, steps=result.steps)

    def _owns_staging(self, manifest: Manifest) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT run_id FROM {self.staging}.batch_info")
            row = cur.fetchone()
        self.conn.commit()
        if row is None or row[0] != manifest.run_id:
            raise BatchError(f"staging schema {self.staging} does not hold run {manifest.run_id}")

    def _cleanup(self, keep: str) -> None:
        """Drop the curated folders of other runs (their warehouse state is gone or replaced)."""
        root = self.names.zone("curated") / "warehouse"
        for child in root.glob("run=*"):
            if child.name != f"run={keep}":
                shutil.rmtree(child, ignore_errors=True)


def run(
    options: Options, settings: Settings, spark_factory: Callable[[], SparkSession] | None = None
) -> Result:
    """Run ``options.steps`` of a batch run (a new one if ``build`` is among them)."""
    runner = Runner(settings, spark_factory)
    try:
        result = runner.run(options)
    finally:
        runner.close()
    log.info("run %s %s: steps %s", result.run_id, result.status, result.steps)
    return result


def main_args(argv: Sequence[str] | None, prog: str) -> Options:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_arguments(parser)
    return options_from(parser.parse_args(argv))
