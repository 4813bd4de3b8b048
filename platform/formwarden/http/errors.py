"""One place maps domain and HTTP errors to answers: JSON under /api, an HTML fragment for
HTMX requests, a full page otherwise. Never a stack trace; never customer data in logs."""
from __future__ import annotations

import logging

import peewee
from flask import Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from formwarden import db
from formwarden.errors import BadRequest, DomainError, Unauthorized
from formwarden.forms.messages import N_
from formwarden.forms.messages import render as render_message
from formwarden.forms.registry import field_types
from formwarden.http.drafts import keep_typing
from formwarden.http.i18n import current_locale

log = logging.getLogger(__name__)


# Messages shown on pages per error code; the API answers with the service's own message.
CODE_MESSAGES = {
    "beyond_own_data": N_("This person may see or do more with records than you may: only an administrator who "
                          "holds all of their rights can do this."),
    "unknown_record": N_("This record does not exist, or it is outside what you may see."),
    "unknown_form": N_("There is no such form."),
    "field_not_writable": N_("You may not change the field %(field)s."),
    "field_not_readable": N_("You may not filter or sort by %(field)s."),
    "no_create": N_("Your role may not create records in this form."),
    "no_read": N_("Your role may not see records of this form."),
    "no_update": N_("Your role may not change this record."),
    "no_delete": N_("Your role may not delete this record."),
    "no_export": N_("Your role may not export this form."),
    "no_purge": N_("Only administrators may delete records for good."),
    "missing_permission": N_("Your role may not open this page."),
    "stale_version": N_("Someone else changed this record meanwhile. Reload it and apply your change again."),
    "login_required": N_("Please sign in."),
    "not_found": N_("This page does not exist."),
    "too_large": N_("The request is too large."),
    "validation_failed": N_("Please correct the marked fields."),
    "reason_required": N_("This change needs a reason: say why in the reason box."),
    "no_file": N_("Choose a CSV file to import."),
    "invalid_character": N_("The request holds a character that is not allowed (NUL, a lone surrogate or bytes that are not UTF-8)."),
    "invalid_id": N_("%(field)s must be a whole number."),
    "number_out_of_range": N_("A number in the request is too large."),
    "unknown_user": N_("There is no account by that name."),
    "unknown_role": N_("There is no role by that name."),
    "unknown_team": N_("There is no such team."),
    "unknown_token": N_("There is no such token, or it is not yours."),
    "unknown_version": N_("That version does not exist."),
}


def page_message(err: DomainError) -> str:
    template = CODE_MESSAGES.get(err.code)
    if template is None:
        return _(err.message) if err.message else ""
    return _(template) % {"field": err.field or ""}


def wants_json() -> bool:
    """API paths, and any request carrying credentials for the API (a program, not a browser)."""
    return request.path.startswith("/api/") or "Authorization" in request.headers


def _type_words() -> dict[str, str]:
    return {"string": _("text"), "integer": _("a whole number"), "number": _("a number"), "boolean": _("yes or no"),
            "array": _("a list"), "object": _("a record"), "null": _("empty")}


def _format_words(name: str) -> str:
    """A field type's name in the reader's words (a plugin gives its labels), never its key."""
    ft = field_types.get(name)
    if ft is not None and ft.label:
        return ft.label.get(current_locale()) or ft.label.get("en") or name
    return {"date": _("date"), "date-time": _("date and time"), "email": _("email address"), "time": _("time"),
            "uri": _("web address")}.get(name, _("value"))


def _in_words(params: dict) -> dict:
    out = dict(params)
    if isinstance(out.get("format"), str):
        out["format"] = _format_words(out["format"])
    expected = out.get("expected")
    if isinstance(expected, (str, list)):
        words = _type_words()
        names = [expected] if isinstance(expected, str) else expected
        out["expected"] = _(" or ").join(words.get(n, n) for n in names if isinstance(n, str))
    return out


def translate_details(details):
    out = []
    for d in details:
        if "code" in d and "field" in d:
            ft = field_types.get((d.get("params") or {}).get("format")) if d["code"] == "format" else None
            own = ft.invalid_message(current_locale()) if ft is not None else None
            d = {**d, "message": own or (render_message(d["code"], _in_words(d["params"]), _) if "params" in d
                                         else _(d["message"]))}
        out.append(d)
    return out


def respond(err: DomainError):
    if wants_json():
        resp = jsonify({"error": err.as_dict()})
        resp.status_code = err.status
        if err.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="formwarden"'
        retry_after = getattr(err, "retry_after", None)  # RateLimited says when
        if err.status == 429 and retry_after:
            resp.headers["Retry-After"] = str(retry_after)
        return resp
    kept = keep_typing(csrf_failed=err.code == "csrf_failed") \
        if (isinstance(err, Unauthorized) or err.code == "csrf_failed") and request.method == "POST" else None
    if kept:
        if err.code == "csrf_failed" and current_user.is_authenticated:  # still signed in: straight back to the form
            flash(_("The form had expired, so nothing was saved. What you typed is back in the form: check it and "
                    "save again."), "info")
            target = kept
        else:
            flash(_("Your session ended before this was saved. What you typed is kept: sign in and it is back in "
                    "the form."), "info")
            target = url_for("auth.login", next=kept)
        if request.headers.get("HX-Request"):
            return "", 204, {"HX-Redirect": target}
        return redirect(target)
    if isinstance(err, Unauthorized) and not request.headers.get("HX-Request"):
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    details = translate_details(err.details)
    template = "errors/fragment.html" if request.headers.get("HX-Request") else "errors/page.html"
    page = render_template(template, error=err, message=page_message(err), details=details)
    headers = {"Vary": "HX-Request"}
    if isinstance(err, Unauthorized):
        headers["HX-Redirect"] = url_for("auth.login")
    return page, err.status, headers


def _http(exc: HTTPException):
    codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
             415: "unsupported_media_type", 429: "too_many_requests"}
    err = DomainError(exc.description or exc.name, code=codes.get(exc.code or 500, "http_error"))
    err.status = exc.code or 500
    return respond(err)


def _csrf(exc: CSRFError):
    err = DomainError(_("The form expired or was sent from elsewhere. Reload the page and try again."),
                      code="csrf_failed")
    err.status = 400
    return respond(err)


def _oversized_arg() -> str | None:
    """The query argument that most likely overflowed: the first whole number beyond 64 bits
    (a `filter[FIELD]` names its FIELD, as the list query's own errors do)."""
    for key, value in request.args.items(multi=True):
        digits = value.strip().lstrip("+-").lstrip("0")
        if digits.isascii() and digits.isdigit() and (len(digits) > 19 or int(digits) >= 2**63):
            return key[7:-1] if key.startswith("filter[") and key.endswith("]") else key
    return None


def _bad_value(exc: Exception):
    """A number too large for the database or text it cannot encode got past the parsers: still the
    request's fault, so a 400, never a 500; logged, since a parser should have caught it."""
    log.warning("%s on %s %s", type(exc).__name__, request.method, request.path, exc_info=True)
    if isinstance(exc, OverflowError):
        return respond(BadRequest("a number in the request is too large for a 64-bit whole number",
                                  field=_oversized_arg(), code="number_out_of_range"))
    return respond(BadRequest("the request holds text that is not valid Unicode", code="invalid_character"))


def _database_down(exc: Exception):
    """The database dropped the connection (restart, failover): forget it so the next request
    reconnects, and say so instead of a bare 500. Nothing of this request was saved."""
    log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
    db.drop_connection()
    err = DomainError(_("The database is not reachable right now. Nothing was saved; try again in a moment."),
                      code="database_unavailable")
    err.status = 503
    return respond(err)


def _unexpected(exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    err = DomainError(_("Something went wrong on our side. Nothing was saved."), code="internal_error")
    err.status = 500
    return respond(err)


def init_errors(app: Flask) -> None:
    app.register_error_handler(DomainError, respond)
    app.register_error_handler(CSRFError, _csrf)
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(OverflowError, _bad_value)
    app.register_error_handler(UnicodeError, _bad_value)
    app.register_error_handler(peewee.OperationalError, _database_down)
    app.register_error_handler(peewee.InterfaceError, _database_down)
    app.register_error_handler(Exception, _unexpected)
