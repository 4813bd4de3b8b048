"""One place maps domain and HTTP errors to answers: JSON under /api, an HTML fragment for
HTMX requests, a full page otherwise. Never a stack trace; never customer data in logs."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from formwarden.errors import DomainError, Unauthorized
from formwarden.forms.messages import render as render_message

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path.startswith("/api/")


def translate_details(details):
    out = []
    for d in details:
        if "code" in d and "field" in d:
            d = {**d, "message": render_message(d["code"], d.get("params"), _) if "params" in d else _(d["message"])}
        out.append(d)
    return out


def respond(err: DomainError):
    if wants_json():
        resp = jsonify({"error": err.as_dict()})
        resp.status_code = err.status
        if err.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="formwarden"'
        return resp
    if isinstance(err, Unauthorized) and not request.headers.get("HX-Request"):
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    details = translate_details(err.details)
    template = "errors/fragment.html" if request.headers.get("HX-Request") else "errors/page.html"
    resp = render_template(template, error=err, message=_(err.message) if err.message else "", details=details)
    headers = {"Vary": "HX-Request"}
    if isinstance(err, Unauthorized):
        headers["HX-Redirect"] = url_for("auth.login")
    return resp, err.status, headers


def _http(exc: HTTPException):
    codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
             415: "unsupported_media_type", 429: "too_many_requests"}
    err = DomainError(exc.description or exc.name, code=codes.get(exc.code, "http_error"))
    err.status = exc.code or 500
    return respond(err)


def _csrf(exc: CSRFError):
    err = DomainError(_("The form expired or was sent from elsewhere. Reload the page and try again."),
                      code="csrf_failed")
    err.status = 400
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
    app.register_error_handler(Exception, _unexpected)
