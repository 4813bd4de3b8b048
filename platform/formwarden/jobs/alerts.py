"""RQ entry points for the anomaly scan and the audit checkpoint, both enqueued by the cron
scheduler (jobs/cron.py): evaluate new audit events, deliver alerts to the sinks, keep the
field index up to date, and sign the verified head. A lock in Redis keeps two scans (or two
checkpoints) from running at once when a slow one overlaps the next."""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from contextlib import contextmanager

from rq import get_current_job

from formwarden.audit.alerts import chain_broken, deliver, scan_pending
from formwarden.audit.field_index import index_pending
from formwarden.audit.verify import extend_checkpoint

log = logging.getLogger(__name__)


CHECKPOINT_EVERY = dt.timedelta(minutes=5)
SCAN_LOCK = "formwarden:alert-scan-running"
CHECKPOINT_LOCK = "formwarden:checkpoint-running"


def checkpoint_now() -> list:
    """Verify the events since the newest signed checkpoint and sign the new head; a broken
    chain raises an alert."""
    report = extend_checkpoint()
    if report.finding is None:
        return []
    log.error("audit chain check failed: %s", report.finding)
    return [chain_broken(report.finding.problem, report.finding.seq)]


@contextmanager
def _exclusive(name: str, seconds: int):
    """Run the block unless another process holds `name` (yields False then)."""
    job = get_current_job()
    conn = job.connection if job is not None else None
    token = uuid.uuid4().hex
    if conn is not None and not conn.set(name, token, nx=True, ex=seconds):
        yield False
        return
    try:
        yield True
    finally:
        if conn is not None and conn.get(name) in (token, token.encode()):
            conn.delete(name)


def run_alert_scan() -> int:
    with _exclusive(SCAN_LOCK, 600) as mine:
        if not mine:
            return 0
        alerts, _caught_up = scan_pending()
        index_pending()  # the audit search's field index follows the same events
        deliver(alerts)
        return len(alerts)


def run_checkpoint() -> int:
    with _exclusive(CHECKPOINT_LOCK, 1800) as mine:
        if not mine:
            return 0
        return len(checkpoint_now())  # a broken chain's alert is delivered as it is raised
