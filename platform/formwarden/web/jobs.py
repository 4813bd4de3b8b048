"""Background work started from pages: CSV export, its progress page (polled) and download."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, redirect, request, send_file, url_for

from formwarden.access.permissions import Perm, has_perm
from formwarden.errors import NotFound
from formwarden.http.context import actor
from formwarden.http.guard import requires
from formwarden.http.rendering import page_or_block
from formwarden.jobs import queue as job_queue
from formwarden.jobs.runs import get_run, submit
from formwarden.records.export import request_export
from formwarden.records.query import from_args

bp = Blueprint("jobs", __name__)


def _connection():
    conn = current_app.extensions.get("formwarden_redis")
    if conn is None:
        conn = current_app.extensions["formwarden_redis"] = job_queue.connection(current_app.config["FORMWARDEN"])
    return conn


def _submit(kind, func, queue, requested_by, params):
    return submit(_connection(), kind, func, queue=queue, requested_by=requested_by, params=params)


def _own_run(job_id: str):
    run = get_run(job_id)
    who = actor()
    if run.requested_by_id != who.user_id and not has_perm(who, Perm.USERS_MANAGE):
        raise NotFound("no such job", code="unknown_job")
    return run


@bp.route("/f/<form_key>/export", methods=["POST"])
@requires(Perm.RECORDS)
def start_export(form_key):
    job_id = request_export(actor(), form_key, from_args(request.form), _submit)
    return redirect(url_for("jobs.show", job_id=job_id))


@bp.route("/jobs/<job_id>")
@requires(Perm.ACCOUNT)
def show(job_id):
    run = _own_run(job_id)
    percent = int(100 * run.progress / run.total) if run.total else (100 if run.status == "done" else 0)
    return page_or_block("jobs/show.html", "progress", run=run, percent=percent)


@bp.route("/jobs/<job_id>/download")
@requires(Perm.ACCOUNT)
def download(job_id):
    run = _own_run(job_id)
    if run.status != "done" or not run.result_path or not Path(run.result_path).exists():
        raise NotFound("the file is not ready", code="not_ready")
    return send_file(run.result_path, mimetype="text/csv", as_attachment=True,
                     download_name=f"{run.kind}-{run.created_at:%Y%m%d-%H%M}.csv")


