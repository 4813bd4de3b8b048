"""RQ entry point for CSV exports: load the run, act as the requesting user, call the service."""
from __future__ import annotations

import json
import logging

from formwarden.access.gate import access_fingerprint
from formwarden.auth.users import actor_for_job
from formwarden.config import load_settings
from formwarden.errors import DomainError
from formwarden.forms import versions
from formwarden.jobs.runs import finish, get_run, progress
from formwarden.models import JobRun
from formwarden.records.export import FORMATS, export_csv, remove_expired
from formwarden.records.query import ListQuery

log = logging.getLogger(__name__)


def run_export(job_id: str) -> int:
    run = get_run(job_id)
    params = json.loads(run.params)
    log.info("export %s started", job_id)
    try:
        actor = actor_for_job(run.requested_by_id, params.get("origin") or {}, job_id)
    except DomainError as exc:
        finish(run, status="failed", message=exc.message)
        return 0
    out_dir = load_settings().exports_dir
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    remove_expired(out_dir)
    fmt = params.get("format") if params.get("format") in FORMATS else "csv"
    path = out_dir / f"{job_id}.{fmt}"
    q = ListQuery(filters=[(k, v) for k, v in params.get("filters", [])], search=params.get("search") or "",
                  search_in=params.get("search_in") or "",
                  ranges=[(f, lo, hi) for f, lo, hi in params.get("ranges", [])])
    progress(run, 0, 0)
    try:
        count = export_csv(actor, params["form"], q, path, on_progress=lambda d, t: progress(run, d, t), fmt=fmt,
                           base_url=params.get("base_url") or "")
    except DomainError as exc:
        finish(run, status="failed", message=exc.message)
        log.warning("export %s refused: %s", job_id, exc.code)
        return 0
    except Exception:
        finish(run, status="failed", message="the export failed; nothing was written")
        log.exception("export %s failed", job_id)
        raise
    params["made_under"] = access_fingerprint(actor, versions.current(params["form"])[1])
    JobRun.update(params=json.dumps(params)).where(JobRun.id == run.id).execute()
    finish(run, status="done", result_path=str(path), message=f"{count}")
    log.info("export %s wrote %d records", job_id, count)
    return count
