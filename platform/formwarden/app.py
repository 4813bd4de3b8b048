"""create_app(): config → db → login → i18n → plugins → blueprints → checks. Wiring only:
no migrations, no network (run `formwarden init` / `formwarden db upgrade` for those)."""
from __future__ import annotations

from flask import Flask

from formwarden import db
from formwarden.api.v1 import bp as api_v1
from formwarden.audit import highwater
from formwarden.config import Settings, load_settings
from formwarden.http import guard
from formwarden.http.hooks import init_http
from formwarden.jobs.queue import lazy_connection
from formwarden.plugins import load_plugins
from formwarden.web.access import bp as access_pages
from formwarden.web.alerts import bp as alert_pages
from formwarden.web.audit import bp as audit_pages
from formwarden.web.auth import bp as auth_pages
from formwarden.web.backups import bp as backup_pages
from formwarden.web.design import bp as design_pages
from formwarden.web.jobs import bp as job_pages
from formwarden.web.people import bp as people_pages
from formwarden.web.records import bp as record_pages
from formwarden.web.references import bp as reference_pages
from formwarden.web.start import bp as start_pages
from formwarden.web.tokens import bp as token_pages


def create_app(settings: Settings | None = None, **overrides) -> Flask:
    settings = settings or load_settings()
    app = Flask(
        "formwarden",
        template_folder=str(settings.templates),
        static_folder=str(settings.static),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_NAME="fw_session",
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=settings.secure_cookies,
        JSON_SORT_KEYS=False,
        FORMWARDEN=settings,
    )
    app.config.update(overrides)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep form field order; sorting costs time on every answer
    db.open_database(settings.database_url)
    highwater.configure(lazy_connection(settings))  # the audit head's mark outside the database
    app.extensions["formwarden_plugins"] = load_plugins(settings.plugin_dirs, settings.plugins_allowed)

    init_http(app)
    for blueprint in (auth_pages, record_pages, reference_pages, job_pages, audit_pages, alert_pages, backup_pages, people_pages,
                      access_pages, token_pages, design_pages, start_pages, api_v1):
        app.register_blueprint(blueprint)
    guard.wrap_static(app)
    guard.check_declared(app)
    return app
