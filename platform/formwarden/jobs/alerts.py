"""RQ entry point for the anomaly scan: evaluate new audit events, deliver alerts to the sinks,
and schedule the next scan. One chain of scans runs per Redis: the marker key holds the chain's
token; a scan whose token is not the marker's stops instead of re-scheduling, and a worker
starts a new chain only when the marker has expired (no scan for a minute)."""
from __future__ import annotations

import datetime as dt
import json
import logging
import uuid

from rq import get_current_job

from formwarden.audit.alerts import chain_broken, scan_pending
from formwarden.audit.field_index import index_pending
from formwarden.audit.verify import extend_checkpoint
from formwarden.jobs.queue import get_queue
from formwarden.plugins.loader import alert_sinks

log = logging.getLogger(__name__)
FUNC = "formwarden.jobs.alerts.run_alert_scan"
INTERVAL = dt.timedelta(seconds=15)
MARKER = "formwarden:alert-scan-chain"


def as_dict(alert) -> dict:
    return {"id": alert.id, "rule": alert.rule, "subject": alert.subject, "severity": alert.severity,
            "summary": alert.summary, "status": alert.status, "count": alert.count,
            "first_seq": alert.first_seq, "last_seq": alert.last_seq, "details": json.loads(alert.details)}


def deliver(alerts) -> int:
    """Hand each alert to every sink; a failing sink is logged and does not stop the others."""
    delivered = 0
    for alert in alerts:
        for sink in alert_sinks:
            try:
                sink(as_dict(alert))
                delivered += 1
            except Exception:
                log.exception("alert sink %s failed for alert %s", getattr(sink, "__name__", sink), alert.id)
    return delivered


TTL = int(INTERVAL.total_seconds() * 4)


CHECKPOINT_EVERY = dt.timedelta(minutes=5)
CHECKPOINT_DUE = "formwarden:checkpoint-due"


def checkpoint_if_due(conn) -> list:
    """Every CHECKPOINT_EVERY (once per Redis, whichever worker gets there): verify the events
    since the newest signed checkpoint and sign the new head; a broken chain raises an alert."""
    if conn is not None and not conn.set(CHECKPOINT_DUE, "1", nx=True, ex=int(CHECKPOINT_EVERY.total_seconds())):
        return []
    report = extend_checkpoint()
    if report.finding is None:
        return []
    log.error("audit chain check failed: %s", report.finding)
    return [chain_broken(report.finding.problem, report.finding.seq)]


def run_alert_scan(chain: str = "") -> int:
    alerts, caught_up = scan_pending()
    index_pending()  # the audit search's field index follows the same events
    job = get_current_job()
    alerts += checkpoint_if_due(job.connection if job is not None else None)
    deliver(alerts)
    if job is not None and chain:  # in a worker: keep this chain going unless another one took over
        conn = job.connection
        conn.set(MARKER, chain, nx=True, ex=TTL)
        holder = conn.get(MARKER)
        if (holder.decode() if isinstance(holder, bytes) else holder) == chain:
            conn.expire(MARKER, TTL)
            queue, job_id = get_queue("default", conn), f"alert-scan-{uuid.uuid4().hex}"
            if caught_up:
                queue.enqueue_in(INTERVAL, FUNC, chain, job_id=job_id)
            else:  # still behind: go on at once
                queue.enqueue(FUNC, chain, job_id=job_id)
    return len(alerts)


def start_chain(conn) -> bool:
    """Queue a first scan unless a chain is already running (called when a worker starts)."""
    chain = uuid.uuid4().hex
    if not conn.set(MARKER, chain, nx=True, ex=TTL):
        return False
    get_queue("default", conn).enqueue(FUNC, chain, job_id=f"alert-scan-{uuid.uuid4().hex}")
    return True
