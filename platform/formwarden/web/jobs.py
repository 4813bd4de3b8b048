"""Background work started from pages: CSV export and import, their progress page (polled)
and the export download."""
from __future__ import annotations

import io
import json

from flask import Blueprint, Response, current_app, redirect, render_template, request, send_file, url_for

from formwarden.access import gate
from formwarden.access.permissions import Perm
from formwarden.arguments import SafeCsvWriter
from formwarden.config import public_url
from formwarden.errors import DomainError, NotFound
from formwarden.forms import versions
from formwarden.http.context import actor
from formwarden.http.errors import page_message, translate_details
from formwarden.http.guard import accepts_upload, requires
from formwarden.http.i18n import current_locale, local_time
from formwarden.http.jobs import own_run, submit_job
from formwarden.http.rendering import page_or_block
from formwarden.records.bulk import MAX_IMPORT_ROWS, request_import
from formwarden.records.export import FORMATS, open_export, request_export
from formwarden.records.query import from_args

bp = Blueprint("jobs", __name__)


@bp.route("/f/<form_key>/export", methods=["POST"])
@requires(Perm.RECORDS)
def start_export(form_key):
    job_id = request_export(actor(), form_key, from_args(request.form), submit_job,
                            fmt=request.form.get("format") or "csv", base_url=public_url() or request.url_root)
    return redirect(url_for("jobs.show", job_id=job_id))


def _import_columns(form_key):
    """The form and the fields the user may fill by import, in the form's layout order."""
    formdef = versions.current(form_key)[1]
    who = actor()
    gate.require(who, formdef, "create")
    writable = set(gate.writable_fields(who, formdef, "create"))
    return formdef, [formdef.fields[n] for section in formdef.sections for n in section.fields if n in writable]


def _import_page(form_key, error=None, status=200):
    formdef, columns = _import_columns(form_key)
    return render_template("jobs/import.html", formdef=formdef, columns=columns, error=error,
                           max_rows=MAX_IMPORT_ROWS), status


@bp.route("/f/<form_key>/import", methods=["GET", "POST"])
@requires(Perm.RECORDS)
@accepts_upload
def start_import(form_key):
    if request.method == "GET":
        return _import_page(form_key)
    upload = request.files.get("file")
    try:
        job_id = request_import(actor(), form_key, upload.filename if upload else "",
                                upload.read() if upload else b"", current_app.config["FORMWARDEN"].imports_dir,
                                submit_job)
    except DomainError as exc:
        if exc.status == 403:
            raise
        return _import_page(form_key, error=page_message(exc), status=exc.status)
    return redirect(url_for("jobs.show", job_id=job_id))


@bp.route("/f/<form_key>/import/template.csv")
@requires(Perm.RECORDS)
def import_template(form_key):
    """An empty CSV with the columns the user may fill, labelled in the page's language."""
    formdef, columns = _import_columns(form_key)
    out = io.StringIO()
    SafeCsvWriter(out).writerow([fd.label(current_locale()) for fd in columns])
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={formdef.key}-import.csv"})


def run_errors(run) -> list[dict]:
    """The problems a failed import stored (row, field, message), in the viewer's language."""
    if run.kind != "import" or run.status != "failed":
        return []
    try:
        details = json.loads(run.message or "[]")
    except ValueError:
        return [{"field": "", "message": run.message}]
    return translate_details(details) if isinstance(details, list) else []


@bp.route("/jobs/<job_id>")
@requires(Perm.ACCOUNT)
def show(job_id):
    run = own_run(job_id)
    percent = int(100 * run.progress / run.total) if run.total else (100 if run.status == "done" else 0)
    params = json.loads(run.params or "{}")
    errors = run_errors(run)
    if errors and params.get("form"):
        fields = versions.current(params["form"])[1].fields
        locale = current_locale()
        errors = [{**e, "field": fields[e["field"]].label(locale) if e.get("field") in fields else e.get("field", "")}
                  for e in errors]
    return page_or_block("jobs/show.html", "progress", run=run, percent=percent, errors=errors,
                         form_key=params.get("form"))


@bp.route("/jobs/<job_id>/download")
@requires(Perm.ACCOUNT)
def download(job_id):
    run = own_run(job_id)
    if run.kind != "export" or run.status != "done":
        raise NotFound("the file is not ready", code="not_ready")
    params = json.loads(run.params or "{}")
    path = open_export(actor(), params.get("form", ""), run.result_path, run.created_at, run.job_id,
                       params.get("made_under", ""))
    fmt = "xlsx" if path.suffix == ".xlsx" else "csv"
    try:
        name = versions.current(params.get("form", ""))[1].title(current_locale())
    except NotFound:
        name = params.get("form", run.kind)
    made = local_time(run.created_at, "%Y%m%d_%H%M")  # in the reader's time zone
    return send_file(path, mimetype=FORMATS[fmt], as_attachment=True, download_name=f"{name}_{made}.{fmt}")
