"""What the nightly DAG runs, decided outside the DAG file.

Airflow's best practice is that a DAG file only orchestrates: no work at parse
time and no logic that cannot be tested without a scheduler.  So the DAG asks
this module for each task's command line, built from the run's *data
interval* (never the wall clock), and runs it.  Every step is a ``salespulse``
subcommand from the same virtual environment, executed as a subprocess: the
steps stay usable by hand, Spark runs under ``spark-submit`` as it does
anywhere else, and the Airflow Spark provider (whose ``pyspark-client`` would
replace pyspark) is never needed.

The steps hand over through the warehouse, not through Airflow: ``batch
--steps build,load`` leaves a run "loaded", ``publish --check-only`` continues
the latest unfinished run, and so on.  One DAG run at a time (and the batch
job's own lock) keeps "the latest unfinished run" unambiguous.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

MODES = ("incremental", "full")
DEFAULT_MODE = "incremental"

#: ``salespulse batch --steps`` of the rebuild task: Spark build, then COPY into staging.
REBUILD_STEPS = ("build", "load")


class OrchestrationError(RuntimeError):
    """A step cannot be planned from the run's context; the message says why."""


def salespulse_executable() -> str:
    """The ``salespulse`` command beside the interpreter running the task (the project's venv).

    Resolved when a task runs, never at parse time.
    """
    candidate = Path(sys.executable).parent / "salespulse"
    return str(candidate) if candidate.exists() else "salespulse"


def watermark_for(data_interval_end: datetime | None, run_after: datetime | None = None) -> date:
    """The batch watermark of a run: the UTC date of its data interval's end.

    A nightly run at 02:00 UTC on day D publishes every event before D.  Manual runs in
    Airflow 3 may have no data interval; their ``run_after`` (when they were asked to run)
    stands in, which is still a property of the run, not of the moment a task executes,
    so a retried task gets the same watermark.
    """
    moment = data_interval_end or run_after
    if moment is None:
        raise OrchestrationError("the DAG run has neither a data interval nor a run_after date")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What every step of one DAG run agrees on."""

    mode: str
    watermark: date

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> RunPlan:
        """Plan from an Airflow task context (params and data interval)."""
        params = context.get("params") or {}
        mode = str(params.get("mode") or DEFAULT_MODE)
        if mode not in MODES:
            raise OrchestrationError(f"param mode must be one of {MODES}, got {mode!r}")
        run_after = getattr(context.get("dag_run"), "run_after", None)
        return cls(mode=mode, watermark=watermark_for(context.get("data_interval_end"), run_after))


# -- command lines (one per DAG task) ----------------------------------------------
def landing_dir() -> Path:
    """Where other systems drop their CSV exports (``data/landing``, from the settings)."""
    from salespulse.names import Names

    return Names.from_settings().landing_dir


def ingest_command() -> list[str]:
    """Ingest every CSV in the landing folder (re-ingesting a file replaces its rows)."""
    return [salespulse_executable(), "ingest-csv", str(landing_dir())]


def ingest_shell() -> str:
    """The ingest task's command: an empty or not yet created drop folder is a night with no CSVs.

    ``ingest-csv`` refuses a missing folder (a typo in a path given by hand should fail),
    so the task creates the drop folder first.
    """
    return f"mkdir -p {shlex.quote(str(landing_dir()))} && " + shell(ingest_command())


def rebuild_command(plan: RunPlan) -> list[str]:
    """``spark-submit`` the rebuild (through ``salespulse batch``) and COPY it into staging."""
    return [
        salespulse_executable(),
        "batch",
        "--mode",
        plan.mode,
        "--watermark",
        plan.watermark.isoformat(),
        "--steps",
        ",".join(REBUILD_STEPS),
    ]


def quality_gate_command() -> list[str]:
    """Reconcile raw, curated and staged numbers; a failure stops the run before publish."""
    return [salespulse_executable(), "publish", "--check-only"]


def publish_command() -> list[str]:
    """Swap staging in atomically (one transaction) and record the watermark."""
    return [salespulse_executable(), "publish"]


def trim_command(plan: RunPlan) -> list[str]:
    """Delete speed-layer day keys older than the new watermark (the warehouse serves them now)."""
    return [salespulse_executable(), "trim-speed", "--watermark", plan.watermark.isoformat()]


def announce_command(plan: RunPlan) -> list[str]:
    """Publish ``batch_published`` for the published run, so the web app drops its cache."""
    return [*trim_command(plan), "--announce"]


def shell(argv: list[str]) -> str:
    """A command line for ``@task.bash``; ``exec`` so stopping the task stops the step itself."""
    return "exec " + shlex.join(argv)
