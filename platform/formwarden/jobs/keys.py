"""RQ entry point for re-sealing restricted values after a field-key rotation (resumable)."""
from __future__ import annotations

import json
import logging

from formwarden.access.actor import Actor
from formwarden.jobs.runs import finish, get_run, progress
from formwarden.models import JobRun, Record
from formwarden.records.reseal import pending_forms, reseal_batch

log = logging.getLogger(__name__)


def run_reseal(job_id: str) -> int:
    """Walk every form with restricted fields; the position is saved after each batch, so a
    run that stops (crash, deploy) continues from there when started again."""
    run = get_run(job_id)
    params = json.loads(run.params)
    position = params.get("position", {})
    actor = Actor.system("reseal")
    total = Record.select().count()
    done = sum(position.get("seen", {}).values())
    changed_total = params.get("changed", 0)
    log.info("reseal %s started at %s", job_id, position)
    try:
        for form, formdef, names in pending_forms():
            after = position.get("after", {}).get(form.key, 0)
            while True:
                after, seen, changed = reseal_batch(actor, form, formdef, names, after)
                if not seen:
                    break
                done += seen
                changed_total += changed
                position.setdefault("after", {})[form.key] = after
                seen_by_form = position.setdefault("seen", {})
                seen_by_form[form.key] = seen_by_form.get(form.key, 0) + seen
                params.update(position=position, changed=changed_total)
                JobRun.update(params=json.dumps(params)).where(JobRun.id == run.id).execute()
                progress(run, done, total)
    except Exception:
        finish(run, status="failed", message="re-sealing stopped; start it again to resume")
        log.exception("reseal %s failed", job_id)
        raise
    finish(run, status="done", message=f"{changed_total} records re-sealed")
    log.info("reseal %s done: %d records re-sealed", job_id, changed_total)
    return changed_total
