"""RQ entry point for CSV imports: act as the uploading user, check every row, write all or none.

The upload waits encrypted (it may hold restricted values) and is removed when the job ends,
whatever the outcome."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from formwarden.auth.users import actor_for_job
from formwarden.errors import DomainError
from formwarden.forms import versions
from formwarden.jobs.runs import finish, get_run, progress
from formwarden.records.bulk import MAX_IMPORT_ERRORS, import_rows, parse_upload, read_upload

log = logging.getLogger(__name__)


def run_import(job_id: str) -> int:
    run = get_run(job_id)
    params = json.loads(run.params)
    path = Path(params["path"])
    try:
        try:
            actor = actor_for_job(run.requested_by_id, params.get("origin") or {}, job_id)
        except DomainError as exc:
            finish(run, status="failed", message=json.dumps([{"field": "", "code": exc.code,
                                                              "message": exc.message}]))
            return 0
        _, formdef = versions.current(params["form"])
        progress(run, 0, 0)
        try:
            parsed = parse_upload(formdef, read_upload(path))
            count = import_rows(actor, params["form"], parsed.rows, source=params.get("name", ""),
                                on_progress=lambda d, t: progress(run, d, t), numbers=parsed.numbers,
                                problems=parsed.problems)
        except DomainError as exc:
            details = exc.details or [{"field": exc.field or "", "code": exc.code, "message": exc.message}]
            finish(run, status="failed", message=json.dumps(details[:MAX_IMPORT_ERRORS], ensure_ascii=False))
            log.warning("import %s refused: %s", job_id, exc.code)
            return 0
        finish(run, status="done", message=str(count))
        log.info("import %s created %d records", job_id, count)
        return count
    except Exception:
        finish(run, status="failed", message="the import failed; nothing was written")
        log.exception("import %s failed", job_id)
        raise
    finally:
        path.unlink(missing_ok=True)
