"""Request hooks shared by pages and API: connection, acting user, CSRF, guard, security headers."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, current_app, g, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFProtect, generate_csrf

from formwarden import db
from formwarden.access.permissions import Perm, has_perm
from formwarden.errors import BadRequest
from formwarden.http import guard
from formwarden.http.context import load_actor, login_manager
from formwarden.http.errors import init_errors
from formwarden.http.i18n import current_locale, init_i18n

csrf = CSRFProtect()
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}  # JSON bodies are checked where parsed
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def _reject_nul() -> None:
    """NUL cannot be stored (PostgreSQL refuses it) and is never meaningful in a form value."""
    has_form = request.method in UNSAFE and request.mimetype in FORM_TYPES
    sources = (request.args, request.form) if has_form else (request.args,)
    for source in sources:
        for key, values in source.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                raise BadRequest("a NUL character is not allowed", field=key.replace("\x00", ""),
                                 code="invalid_character")


def _before():
    db.ensure_connection()
    guard.bind_view(current_app)
    limit = guard.upload_limit()
    if limit:
        request.max_content_length = limit
    _reject_nul()
    load_actor()
    if request.method in UNSAFE and g.auth_via != "token":
        csrf.protect()
    guard.enforce()


def _after(resp):
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("Content-Security-Policy", CSP)
    if request.endpoint != "static":
        resp.headers.setdefault("Cache-Control", "no-store")
    rid = g.get("request_id")
    if rid:
        resp.headers["X-Request-Id"] = rid
    return resp


def _status_labels() -> dict:
    return {"open": _("Open"), "acknowledged": _("Acknowledged"), "resolved": _("Resolved")}


def _rule_labels() -> dict:
    return {"mass_export": _("Mass export"), "mass_delete": _("Mass delete"), "bulk_edit": _("Bulk edits"),
            "off_hours": _("Off-hours activity"), "failed_logins": _("Repeated failed sign-ins"),
            "failed_logins_ip": _("Failed sign-ins from one IP"), "reveal_burst": _("Burst of reveals"),
            "dormant_account": _("Dormant account active")}


def _action_labels() -> dict:
    return {"create": _("Created"), "update": _("Changed"), "delete": _("Deleted"), "restore": _("Restored"),
            "revert": _("Reverted"), "purge": _("Purged"), "bulk_update": _("Bulk change"),
            "bulk_delete": _("Bulk delete"), "import": _("Imported")}


def init_http(app: Flask) -> None:
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config["WTF_CSRF_HEADERS"] = ["X-CSRFToken"]
    csrf.init_app(app)
    login_manager.init_app(app)
    init_i18n(app)
    init_errors(app)
    app.before_request(_before)
    app.after_request(_after)

    @app.template_filter("merge_page")
    def _merge_page(args: dict, page: int) -> str:
        return urlencode([(k, v) for k, vs in args.items() if k != "page" for v in vs] + [("page", page)])

    @app.template_filter("label_of")
    def _label_of(name: str, formdef, locale: str) -> str:
        return formdef.fields[name].label(locale)

    @app.context_processor
    def _globals():
        who = g.get("actor")
        return {"actor": who, "locale": current_locale(), "csrf_token": generate_csrf,
                "action_labels": _action_labels(), "status_labels": _status_labels(), "rule_labels": _rule_labels(),
                "can_audit": bool(who and has_perm(who, Perm.AUDIT_READ)),
                "can_alerts": bool(who and has_perm(who, Perm.ALERTS_VIEW))}
