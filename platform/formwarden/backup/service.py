"""Backup runs: make an archive and put a verified copy on every target, prune by the policy,
drill restores, and say when backups are missing, stale or failing.

A run row (BackupRun) carries live progress for the pages and the CLI. The archive is written
to a spool file first and only copied to targets once complete, so a worker killed half-way
leaves a `.partial` file that is never listed as an archive (the next run removes it) and a
run row that the next run marks as interrupted."""
from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
import time
from pathlib import Path

import peewee as pw

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm, has_perm
from formwarden.audit import record_event
from formwarden.audit.alerts import raise_alert
from formwarden.backup import restore as restoring
from formwarden.backup.archive import ArchiveError
from formwarden.backup.dump import archive_name, write_archive
from formwarden.backup.policy import load_policy
from formwarden.backup.retention import to_prune
from formwarden.backup.targets import Target, TargetError, all_targets, sha256_file
from formwarden.config import instance_path
from formwarden.errors import Conflict, Forbidden, NotFound
from formwarden.forms.messages import N_
from formwarden.models import BackupCopy, BackupRun, utcnow

log = logging.getLogger(__name__)
ATTEMPTS = 3  # per target and run, a few seconds apart; a target still failing is retried later
ACTIVE = ("queued", "running")


def require(actor: Actor) -> None:
    if not has_perm(actor, Perm.BACKUPS):
        raise Forbidden("only backup administrators may do this", code="missing_permission")


def spool_dir() -> Path:
    path = instance_path() / "spool"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


# --- run rows -------------------------------------------------------------------------------

def new_run(kind: str, trigger: str, actor: Actor | None, params: dict | None = None) -> BackupRun:
    with db.write_transaction():  # one writer at a time: two clicks at the same moment make one run
        if trigger == "ui" and BackupRun.select().where(
                BackupRun.kind.in_(("backup", "restore", "restore_record") if kind != "drill" else ("drill",)),
                BackupRun.status.in_(ACTIVE)).exists():
            raise Conflict("a backup or restore is already waiting or running; wait for it to finish",
                           code="backup_busy")
        return BackupRun.create(job_id=secrets.token_hex(16), kind=kind, trigger=trigger,
                                started_by=actor.name if actor else "schedule",
                                requested_by_id=actor.user_id if actor else None, summary=json.dumps(params or {}))


def get_run(job_id: str) -> BackupRun:
    run = BackupRun.get_or_none(BackupRun.job_id == job_id)
    if run is None:
        raise NotFound("no such backup run", code="unknown_run")
    return run


def _update(run: BackupRun, **values) -> None:
    BackupRun.update(**values).where(BackupRun.id == run.id).execute()
    for k, v in values.items():
        setattr(run, k, v)


class ProgressWriter:
    """A progress callback whose writes to the run row come from a thread of its own: the dump
    and the restore hold one long transaction on this thread's connection, and the pages
    must see progress while it lasts. Writes at most twice a second, and once at the end."""

    def __init__(self, run: BackupRun, every: float = 0.5):
        self.run, self.every = run, every
        self.latest: dict = {}
        self._written: dict = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __call__(self, phase: str, done: int, total: int, written: int | None = None) -> None:
        values = {"phase": phase[:40], "done": done, "total": total}
        if written is not None:
            values["bytes_written"] = written
        self.latest = values

    def _flush(self) -> None:
        latest = self.latest
        if latest and latest != self._written:
            BackupRun.update(**latest).where(BackupRun.id == self.run.id).execute()
            self._written = latest

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.every):
                self._flush()
            self._flush()
        except Exception:  # progress is a courtesy: never let it stop the work
            log.exception("could not write progress of run %s", self.run.job_id)
        finally:
            db.drop_connection()

    def __enter__(self) -> ProgressWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        for k, v in self.latest.items():
            setattr(self.run, k, v)


def finish(run: BackupRun, status: str, message: str = "", *, code: str = "", **values) -> None:
    started = run.started_at or run.created_at
    _update(run, status=status, message=message[:2000], error_code=code[:40], finished_at=utcnow(),
            seconds=(utcnow() - started).total_seconds(), **values)


def claim(run: BackupRun) -> None:
    """Take `run` for this process: queued (or failed, when RQ retries it) → running, in one
    statement, so a worker and the CLI never both work on one run. From then on the run beats
    (a thread of this process) until it is no longer running."""
    now = utcnow()
    taken = BackupRun.update(status="running", started_at=now, heartbeat_at=now, phase="starting", message="").where(
        BackupRun.id == run.id, BackupRun.status.in_(("queued", "failed"))).execute()
    if taken != 1:
        raise Conflict("this run is already being worked on, or has finished", code="run_taken")
    run.status, run.phase = "running", "starting"
    threading.Thread(target=_beat, args=(run.id,), daemon=True, name=f"beat-{run.job_id}").start()


BEAT_EVERY = 10.0  # seconds between a running run's heartbeats
DEAD_AFTER = dt.timedelta(minutes=2)  # a running run silent this long belongs to a process that died


def _beat(run_id: int, every: float = BEAT_EVERY) -> None:
    """Refresh the run's heartbeat while it is running (stops by itself once it is not). A process
    killed half-way stops beating: reap_dead_runs then marks the run failed and cleans up."""
    try:
        while True:
            time.sleep(every)
            if not BackupRun.update(heartbeat_at=utcnow()).where(BackupRun.id == run_id,
                                                                 BackupRun.status == "running").execute():
                return
    except Exception:  # noqa: BLE001 - a heartbeat never takes the run down
        log.warning("run %s: heartbeat stopped", run_id, exc_info=True)
    finally:
        db.drop_connection()


def reap_dead_runs(now: dt.datetime | None = None) -> list[BackupRun]:
    """Mark failed every running run whose process stopped beating (killed, crashed, its machine
    gone), raise the alert, and remove what such runs leave: spool files and scratch copies.
    Called by the scheduler every minute."""
    now = now or utcnow()
    dead = list(BackupRun.select().where(BackupRun.status == "running", pw.fn.COALESCE(
        BackupRun.heartbeat_at, BackupRun.started_at, BackupRun.created_at) < now - DEAD_AFTER))
    for run in dead:
        finish(run, "failed", "the process running it stopped (killed or crashed): nothing it wrote counts",
               code="process_died")
        raise_alert("drill_failed" if run.kind == "drill" else "backup_failed", "backups",
                    N_("restore drill %(job)s stopped half-way: its process died") if run.kind == "drill"
                    else N_("backup %(job)s stopped half-way: its process died"), _responsible({"job": run.job_id[:8]}),
                    severity="critical", origin="backup")
    remove_leftovers()
    return dead


def remove_leftovers() -> int:
    """Spool files of runs no longer running, and scratch copies whose process is gone."""
    running = {r.job_id for r in BackupRun.select(BackupRun.job_id).where(BackupRun.status == "running")}
    gone = 0
    if not running:  # one run at a time: with none running, anything in the spool is left over
        for path in spool_dir().iterdir():
            if path.is_file():
                path.unlink(missing_ok=True)
                gone += 1
    restoring.remove_stale_scratch()
    return gone


# --- making a backup ------------------------------------------------------------------------

def run_backup(run: BackupRun, actor: Actor | None = None) -> BackupRun:
    """Write the archive, copy it to every target with read-back verification, prune. The run
    ends `done` only when every target holds a verified copy; `degraded` otherwise."""
    spool = spool_dir()
    name = ""
    try:
        targets = all_targets()
        claim(run)
        when = utcnow()
        partial = spool / f"{run.job_id}.partial"
        with ProgressWriter(run) as progress:
            manifest = write_archive(partial, on_progress=progress)
        name = archive_name(manifest["archive_id"], when)
        final = spool / name
        partial.rename(final)
        size, digest = sha256_file(final)
        _update(run, archive_id=manifest["archive_id"], archive_name=name, size=size, sha256=digest,
                summary=json.dumps(_summary(manifest)), phase="copying")
        results = {t.name: copy_to(t, final, name, manifest["archive_id"], size, digest) for t in targets}
        _update(run, targets=json.dumps(results))
        failed = [n for n, r in results.items() if r["status"] != "verified"]
        with db.write_transaction():
            record_event(actor or _actor_of(run), "backup_create", diff={
                "archive": [None, name], "size": [None, size], "sha256": [None, digest],
                "targets": [None, {n: r["status"] for n, r in results.items()}]})
        if failed:
            finish(run, "degraded", "no verified copy on: " + ", ".join(failed), code="targets_failed")
            raise_alert("backup_degraded", ",".join(failed)[:120],
                        N_("backup %(archive)s has no verified copy on %(targets)s; retrying"),
                        _responsible({"archive": name, "targets": failed}), origin="backup")
        else:
            finish(run, "done", f"{name}: {size} bytes on {len(results)} targets")
        for target in targets:
            if results[target.name]["status"] == "verified":
                prune(target)
        return run
    except Exception as exc:
        problem = exc.problem if isinstance(exc, ArchiveError) else str(exc) or type(exc).__name__
        if run.status not in ("degraded", "done"):
            finish(run, "failed", problem, code=exc.code if isinstance(exc, ArchiveError) else "backup_error")
            raise_alert("backup_failed", "backups", N_("backup failed: %(problem)s"), _responsible({"problem": problem}),
                        severity="critical", origin="backup")
        raise
    finally:
        for leftover in (spool / f"{run.job_id}.partial", spool / name if name else None):
            if leftover is not None:
                leftover.unlink(missing_ok=True)


def note_failure(actor: Actor, kind: str, params: dict, code: str) -> None:
    """A restore that was refused is an event too (who tried what, and why it failed)."""
    with db.write_transaction():
        record_event(actor, "backup_restore_failed", diff={
            "kind": [None, kind], "archive": [None, params.get("archive")], "target": [None, params.get("target")],
            "form": [None, params.get("form")], "record_id": [None, params.get("record_id")], "problem": [None, code]},
            reason=str(params.get("reason", ""))[:1000])


def note_log_export(actor: Actor) -> None:
    require(actor)
    with db.write_transaction():
        record_event(actor, "backup_log_export")


def _responsible(params: dict) -> dict:
    """A backup alert's params, naming the person responsible for backups if there is one (the
    alert then ends "(responsible: …)", see alerts.RESPONSIBLE)."""
    who = load_policy().responsible
    return {**params, "responsible": who} if who else params


def _actor_of(run: BackupRun) -> Actor:
    return Actor.system(f"backup:{run.trigger}")


def _summary(manifest: dict) -> dict:
    return {k: manifest[k] for k in ("counts", "forms", "audit", "created_at", "master_key_id", "keys_needed",
                                     "platform_version", "database")}


def copy_to(target: Target, local: Path, name: str, archive_id: str, size: int, digest: str) -> dict:
    """Put `local` on `target` and read it back; a few attempts. Records a BackupCopy when the
    stored size and SHA-256 match."""
    error = ""
    for attempt in range(ATTEMPTS):
        try:
            target.put(local, name)
            got = target.stat(name)
            if got != (size, digest):
                raise TargetError(f"read back {got[0]} bytes with another SHA-256")
            now = utcnow()
            updated = BackupCopy.update(status="verified", verified_at=now, size=size, sha256=digest).where(
                BackupCopy.target == target.name, BackupCopy.archive_id == archive_id).execute()
            if not updated:
                BackupCopy.create(archive_id=archive_id, archive_name=name, target=target.name, size=size,
                                  sha256=digest, verified_at=now)
            return {"status": "verified", "attempts": attempt + 1}
        except Exception as exc:  # any target failure: try again, then report it
            error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("backup copy to %s failed (attempt %d): %s", target.name, attempt + 1, error)
            time.sleep(min(2 ** attempt, 5))
    return {"status": "failed", "error": error}


def retry_copies(run: BackupRun) -> bool:
    """Copy a degraded run's archive to the targets that lack it, from a target that has it."""
    results = json.loads(run.targets or "{}")
    missing = [n for n, r in results.items() if r.get("status") != "verified"]
    if not missing:
        return True
    targets = {t.name: t for t in all_targets()}
    source = next((targets[n] for n, r in results.items() if r.get("status") == "verified" and n in targets), None)
    if source is None:
        return False
    local = spool_dir() / run.archive_name
    try:
        source.fetch(run.archive_name, local)
        for name in missing:
            if name in targets:
                results[name] = copy_to(targets[name], local, run.archive_name, run.archive_id, run.size, run.sha256)
    finally:
        local.unlink(missing_ok=True)
    ok = all(r.get("status") == "verified" for r in results.values())
    _update(run, targets=json.dumps(results))
    if ok:
        _update(run, status="done", message=f"{run.archive_name}: every target verified after a retry")
    return ok


def prune(target: Target, now: dt.datetime | None = None) -> list[str]:
    """Apply the retention policy to one target's verified copies (never the newest)."""
    policy = load_policy()
    copies = list(BackupCopy.select().where(BackupCopy.target == target.name, BackupCopy.status == "verified")
                  .order_by(BackupCopy.created_at.desc()))
    doomed = to_prune([(c.archive_name, c.created_at) for c in copies], policy, now or utcnow())
    for name in doomed:
        try:
            target.delete(name)
        except Exception:
            log.exception("could not prune %s from %s", name, target.name)
            continue
        BackupCopy.update(status="pruned", pruned_at=utcnow()).where(
            BackupCopy.target == target.name, BackupCopy.archive_name == name).execute()
    return doomed


# --- reading archives back ------------------------------------------------------------------

def newest_copy(target_name: str) -> BackupCopy | None:
    return (BackupCopy.select().where(BackupCopy.target == target_name, BackupCopy.status == "verified")
            .order_by(BackupCopy.created_at.desc()).first())


def local_archive(target: Target, name: str, into: Path) -> tuple[Path, bool]:
    """The archive as a local file, exactly as it was recorded when it was made: its own path on
    a directory target, else a download into `into` (the flag says whether the caller must
    remove it). A file that is missing, or was replaced by another archive or altered since
    (size, SHA-256), is refused before anyone reads it."""
    copy = BackupCopy.get_or_none(BackupCopy.target == target.name, BackupCopy.archive_name == name,
                                  BackupCopy.status == "verified")
    if copy is None:
        raise ArchiveError(f"{name} is not a verified archive on target {target.name}", "missing")
    path = target.local_path(name)
    temporary = path is None
    if path is None:
        path = into / f"{secrets.token_hex(8)}-{name}"
        target.fetch(name, path)
    elif not path.exists():
        raise ArchiveError(f"{name} is missing on target {target.name}", "missing")
    if sha256_file(path) != (copy.size, copy.sha256):
        if temporary:
            path.unlink(missing_ok=True)
        raise ArchiveError(f"{name} on {target.name} is not the file recorded when it was made (replaced or altered)",
                           "archive_replaced")
    return path, temporary


def drill(run: BackupRun, actor: Actor | None = None) -> dict:
    """Restore the newest archive of each target into a scratch database and verify it fully;
    record the measured time per target. A failure raises the drill_failed alert."""
    claim(run)
    results: dict = {}
    for target in all_targets():
        copy = newest_copy(target.name)
        if copy is None:
            results[target.name] = {"status": "no_archive"}
            continue
        _update(run, phase=f"drill:{target.name}")
        started = time.monotonic()
        try:
            path, temporary = local_archive(target, copy.archive_name, spool_dir())
            try:
                with restoring.open_archive(path) as opened:
                    with restoring.scratch_database() as url:
                        with ProgressWriter(run) as progress:
                            summary = restoring.check_in_scratch(opened, url, progress)
            finally:
                if temporary:
                    path.unlink(missing_ok=True)
            seconds = round(time.monotonic() - started, 2)
            results[target.name] = {"status": "passed", "archive": copy.archive_name, "seconds": seconds,
                                    "rows": summary["rows"]}
            BackupCopy.update(drill_status="passed", drill_seconds=seconds, drilled_at=utcnow()).where(
                BackupCopy.id == copy.id).execute()
        except Exception as exc:
            problem = exc.problem if isinstance(exc, ArchiveError) else f"{type(exc).__name__}: {exc}"
            results[target.name] = {"status": "failed", "archive": copy.archive_name, "error": problem[:300]}
            BackupCopy.update(drill_status="failed", drilled_at=utcnow()).where(BackupCopy.id == copy.id).execute()
            raise_alert("drill_failed", target.name,
                        N_("restore drill of %(archive)s on %(target)s failed: %(problem)s"),
                        _responsible({"archive": copy.archive_name, "target": target.name, "problem": problem}),
                        severity="critical", origin="drill")
    failed = [n for n, r in results.items() if r["status"] == "failed"]
    finish(run, "failed" if failed else "done", "", targets=json.dumps(results),
           code="drill_failed" if failed else "")
    with db.write_transaction():
        record_event(actor or _actor_of(run), "backup_drill", diff={
            name: [None, {k: r.get(k) for k in ("status", "archive", "seconds", "rows", "error") if k in r}]
            for name, r in results.items()})
    return results


def first_event_at():
    return db.py_datetime(db.fetchone("SELECT MIN(at) FROM audit_event")[0])


def is_stale(copy: BackupCopy | None, policy, first_event_at, now: dt.datetime) -> bool:
    """Older than the RPO, or no backup at all on an instance whose data is older than that
    (a brand-new instance has nothing to miss yet)."""
    limit = dt.timedelta(hours=policy.rpo_hours)
    if copy is None:
        return first_event_at is not None and now - first_event_at >= limit
    return now - copy.created_at > limit


def check_health(now: dt.datetime | None = None) -> list[str]:
    """Targets whose newest verified archive is older than the RPO (or that have none): each
    raises the backup_stale alert. Returns their names."""
    policy = load_policy()
    if not policy.enabled:
        return []
    now = now or utcnow()
    first = first_event_at()
    stale = []
    for target in all_targets():
        copy = newest_copy(target.name)
        if not is_stale(copy, policy, first, now):
            continue
        stale.append(target.name)
        if copy is None:
            words, params = N_("no verified backup on %(target)s yet (RPO %(rpo)s h)"), {}
        else:
            words = N_("newest verified backup on %(target)s: %(hours)s h ago (RPO %(rpo)s h)")
            params = {"hours": round((now - copy.created_at).total_seconds() / 3600)}
        raise_alert("backup_stale", target.name,
                    words, _responsible({**params, "target": target.name, "rpo": policy.rpo_hours}), origin="backup")
    return stale
