"""Job runs: one row per background job, which the UI polls for progress."""
from __future__ import annotations

import json
import logging
import uuid

from formwarden.errors import NotFound
from formwarden.jobs.queue import get_queue
from formwarden.models import JobRun, utcnow

log = logging.getLogger(__name__)


def submit(conn, kind: str, func: str, *, queue: str, requested_by: int | None, params: dict) -> JobRun:
    """Create the run row, then enqueue `func(job_id)` (ids only, never customer data)."""
    job_id = uuid.uuid4().hex
    run = JobRun.create(job_id=job_id, kind=kind, requested_by=requested_by, params=json.dumps(params))
    get_queue(queue, conn).enqueue(func, job_id, job_id=job_id, job_timeout=3600, result_ttl=86400,
                                   failure_ttl=7 * 86400)
    return run


def get_run(job_id: str) -> JobRun:
    run = JobRun.get_or_none(JobRun.job_id == job_id)
    if run is None:
        raise NotFound("no such job", code="unknown_job")
    return run


def progress(run: JobRun, done: int, total: int, status: str = "running") -> None:
    JobRun.update(progress=done, total=total, status=status).where(JobRun.id == run.id).execute()


def finish(run: JobRun, *, status: str, message: str = "", result_path: str = "") -> None:
    JobRun.update(status=status, message=message[:2000], result_path=result_path, finished_at=utcnow()).where(
        JobRun.id == run.id).execute()


def resume(conn, run: JobRun, func: str, queue: str) -> None:
    """Queue a stopped run again under a new RQ job id; the job continues from its saved position."""
    JobRun.update(status="queued", finished_at=None, message="").where(JobRun.id == run.id).execute()
    get_queue(queue, conn).enqueue(func, run.job_id, job_id=f"{run.job_id}-{uuid.uuid4().hex[:8]}",
                                   job_timeout=3600, result_ttl=86400, failure_ttl=7 * 86400)
