"""What the backup pages show, as plain data: targets and their health, archives, the log,
previews. Every function needs Perm.BACKUPS."""
from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import asdict

from peewee import fn

from formwarden.access.actor import Actor
from formwarden.arguments import SafeCsvWriter
from formwarden.backup import restore as restoring
from formwarden.backup.archive import ArchiveError
from formwarden.backup.policy import load_policy, next_run
from formwarden.backup.service import first_event_at, is_stale, newest_copy, require
from formwarden.backup.targets import ARCHIVE_NAME, TargetError, all_targets, by_name
from formwarden.config import instance_path
from formwarden.crypto.kit import kit_status
from formwarden.errors import NotFound
from formwarden.forms.versions import RESTORE_EPOCH
from formwarden.models import BackupCopy, BackupRun, Form, Record, Setting, User, utcnow


def _hours(when) -> float | None:
    return round((utcnow() - when).total_seconds() / 3600, 1) if when else None


def dashboard(actor: Actor) -> dict:
    require(actor)
    policy = load_policy()
    first_event = first_event_at()
    targets, problem = [], ""
    try:
        configured = all_targets()
    except TargetError as exc:
        configured, problem = [], str(exc)
    recent = [json.loads(r.targets or "{}") for r in BackupRun.select(BackupRun.targets)
              .where(BackupRun.kind == "backup").order_by(BackupRun.id.desc()).limit(20)]
    for target in configured:
        newest = newest_copy(target.name)
        drilled = (BackupCopy.select().where(BackupCopy.target == target.name, BackupCopy.drill_status != "")
                   .order_by(BackupCopy.drilled_at.desc()).first())
        failures = sum(1 for r in recent if r.get(target.name, {}).get("status") == "failed")
        age = _hours(newest.created_at) if newest else None
        targets.append({
            "name": target.name, "where": target.describe(),
            "newest": newest.archive_name if newest else "", "age_hours": age,
            "stale": is_stale(newest, policy, first_event, utcnow()),
            "drill_status": drilled.drill_status if drilled else "", "drill_seconds": drilled.drill_seconds if drilled else None,
            "drilled_at": drilled.drilled_at if drilled else None, "recent_failures": failures,
            "archives": [_copy(c) for c in BackupCopy.select().where(BackupCopy.target == target.name,
                                                                      BackupCopy.status == "verified")
                         .order_by(BackupCopy.created_at.desc()).limit(60)],
        })
    active = BackupRun.select().where(BackupRun.status.in_(("queued", "running"))).order_by(BackupRun.id.desc()).first()
    responsible = User.get_or_none(User.username == policy.responsible) if policy.responsible else None
    return {
        "policy": asdict(policy), "responsible_name": (responsible.display_name or responsible.username) if responsible else "",
        "targets": targets, "target_problem": problem, "active": run_dict(active) if active else None,
        "runs": [run_dict(r) for r in BackupRun.select().order_by(BackupRun.id.desc()).limit(30)],
        "kit": kit_status(instance_path()),
        "next_backup": next_run(policy.schedule, utcnow()) if policy.enabled else None,
        "next_drill": next_run(policy.drill_schedule, utcnow()),
    }


def _copy(c: BackupCopy) -> dict:
    return {"name": c.archive_name, "archive_id": c.archive_id, "size": c.size, "created_at": c.created_at,
            "verified_at": c.verified_at, "drill_status": c.drill_status, "drill_seconds": c.drill_seconds,
            "age_hours": _hours(c.created_at)}


def run_dict(run: BackupRun) -> dict:
    percent = int(100 * run.done / run.total) if run.total else (100 if run.status == "done" else 0)
    return {"job_id": run.job_id, "kind": run.kind, "trigger": run.trigger, "started_by": run.started_by,
            "status": run.status, "phase": run.phase, "error_code": run.error_code,
            "params": json.loads(run.summary or "{}") if run.kind.startswith("restore") else {}, "done": run.done, "total": run.total, "percent": percent,
            "bytes": run.bytes_written, "archive": run.archive_name, "size": run.size, "message": run.message,
            "seconds": run.seconds, "created_at": run.created_at, "finished_at": run.finished_at,
            "targets": json.loads(run.targets or "{}")}


def get_run_view(actor: Actor, job_id: str) -> dict:
    require(actor)
    run = BackupRun.get_or_none(BackupRun.job_id == job_id)
    if run is None:
        raise NotFound("no such backup run", code="unknown_run")
    return run_dict(run)


def archive_preview(actor: Actor, target_name: str, name: str) -> dict:
    """The archive's manifest: read from the file itself on a directory target (authenticated),
    else the summary recorded when it was made."""
    require(actor)
    if not ARCHIVE_NAME.match(name):
        raise NotFound("no such archive", code="unknown_archive")
    copy = BackupCopy.get_or_none(BackupCopy.target == target_name, BackupCopy.archive_name == name)
    try:
        target = by_name(target_name)
    except TargetError:
        raise NotFound("no such backup target", code="unknown_target") from None
    if copy is None:
        raise NotFound("no such archive", code="unknown_archive")
    path = target.local_path(name)
    info: dict = {"target": target_name, "name": name, "size": copy.size, "created_at": copy.created_at,
                  "drill_status": copy.drill_status, "drill_seconds": copy.drill_seconds, "problem": ""}
    if path is not None:
        try:
            info.update(restoring.preview(path))
            if info.get("archive_id") != copy.archive_id or info["size"] != copy.size:
                raise ArchiveError("the file is not the one recorded when it was made (replaced or altered)",
                                   "archive_replaced")
        except ArchiveError as exc:
            info["problem"], info["problem_code"] = exc.problem, exc.code
            info.pop("counts", None)
    else:
        run = BackupRun.get_or_none(BackupRun.archive_id == copy.archive_id, BackupRun.kind == "backup")
        info.update(json.loads(run.summary) if run else {})
        info["missing_keys"] = restoring.missing_keys(info)
    info["short_id"] = copy.archive_id[:8]
    info["now"] = live_counts()
    return info


def live_counts() -> dict[str, dict[str, int]]:
    """Records per form now (live and in the recycle bin), to set beside an archive's counts."""
    out: dict[str, dict[str, int]] = {}
    query = (Record.select(Form.key, Record.deleted_at.is_null(False), fn.COUNT(Record.id))
             .join(Form).group_by(Form.key, Record.deleted_at.is_null(False)).tuples())
    rows: list[tuple] = list(query)  # type: ignore[arg-type]
    for key, deleted, n in rows:
        out.setdefault(key, {"records": 0, "deleted": 0})["deleted" if deleted else "records"] += n
    return out


def recent_restore(hours: int = 2) -> bool:
    """Whether the data was restored from a backup within `hours` (the sign-in page says why
    everyone was signed out). Public: it tells no more than that."""
    row = Setting.get_or_none(Setting.key == RESTORE_EPOCH)
    if row is None or ":" not in row.value:
        return False
    try:
        when = dt.datetime.fromisoformat(row.value.split(":", 1)[1])
    except ValueError:
        return False
    return utcnow() - when < dt.timedelta(hours=hours)


LOG_COLUMNS = ("started", "kind", "started_by", "trigger", "status", "archive", "bytes", "targets", "seconds", "message")


def log_csv(actor: Actor) -> str:
    require(actor)
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(LOG_COLUMNS)
    for r in BackupRun.select().order_by(BackupRun.id.desc()):
        targets = json.loads(r.targets or "{}")
        writer.writerow([r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.kind, r.started_by, r.trigger, r.status,
                         r.archive_name, r.size, " ".join(f"{k}:{v.get('status')}" for k, v in targets.items()),
                         f"{r.seconds:.1f}" if r.seconds is not None else "", r.message.replace("\n", " ")[:300]])
    return out.getvalue()
