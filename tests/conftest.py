"""Shared fixtures: one database per test session (SQLite, or PostgreSQL when DATABASE_URL says
so), demo forms and people loaded once, data tables emptied before each test."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.config import REPO_ROOT, Settings, init_instance
from formwarden.plugins import load_plugins

DEMO_PASSWORD = "demo-pass-123"
ARTIFACTS = REPO_ROOT / "test-artifacts"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _reset_database(url: str) -> None:
    database = db.open_database(url)
    database.connect(reuse_if_open=True)
    if db.is_postgres():
        database.execute_sql("DROP SCHEMA IF EXISTS public CASCADE")
        database.execute_sql("CREATE SCHEMA public")
    db.upgrade()


@pytest.fixture(scope="session")
def instance(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("instance")
    init_instance(path)
    return path


@pytest.fixture(scope="session")
def settings(instance) -> Settings:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'test.db'}"
    return Settings(
        instance=instance, database_url=url, redis_url=os.environ.get("REDIS_URL") or None,
        secret_key="test-secret-key-not-for-production", secure_cookies=False, max_body_bytes=64 * 1024,
        plugin_dirs=(REPO_ROOT / "plugins",), plugins_allowed=None,
    )


@pytest.fixture(scope="session")
def base_db(settings):
    """Schema, plugins, demo forms and demo people: built once per session."""
    from formwarden.catalog.publishing import load_directory
    from formwarden.demo import ensure_people

    os.environ["FORMWARDEN_INSTANCE"] = str(settings.instance)
    os.environ["SECRET_KEY"] = settings.secret_key
    _reset_database(settings.database_url)
    load_plugins(settings.plugin_dirs)
    load_directory(Actor.system("tests"), REPO_ROOT / "form_defs")
    ensure_people(DEMO_PASSWORD)
    return settings


@pytest.fixture(scope="session")
def redis_conn(base_db):
    from formwarden.jobs.queue import connection

    return connection(base_db)


@pytest.fixture()
def clean_db(base_db, redis_conn):
    from formwarden.audit import highwater
    from formwarden.audit.verify import CHECKPOINT_FILE
    from formwarden.auth.throttle import forget_all
    from formwarden.models import (
        AlertCursor,
        ApiToken,
        Attachment,
        AuditCheckpoint,
        AuditEvent,
        AuditEventField,
        AuditFieldCursor,
        BackupCopy,
        BackupRun,
        JobRun,
        Record,
        Setting,
        User,
        UserSession,
    )

    db.ensure_connection()
    forget_all(redis_conn)  # sign-in counts of earlier tests: every test client is 127.0.0.1
    db.execute("DELETE FROM record_search")  # the search index of the records removed below
    for model in (AlertCursor, Attachment, Record, AuditEvent, AuditEventField, AuditFieldCursor, AuditCheckpoint, JobRun, UserSession, ApiToken,
                  BackupRun, BackupCopy, Setting):
        model.delete().execute()
    from formwarden.jobs.queue import QUEUES, get_queue
    for name in QUEUES:  # jobs an earlier test queued (a page walk, an import) must not reach a later worker
        get_queue(name, redis_conn).empty()
    for upload in base_db.imports_dir.glob("*"):  # and their uploads, which only their job would remove
        upload.unlink()
    (base_db.instance / CHECKPOINT_FILE).unlink(missing_ok=True)
    (base_db.instance / highwater.FILE).unlink(missing_ok=True)  # the trail just emptied: its marks go too
    redis_conn.delete(highwater.REDIS_KEY, "formwarden:cron-seen", "formwarden:worker-seen")  # (jobs/health.py)
    User.update(locale="zh-CN").execute()  # a test may have switched someone's language
    return base_db


@pytest.fixture(scope="session")
def app(base_db):
    from formwarden.app import create_app

    application = create_app(base_db, TESTING=True)
    return application


class Client:
    """A test client that signs in through the real login form and sends the CSRF header."""

    def __init__(self, flask_client):
        self.c = flask_client
        self.csrf = None

    def refresh_csrf(self, html: str | None = None):
        html = html or self.c.get("/login").get_data(as_text=True)
        m = CSRF_RE.search(html)
        self.csrf = m.group(1) if m else None

    def login(self, username: str, password: str = DEMO_PASSWORD):
        self.refresh_csrf()
        r = self.c.post("/login", data={"username": username, "password": password, "csrf_token": self.csrf})
        assert r.status_code == 302, f"login failed for {username}: {r.status_code}"
        self.refresh_csrf(self.c.get("/account/password").get_data(as_text=True))
        return self

    def _h(self, kw):
        headers = dict(kw.pop("headers", {}) or {})
        if self.csrf:
            headers.setdefault("X-CSRFToken", self.csrf)
        kw["headers"] = headers
        return kw

    def get(self, *a, **kw):
        return self.c.get(*a, **kw)

    def post(self, *a, **kw):
        return self.c.post(*a, **self._h(kw))

    def patch(self, *a, **kw):
        return self.c.patch(*a, **self._h(kw))

    def delete(self, *a, **kw):
        return self.c.delete(*a, **self._h(kw))


@pytest.fixture()
def login_as(app, clean_db):
    def make(username: str, password: str = DEMO_PASSWORD) -> Client:
        return Client(app.test_client()).login(username, password)

    return make


@pytest.fixture()
def anon(app, clean_db) -> Client:
    return Client(app.test_client())


@pytest.fixture()
def make_user(clean_db):
    from formwarden.auth.users import create_user

    counter = {"n": 0}

    def make(roles=("sales",), teams=(), password=DEMO_PASSWORD, **kw):
        counter["n"] += 1
        name = f"u{os.getpid()}_{counter['n']}_{os.urandom(3).hex()}"
        return create_user(Actor.system("tests"), name, password, roles=roles, teams=teams, check_strength=False, **kw)

    return make


def actor_of(username: str) -> Actor:
    from formwarden.auth.users import actor_for
    from formwarden.models import User

    return actor_for(User.get(User.username == username))


VALID_CUSTOMER = {"name": "测试客户", "mobile": "13812345678", "status": "lead", "company": "测试公司"}


@pytest.fixture()
def restore_customer(clean_db):
    """Put the customer form and its access policy back as form_defs/ has them after the test."""
    yield
    import json

    from formwarden.catalog import policies, publishing
    from formwarden.models import Form

    doc = json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8"))
    publishing.publish(Actor.system("t"), doc)
    if policies.current_access(Form.get(Form.key == "customer")) != doc["x-access"]:
        policies.save(actor_of("admin"), "customer", doc["x-access"], reason="test cleanup")
    policies.discard_draft(actor_of("admin"), "customer")
