"""RQ entry points for backups, drills and restores (queue `backups`): each takes a run id,
acts as whoever started it (whose rights are checked again when it runs), and calls one
service. A heartbeat in Redis tells a running job from one whose worker died."""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from contextlib import contextmanager

from rq import Retry, get_current_job

from formwarden.access.actor import Actor
from formwarden.auth.users import actor_for_job
from formwarden.backup import restore as restoring
from formwarden.backup import service
from formwarden.backup.policy import load_policy
from formwarden.backup.single import restore_one
from formwarden.backup.targets import TargetError, by_name
from formwarden.config import load_settings
from formwarden.errors import DomainError
from formwarden.jobs.queue import connection, get_queue
from formwarden.models import BackupRun

log = logging.getLogger(__name__)
TIMEOUT = 6 * 3600
HEARTBEAT = "formwarden:backup-heartbeat:"
RETRY_DELAY = 600  # seconds before a degraded backup's missing copies are tried again
RETRIES = 6
BEAT_EVERY, BEAT_TTL = 4, 15  # a run whose worker died is known as dead within BEAT_TTL seconds
WAIT_FOR_OTHER = 60  # seconds a run waits for another of its kind to finish (or be found dead)

FUNCS = {
    "backup": "formwarden.jobs.backups.run_backup_job",
    "drill": "formwarden.jobs.backups.run_drill_job",
    "restore": "formwarden.jobs.backups.run_restore_job",
    "restore_record": "formwarden.jobs.backups.run_restore_record_job",
}


def submit(conn, kind: str, trigger: str, actor: Actor | None, params: dict | None = None) -> BackupRun:
    """Create the run row and queue its job. `actor` None: the system (schedule, CLI)."""
    if actor is not None:
        service.require(actor)
    run = service.new_run(kind, trigger, actor, {**(params or {}), "origin": actor.origin() if actor else {}})
    retry = Retry(max=2, interval=[60, 300]) if kind in ("backup", "drill") else None
    get_queue("backups", conn).enqueue(FUNCS[kind], run.job_id, job_id=run.job_id, job_timeout=TIMEOUT,
                                       result_ttl=86400, failure_ttl=7 * 86400, retry=retry)
    return run


def _conn():
    job = get_current_job()
    return job.connection if job is not None else connection(load_settings())


@contextmanager
def heartbeat(job_id: str):
    """Keep HEARTBEAT<job_id> alive while the run works (a dead worker stops refreshing it)."""
    conn = _conn()
    conn.set(HEARTBEAT + job_id, "1", ex=BEAT_TTL)
    stop = threading.Event()

    def beat():
        while not stop.is_set():
            conn.set(HEARTBEAT + job_id, "1", ex=BEAT_TTL)
            stop.wait(BEAT_EVERY)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield conn
    finally:
        stop.set()
        thread.join()
        conn.delete(HEARTBEAT + job_id)


def reap(conn, job_id: str) -> int:
    """Mark runs whose worker died as failed (their heartbeat is gone) and drop spool leftovers."""
    dead = 0
    for run in BackupRun.select().where(BackupRun.status == "running", BackupRun.job_id != job_id):
        if not conn.exists(HEARTBEAT + run.job_id):
            service.finish(run, "failed", "interrupted: the worker stopped before the run finished; nothing of it "
                                          "was kept")
            dead += 1
    live = {r.job_id for r in BackupRun.select(BackupRun.job_id).where(BackupRun.status == "running")}
    for partial in service.spool_dir().glob("*.partial"):
        if partial.stem not in live:
            partial.unlink(missing_ok=True)
    return dead


def _actor(run: BackupRun) -> Actor:
    """The starter's identity, checked again now; the schedule acts as the system."""
    if run.requested_by_id is None:
        return Actor.system(f"backup:{run.trigger}")
    params = json.loads(run.summary or "{}")
    actor = actor_for_job(run.requested_by_id, params.get("origin") or {}, run.job_id)
    service.require(actor)
    return actor


def _wait_turn(conn, run: BackupRun) -> None:
    """One run of a kind at a time: wait while another runs and its worker is alive."""
    deadline = time.monotonic() + WAIT_FOR_OTHER
    while True:
        reap(conn, run.job_id)
        busy = BackupRun.select().where(BackupRun.kind == run.kind, BackupRun.status == "running",
                                        BackupRun.id != run.id).exists()
        if not busy or time.monotonic() > deadline:
            return
        time.sleep(2)


def _guarded(job_id: str, work) -> object:
    conn = _conn()
    run = service.get_run(job_id)
    if run.status == "running" and not conn.exists(HEARTBEAT + job_id):  # RQ brought back a job whose worker died
        service.finish(run, "failed", "interrupted: the worker stopped before the run finished; nothing of it was kept")
        run = service.get_run(job_id)
    if run.status not in ("queued", "failed"):
        return run.status  # taken by another process (the CLI, a second worker) or finished
    with heartbeat(job_id):
        _wait_turn(conn, run)
        try:
            return work(run, _actor(run))
        except DomainError as exc:
            if exc.code == "run_taken":
                return "taken"
            service.finish(run, "failed", exc.message, code=exc.code)
            log.warning("backup run %s refused: %s", job_id, exc.code)
            return None


def run_backup_job(job_id: str):
    def work(run, actor):
        service.run_backup(run, actor)
        if run.status == "degraded":
            get_queue("backups", _conn()).enqueue_in(
                _delay(), "formwarden.jobs.backups.retry_copies_job", run.job_id, 1,
                job_id=f"{run.job_id}-retry-1", job_timeout=TIMEOUT)
        log.info("backup %s: %s", job_id, run.status)
        return run.status
    return _guarded(job_id, work)


def _delay() -> dt.timedelta:
    return dt.timedelta(seconds=RETRY_DELAY)


def retry_copies_job(job_id: str, attempt: int):
    run = service.get_run(job_id)
    if service.retry_copies(run) or attempt >= RETRIES:
        return run.status
    get_queue("backups", _conn()).enqueue_in(_delay(), "formwarden.jobs.backups.retry_copies_job", job_id,
                                             attempt + 1, job_id=f"{job_id}-retry-{attempt + 1}", job_timeout=TIMEOUT)
    return "retrying"


def run_drill_job(job_id: str):
    return _guarded(job_id, lambda run, actor: service.drill(run, actor))


def _from_archive(job_id: str, apply) -> object:
    """Run `apply(actor, path, params) -> message` on the run's archive (downloaded first from a
    remote target); an archive problem fails the run with its code, live data untouched."""
    def work(run, actor):
        params = json.loads(run.summary)
        service.claim(run)
        path, temporary = None, False
        try:
            path, temporary = service.local_archive(by_name(params["target"]), params["archive"], service.spool_dir())
            with service.ProgressWriter(run) as progress:
                message = apply(actor, path, params, progress)
        except (restoring.ArchiveError, TargetError) as exc:
            code = getattr(exc, "code", "target_error")
            service.finish(run, "failed", getattr(exc, "problem", str(exc)), code=code)
            service.note_failure(actor, run.kind, params, code)
            return "failed"
        finally:
            if temporary and path is not None:
                path.unlink(missing_ok=True)
        service.finish(run, "done", message, archive_name=params["archive"])
        return "done"
    return _guarded(job_id, work)


def run_restore_job(job_id: str):
    def apply(actor, path, params, progress):
        summary = restoring.restore(path, actor, on_progress=progress, reason=params.get("reason", ""))
        return f"restored {params['archive']}: {summary['rows']} rows"
    return _from_archive(job_id, apply)


def run_restore_record_job(job_id: str):
    def apply(actor, path, params, progress):
        rid, outcome = restore_one(actor, path, params["form"], int(params["record_id"]), params.get("reason", ""))
        return f"record {rid} {outcome} from {params['archive']}"
    return _from_archive(job_id, apply)


def scheduled_backup():
    """Started by the cron scheduler (see jobs/cron.py)."""
    if not load_policy().enabled:
        return "disabled"
    run = service.new_run("backup", "schedule", None)
    return run_backup_job(run.job_id)


def scheduled_drill():
    run = service.new_run("drill", "schedule", None)
    return run_drill_job(run.job_id)


def health_check():
    return service.check_health()
