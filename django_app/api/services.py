"""Writes of the web app: test-data generation jobs.

Generating sales and rebuilding the warehouse takes minutes, so the API only
starts a job and answers with a status URL.  The job runs the same
``salespulse generate`` and ``salespulse batch`` commands an operator would
(one implementation of each step, in the layer that owns it), in a
background thread of the web process, and records its progress in Redis so
any web process can report it.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from api.speed import SpeedViews

log = logging.getLogger(__name__)
JOB_TTL_S = 7 * 24 * 3600
OUTPUT_TAIL = 4000


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    argv: list[str]


def generation_steps(books: int, sales: int, *, skip_lake: bool, skip_warehouse: bool) -> list[Step]:
    """The commands of a generation job.

    ``skip_lake`` skips writing new sales into the lake (only rebuild the
    warehouse from what is there); ``skip_warehouse`` writes the lake but
    does not run the batch rebuild.  (The reference design's
    ``--skip-upload``/``--skip-redshift``.)
    """
    cli = [sys.executable, "-m", "salespulse.cli"]
    steps = []
    if not skip_lake:
        steps.append(Step("generate", [*cli, "generate", "--books", str(books), "--sales", str(sales)]))
    if not skip_warehouse:
        steps.append(Step("batch", [*cli, "batch"]))
    return steps


class JobStore:
    """Job state as one JSON document per job in Redis (``P:web:job:{id}``)."""

    def __init__(self, views: SpeedViews | None = None):
        self.views = views or SpeedViews()

    def _key(self, job_id: str) -> str:
        return self.views.n.key("web", "job", job_id)

    def save(self, job: dict[str, Any]) -> None:
        self.views.r.set(self._key(job["id"]), orjson.dumps(job), ex=JOB_TTL_S)

    def get(self, job_id: str) -> dict[str, Any] | None:
        raw = self.views.r.get(self._key(job_id))
        return orjson.loads(raw) if raw else None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def run_steps(job: dict[str, Any], steps: list[Step], store: JobStore) -> dict[str, Any]:
    """Run ``steps`` in order, recording each one's outcome; stop at the first failure."""
    job["status"] = "running"
    store.save(job)
    for i, step in enumerate(steps):
        record = job["steps"][i]
        record.update(status="running", started_at=_now())
        store.save(job)
        started = time.monotonic()
        try:
            proc = subprocess.run(step.argv, capture_output=True, text=True, check=False)
            output = (proc.stdout + proc.stderr)[-OUTPUT_TAIL:]
            code = proc.returncode
        except OSError as exc:  # the command could not start at all
            output, code = str(exc), -1
        record.update(
            status="succeeded" if code == 0 else "failed",
            exit_code=code,
            seconds=round(time.monotonic() - started, 2),
            output=output,
            finished_at=_now(),
        )
        if code != 0:
            job.update(status="failed", error=f"step {step.name} exited with {code}", finished_at=_now())
            store.save(job)
            log.warning("generation job %s failed at %s (exit %s)", job["id"], step.name, code)
            return job
        store.save(job)
    job.update(status="succeeded", finished_at=_now())
    store.save(job)
    return job


def generation_job_start(
    *, books: int, sales: int, skip_lake: bool, skip_warehouse: bool, requested_by: str
) -> dict[str, Any]:
    """Record a new job and run it in a daemon thread; returns the job document."""
    steps = generation_steps(books, sales, skip_lake=skip_lake, skip_warehouse=skip_warehouse)
    job: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "status": "queued",
        "requested_by": requested_by,
        "created_at": _now(),
        "params": {"books": books, "sales": sales, "skip_lake": skip_lake, "skip_warehouse": skip_warehouse},
        "steps": [{"name": s.name, "command": " ".join(s.argv[2:]), "status": "pending"} for s in steps],
        "error": None,
    }
    store = JobStore()
    store.save(job)
    threading.Thread(
        target=run_steps, args=(job, steps, store), name=f"job-{job['id'][:8]}", daemon=True
    ).start()
    return job
