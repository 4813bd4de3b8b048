"""Who watches the watchers: the scheduler (`formwarden cron`) and the workers check each other.

The scheduler's leader, every minute: marks failed the backup runs whose process stopped
beating (backup/service.py reap_dead_runs) and raises `worker_down` when no worker has reported
for a few minutes. Each worker, at its maintenance step: raises `scheduler_down` when the
scheduler has not reported for a few minutes. Both alerts only after the other side has been
seen once on this Redis (a test or a CLI run without them raises nothing)."""
from __future__ import annotations

import logging
import time

from rq import Worker
from rq.cron_scheduler_registry import get_registry_key

from formwarden.audit.alerts import raise_alert
from formwarden.backup.service import reap_dead_runs
from formwarden.forms.messages import N_

log = logging.getLogger(__name__)
SILENT_AFTER = 180  # seconds without a heartbeat before the other side is said to be down
CRON_SEEN = "formwarden:cron-seen"
WORKER_SEEN = "formwarden:worker-seen"
_last_watch = 0.0


def watch_workers(conn, every: float = 60.0) -> None:
    """The scheduler leader's minute check (throttled to `every` seconds per process)."""
    global _last_watch
    if time.monotonic() - _last_watch < every:
        return
    _last_watch = time.monotonic()
    try:
        reap_dead_runs()
    except Exception:  # noqa: BLE001 - the scheduler keeps scheduling whatever this finds
        log.exception("could not reap dead backup runs")
    if not conn.get(WORKER_SEEN):
        return
    cutoff = time.time() - SILENT_AFTER
    alive = [w for w in Worker.all(connection=conn)
             if w.last_heartbeat is not None and w.last_heartbeat.timestamp() > cutoff]
    if not alive:
        raise_alert("worker_down", "workers", N_("no worker has reported for %(minutes)s minutes: queued jobs (alert "
                                                 "scans, checkpoints, backups, exports) are not running"),
                    {"minutes": SILENT_AFTER // 60}, severity="critical", origin="cron")


def note_worker(conn) -> None:
    conn.set(WORKER_SEEN, "1")


def note_scheduler(conn) -> None:
    conn.set(CRON_SEEN, "1")


def watch_scheduler(conn) -> None:
    """A worker's maintenance check: the scheduler reported within SILENT_AFTER seconds."""
    if not conn.get(CRON_SEEN):
        return
    newest = conn.zrange(get_registry_key(), -1, -1, withscores=True)
    if not newest or newest[0][1] < time.time() - SILENT_AFTER:
        raise_alert("scheduler_down", "scheduler", N_("the scheduler (formwarden cron) has not reported for "
                                                      "%(minutes)s minutes: no alert scan, checkpoint, backup or "
                                                      "drill is started"),
                    {"minutes": SILENT_AFTER // 60}, severity="critical", origin="worker")
