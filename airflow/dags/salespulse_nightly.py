"""Nightly batch layer of SalesPulse: landing CSVs -> Spark rebuild -> gate -> publish -> trim -> announce.

This file only orchestrates.  Each task asks :mod:`salespulse.orchestration`
for its command line, built from the run's data interval (the watermark is
the date of ``data_interval_end``), and runs a ``salespulse`` subcommand in a
subprocess (Spark through ``spark-submit``, no Spark provider).  No work
happens at parse time and no task looks at the clock, so a retried task gets
the same command line.  The steps hand over through the warehouse's
``batch_runs`` (gate and publish continue the latest loaded run), and one
active DAG run at a time keeps that unambiguous.

Full rebuild on demand: trigger with ``{"mode": "full"}``.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from salespulse import orchestration

DEFAULT_ARGS = {
    "owner": "salespulse",
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=20),
}


@dag(
    dag_id="salespulse_nightly",
    description="Rebuild and publish the warehouse from the lake, then hand the days to the batch layer.",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "mode": Param(
            orchestration.DEFAULT_MODE,
            type="string",
            enum=list(orchestration.MODES),
            description="incremental: partitions new since the last watermark; full: recompute everything.",
        )
    },
    tags=["salespulse", "batch"],
    doc_md=__doc__,
)
def salespulse_nightly() -> None:
    @task.bash(skip_on_exit_code=None, execution_timeout=timedelta(hours=1))
    def ingest_csv() -> str:
        return orchestration.ingest_shell()

    @task.bash(skip_on_exit_code=None, execution_timeout=timedelta(hours=3))
    def spark_rebuild(**context) -> str:  # type: ignore[no-untyped-def]
        plan = orchestration.RunPlan.from_context(context)
        return orchestration.shell(orchestration.rebuild_command(plan))

    @task.bash(skip_on_exit_code=None, execution_timeout=timedelta(hours=1))
    def quality_gate() -> str:
        return orchestration.shell(orchestration.quality_gate_command())

    @task.bash(skip_on_exit_code=None, execution_timeout=timedelta(minutes=30))
    def publish() -> str:
        return orchestration.shell(orchestration.publish_command())

    @task.bash(skip_on_exit_code=None, execution_timeout=timedelta(minutes=30))
    def trim_speed(**context) -> str:  # type: ignore[no-untyped-def]
        plan = orchestration.RunPlan.from_context(context)
        return orchestration.shell(orchestration.trim_command(plan))

    @task.bash(skip_on_exit_code=None, execution_timeout=timedelta(minutes=10))
    def announce(**context) -> str:  # type: ignore[no-untyped-def]
        plan = orchestration.RunPlan.from_context(context)
        return orchestration.shell(orchestration.announce_command(plan))

    ingest_csv() >> spark_rebuild() >> quality_gate() >> publish() >> trim_speed() >> announce()


salespulse_nightly()
