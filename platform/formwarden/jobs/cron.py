"""Everything periodic runs from one place: RQ's CronScheduler (`formwarden cron`, started by
`formwarden serve`). It only enqueues; workers run the jobs.

    every 15 s      the anomaly scan (and the audit search's field index)        queue default
    every 5 min     a signed audit checkpoint                                    queue default
    every 10 min    backup health: a target without a backup newer than the RPO queue default
    every hour      accounts expiring soon; uploads no record took within a day  queue default
    policy cron     a full backup (backup policy, default 02:00 daily)           queue backups
    policy cron     a restore drill of each target's newest archive              queue backups

Several `formwarden cron` processes may run (one per host, say): only the holder of a lock in
Redis enqueues, the others stand by and take over within a minute if it stops, so no periodic
job is enqueued twice. The backup schedules follow policy changes within a minute."""
from __future__ import annotations

import datetime as dt
import logging
import socket
import time
import uuid

import redis
from rq.cron import CronJob, CronScheduler
from rq.exceptions import StopRequested
from rq.utils import now as now_utc

from formwarden import db
from formwarden.backup.policy import load_policy, next_run
from formwarden.jobs.health import note_scheduler, watch_workers
from formwarden.jobs.queue import get_queue

log = logging.getLogger(__name__)
LEADER = "formwarden:cron-leader"
LEADER_TTL = 90


class JsonCronJob(CronJob):
    """A cron job enqueued with the JSON serializer, like every Formwarden job; a cron schedule
    is read in the instance's time zone (RQ reads it in the server's)."""

    def get_next_enqueue_time(self) -> dt.datetime:
        if not self.cron:
            return super().get_next_enqueue_time()
        after = self.latest_enqueue_time or now_utc()
        return next_run(self.cron, after).replace(tzinfo=dt.UTC)

    def enqueue(self, connection):
        job = get_queue(self.queue_name, connection).enqueue(
            self.func_name, args=self.args, kwargs=self.kwargs, job_id=f"cron-{self.name}-{uuid.uuid4().hex[:12]}",
            **self.job_options)
        log.info("enqueued %s on %s", self.name, self.queue_name)
        return job


PERIODIC = (
    # name, function, queue, seconds, timeout
    ("alert-scan", "formwarden.jobs.alerts.run_alert_scan", "default", 15, 600),
    ("audit-checkpoint", "formwarden.jobs.alerts.run_checkpoint", "default", 300, 1800),
    ("backup-health", "formwarden.jobs.backups.health_check", "default", 600, 300),
    ("account-check", "formwarden.jobs.accounts.check_accounts", "default", 3600, 300),
    ("upload-prune", "formwarden.jobs.files.prune_uploads", "default", 3600, 300),
)
SCHEDULED = (
    ("backup", "formwarden.jobs.backups.scheduled_backup", "schedule"),
    ("restore-drill", "formwarden.jobs.backups.scheduled_drill", "drill_schedule"),
)


class Scheduler(CronScheduler):
    def __init__(self, connection, **kw):
        super().__init__(connection, **kw)
        self.identity = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self._schedules: dict[str, str] = {}
        for name, func, queue, seconds, timeout in PERIODIC:
            self._add(JsonCronJob(queue_name=queue, func_name=func, name=name, interval=seconds, job_timeout=timeout,
                                  result_ttl=600, failure_ttl=86400))
        self.follow_policy()

    def _add(self, job: CronJob) -> None:
        self._cron_jobs = [j for j in self._cron_jobs if j.name != job.name] + [job]

    def follow_policy(self) -> None:
        """(Re)register the backup and drill jobs when the policy's schedules changed."""
        try:
            db.ensure_connection()
            policy = load_policy()
        except Exception:
            log.exception("could not read the backup policy; keeping the current schedules")
            return
        for name, func, attribute in SCHEDULED:
            cron = getattr(policy, attribute)
            if self._schedules.get(name) == cron:
                continue
            try:
                job = JsonCronJob(queue_name="backups", func_name=func, name=name, cron=cron, job_timeout=6 * 3600,
                                  result_ttl=86400, failure_ttl=7 * 86400)
            except Exception:  # a schedule that never fires must not stop the other periodic work
                log.exception("%s: cannot schedule %r; keeping the previous schedule", name, cron)
                self._schedules[name] = cron
                continue
            self._add(job)
            self._schedules[name] = cron
            log.info("%s runs on cron %r", name, cron)

    def is_leader(self) -> bool:
        conn = self.connection
        if conn.set(LEADER, self.identity, nx=True, ex=LEADER_TTL):
            return True
        holder = conn.get(LEADER)
        if (holder.decode() if isinstance(holder, bytes) else holder) == self.identity:
            conn.expire(LEADER, LEADER_TTL)
            return True
        return False

    def _enqueue_jobs(self):
        self.follow_policy()
        if not self.is_leader():
            return []
        done = []
        for job in list(self._cron_jobs):  # one failing job (enqueue, next time) never stops the others
            try:
                if job.should_run():
                    job.enqueue(self.connection)
                    job.set_enqueue_time(now_utc())
                    done.append(job)
            except Exception:
                log.exception("cron job %s failed to enqueue or to compute its next time", job.name)
                job.next_enqueue_time = now_utc() + dt.timedelta(minutes=10)
        return done

    def calculate_sleep_interval(self) -> float:
        return min(super().calculate_sleep_interval(), 30.0)  # policy changes and leadership are checked often

    def step_down(self) -> None:
        holder = self.connection.get(LEADER)
        if (holder.decode() if isinstance(holder, bytes) else holder) == self.identity:
            self.connection.delete(LEADER)

    def register_death(self, pipeline=None) -> None:
        try:
            self.step_down()
            super().register_death(pipeline)
        except redis.RedisError:  # going down because Redis went away: nothing to unregister from
            log.warning("cron: could not unregister from Redis")

    def register_birth(self) -> None:
        super().register_birth()
        note_scheduler(self.connection)

    def enqueue_jobs(self):
        done = self._enqueue_jobs()
        if self.is_leader():
            watch_workers(self.connection)
        return done


def run_cron(conn, *, retry_max: float = 30.0, sleep=time.sleep) -> None:
    """Run the scheduler until a signal stops it. Redis going away (a restart, a failover) does not
    end it: it waits (1 s, 2 s … at most `retry_max`) and starts again, so no periodic check,
    backup or drill stops until someone notices."""
    delay = 1.0
    while True:
        started = time.monotonic()
        try:
            Scheduler(conn).start()
            return  # stopped by SIGINT / SIGTERM
        except (StopRequested, KeyboardInterrupt):
            return
        except redis.RedisError as exc:
            if time.monotonic() - started > 120:
                delay = 1.0  # it ran a while: a new outage starts with a short wait
            log.warning("cron: Redis is unreachable (%s: %s); trying again in %.0f s", type(exc).__name__, exc, delay)
            try:
                sleep(delay)
            except (StopRequested, KeyboardInterrupt):
                return
            delay = min(delay * 2, retry_max)
