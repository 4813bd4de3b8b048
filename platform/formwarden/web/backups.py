"""The backup pages: dashboard (targets, archives, log, policy), "Back up now" with live
progress, archive preview, full restore with a typed confirmation, one-record restore, drills."""
from __future__ import annotations

import unicodedata

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from formwarden.access.permissions import Perm
from formwarden.backup.overview import archive_preview, dashboard, get_run_view, log_csv
from formwarden.backup.policy import save_policy
from formwarden.backup.service import note_log_export
from formwarden.errors import Conflict, DomainError, Invalid
from formwarden.forms.messages import N_
from formwarden.forms.versions import all_forms
from formwarden.http.context import actor
from formwarden.http.errors import page_message, translate_details
from formwarden.http.guard import requires
from formwarden.http.i18n import current_locale
from formwarden.http.jobs import submit_backup_job
from formwarden.http.rendering import page_or_block

bp = Blueprint("backups", __name__)


def _page(policy_errors=None, values=None, status=200):
    data = dashboard(actor())
    if values:
        data["policy"] = {**data["policy"], **values}
    return render_template("backups/dashboard.html", data=data, policy_errors=policy_errors or {}), status


@bp.route("/backups")
@requires(Perm.BACKUPS)
def index():
    return _page()


def _start(kind: str, params: dict | None = None):
    """Queue `kind`; when a backup or restore is already under way, say so on the page."""
    try:
        run = submit_backup_job(kind, params)
    except Conflict:
        flash(_("A backup or restore is already waiting or running. Wait for it to finish."), "error")
        return redirect(url_for("backups.index"))
    return redirect(url_for("backups.run", job_id=run.job_id))


@bp.route("/backups/run", methods=["POST"])
@requires(Perm.BACKUPS)
def back_up_now():
    return _start("backup")


@bp.route("/backups/drill", methods=["POST"])
@requires(Perm.BACKUPS)
def drill_now():
    return _start("drill")


@bp.route("/backups/runs/<job_id>")
@requires(Perm.BACKUPS)
def run(job_id):
    return page_or_block("backups/run.html", "progress", run=get_run_view(actor(), job_id),
                         kept_closed_words=kept_closed_words)


@bp.route("/backups/policy", methods=["POST"])
@requires(Perm.BACKUPS)
def policy():
    values = {k: request.form.get(k, "") for k in ("schedule", "drill_schedule", "keep_last", "keep_daily", "keep_weekly",
                                                   "keep_monthly", "rpo_hours", "responsible")}
    values["enabled"] = request.form.get("enabled") == "on"
    try:
        save_policy(actor(), values)
    except Invalid as exc:
        errors = {d["field"]: d["message"] for d in translate_details(exc.details)}
        return _page(errors, values, 422)
    flash(_("Backup policy saved."), "success")
    return redirect(url_for("backups.index"))


@bp.route("/backups/log.csv")
@requires(Perm.BACKUPS)
def log():
    note_log_export(actor())
    return Response("\ufeff" + log_csv(actor()), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=formwarden-backup-log.csv"})


def _reason() -> str | None:
    """The reason typed, without format characters; None unless it holds a letter, digit or
    sign someone can read, or when over 1,000 characters."""
    text = "".join(c for c in request.form.get("reason", "") if unicodedata.category(c) != "Cf").strip()
    readable = any(unicodedata.category(c)[0] in "LNPS" and c not in "\u3164\u115f\u2800" for c in text)
    return text if readable and len(text) <= 1000 else None


def _archive_page(target, name, error="", status=200, values=None):
    info = archive_preview(actor(), target, name)
    forms = [(f.key, d) for f, d in all_forms()]
    info["form_titles"] = {key: d.title(current_locale()) for key, d in forms}
    return render_template("backups/archive.html", info=info, forms=forms, error=error, values=values or {}), status


@bp.route("/backups/archives/<target>/<name>")
@requires(Perm.BACKUPS)
def archive(target, name):
    return _archive_page(target, name)


@bp.route("/backups/archives/<target>/<name>/restore", methods=["POST"])
@requires(Perm.BACKUPS)
def restore(target, name):
    info = archive_preview(actor(), target, name)
    typed = request.form.get("confirm", "").strip().lower()
    reason = _reason()
    if typed != info["short_id"]:
        return _archive_page(target, name, _("Type the archive code %(code)s exactly to confirm the restore.",
                                             code=info["short_id"]), 422, request.form)
    if not reason:
        return _archive_page(target, name, _("Say why the data is being restored (at most 1,000 characters)."), 422,
                             request.form)
    return _start("restore", {"target": target, "archive": name, "reason": reason})


@bp.route("/backups/archives/<target>/<name>/restore-record", methods=["POST"])
@requires(Perm.BACKUPS)
def restore_record(target, name):
    archive_preview(actor(), target, name)  # the archive exists and may be used
    form_key = request.form.get("form", "")
    raw_id = request.form.get("record_id", "").strip()
    reason = _reason()
    if form_key not in {f.key for f, _d in all_forms()}:
        return _archive_page(target, name, _("Choose the form of the record."), 422, request.form)
    if not (raw_id.isascii() and raw_id.isdigit()) or not 0 < int(raw_id) < 2 ** 53:
        return _archive_page(target, name, _("The record number must be a whole number."), 422, request.form)
    if not reason:
        return _archive_page(target, name, _("Say why the record is being restored (at most 1,000 characters)."), 422,
                             request.form)
    try:
        run = submit_backup_job("restore_record", {"target": target, "archive": name, "form": form_key,
                                                   "record_id": int(raw_id), "reason": reason})
    except Conflict:
        return _archive_page(target, name, _("A backup or restore is already waiting or running. Wait for it to "
                                             "finish."), 409, request.form)
    except DomainError as exc:
        return _archive_page(target, name, page_message(exc), exc.status, request.form)
    return redirect(url_for("backups.run", job_id=run.job_id))


_PHASES = {"starting": N_("Starting…"), "copying": N_("Copying the archive to every target and reading it back…"),
           "written": N_("Archive written."), "audit_chain": N_("Checking the audit chain…"),
           "field_index": N_("Rebuilding the audit search index…"), "swap": N_("Switching to the restored data…")}


_TABLES = {"team": N_("teams"), "role": N_("roles"), "user": N_("people"), "user_role": N_("role grants"),
           "user_team": N_("team members"), "api_token": N_("API tokens"), "form": N_("forms"),
           "form_version": N_("form versions"), "record": N_("records"), "audit_event": N_("audit events"),
           "audit_checkpoint": N_("audit checkpoints"), "alert": N_("alerts"), "alert_cursor": N_("alerts"),
           "setting": N_("settings")}


KEPT_CLOSED = {"deactivations": N_("accounts deactivated"), "passwords": N_("passwords changed"),
               "expiry_dates": N_("expiry dates set or brought forward"), "roles": N_("roles revoked"),
               "tokens": N_("API tokens revoked"), "role_permissions": N_("permissions taken from roles"),
               "team_memberships": N_("team memberships ended"), "team_managers": N_("team managers replaced"),
               "teams": N_("teams deleted")}


def kept_closed_words(kept: dict) -> str:
    """What a restore kept closed, by kind, in the reader's words."""
    parts = [f"{_(KEPT_CLOSED[kind]) if kind in KEPT_CLOSED else kind}: {n}" for kind, n in (kept or {}).items()]
    return ("；" if current_locale() == "zh-CN" else "; ").join(parts)


def phase_label(phase: str) -> str:
    if phase.startswith("table:"):
        name = phase[len("table:"):]
        return _("Working on %(what)s…", what=_(_TABLES[name]) if name in _TABLES else name)
    if phase.startswith("drill:"):
        return _("Drilling target %(target)s…", target=phase[len("drill:"):])
    return _(_PHASES[phase]) if phase in _PHASES else phase


_ERRORS = {
    "not_an_archive": N_("The file is not a Formwarden backup."),
    "unsupported_format": N_("The archive was made by a newer version of Formwarden."),
    "unsupported_schema": N_("The archive was made by a newer version of Formwarden."),
    "truncated": N_("The archive is incomplete (cut off)."),
    "chunk_damaged": N_("Part of the archive was altered or damaged."),
    "trailing_data": N_("Something was appended to the archive."),
    "header_damaged": N_("The archive's key block is damaged."),
    "manifest_mismatch": N_("The archive's contents do not match its manifest."),
    "part_mismatch": N_("The archive's contents do not match its manifest."),
    "count_mismatch": N_("The archive's contents do not match its manifest."),
    "no_manifest": N_("The archive is incomplete (cut off)."),
    "wrong_key": N_("The archive does not open with the backup key it names."),
    "key_missing": N_("The backup key of this archive is missing: import the recovery kit that holds it."),
    "keys_missing": N_("Keys this archive needs are missing: import the recovery kit that holds them."),
    "chain_broken": N_("The audit trail inside the archive does not verify."),
    "missing": N_("The archive is not on the target any more."),
    "archive_replaced": N_("The file on the target is not the archive recorded when it was made: it was replaced or altered."),
    "target_error": N_("The backup target could not be reached."),
    "record_not_in_archive": N_("The archive holds no such record of that form."),
    "unknown_owner": N_("The record's owner no longer exists."),
    "account_unusable": N_("The account that started this is no longer active."),
    "missing_permission": N_("Your role may not do this."),
}


def error_text(code: str) -> str:
    return _(_ERRORS[code]) if code in _ERRORS else ""


def ago(hours: float | None) -> str:
    if hours is None:
        return ""
    if hours < 1:
        return _("%(n)s minutes ago", n=max(1, round(hours * 60)))
    if hours < 48:
        return _("%(n)s hours ago", n=round(hours))
    return _("%(n)s days ago", n=round(hours / 24))


def number(n: int | None) -> str:
    return f"{n or 0:,}"


def size(n: int | None) -> str:
    n = n or 0
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(1, round(n / 1e3))} KB"


@bp.context_processor
def _labels():
    return {
        "phase_label": phase_label, "error_text": error_text, "size": size, "ago": ago, "number": number,
        "kind_labels": {"backup": _("Backup"), "drill": _("Restore drill"), "restore": _("Restore"),
                        "restore_record": _("Record restore")},
        "run_status_labels": {"queued": _("Waiting"), "running": _("Running"), "done": _("Done"),
                              "degraded": _("Degraded"), "failed": _("Failed")},
        "drill_labels": {"passed": _("passed"), "failed": _("failed")},
        "target_labels": {"verified": _("verified copy"), "failed": _("failed"), "passed": _("drill passed"),
                          "no_archive": _("no archive yet")},
    }
