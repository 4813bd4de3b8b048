"""Queueing background jobs from a request (pages and API share it), and who may see a run."""
from __future__ import annotations

from flask import current_app

from formwarden.access.permissions import Perm, has_perm
from formwarden.errors import NotFound
from formwarden.http.context import actor
from formwarden.jobs import queue as job_queue
from formwarden.jobs.backups import submit as submit_backup
from formwarden.jobs.runs import get_run, submit


def _connection():
    conn = current_app.extensions.get("formwarden_redis")
    if conn is None:
        conn = current_app.extensions["formwarden_redis"] = job_queue.connection(current_app.config["FORMWARDEN"])
    return conn


def submit_job(kind, func, queue, requested_by, params):
    return submit(_connection(), kind, func, queue=queue, requested_by=requested_by, params=params)


def own_run(job_id: str):
    """A run the current user started (administrators see all); others look like "not found"."""
    run = get_run(job_id)
    who = actor()
    if run.requested_by_id != who.user_id and not has_perm(who, Perm.USERS_MANAGE):
        raise NotFound("no such job", code="unknown_job")
    return run


def submit_backup_job(kind: str, params: dict | None = None):
    """Queue a backup, drill or restore as the current user (who needs the backups permission)."""
    return submit_backup(_connection(), kind, "ui", actor(), params)
