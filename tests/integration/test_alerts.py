"""Each anomaly rule driven by real requests, the scan as the worker runs it, the sinks, the dashboard."""
import datetime as dt
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from peewee import fn

from formwarden.access.actor import Actor
from formwarden.audit.alerts import scan
from formwarden.jobs.alerts import deliver, run_alert_scan
from formwarden.models import Alert, AuditEvent, User
from formwarden.records import service
from tests.conftest import DEMO_PASSWORD, Client, actor_of

URL = "/api/v1/forms/customer/records"


@pytest.fixture()
def quiet(clean_db, monkeypatch):
    """Working hours around the clock, so only the rule under test fires."""
    from formwarden.models import Alert as A
    from formwarden.models import AlertCursor

    A.delete().execute()
    AlertCursor.delete().execute()
    monkeypatch.setenv("FORMWARDEN_ALERT_WORK_START", "0")
    monkeypatch.setenv("FORMWARDEN_ALERT_WORK_END", "24")
    monkeypatch.setenv("FORMWARDEN_LOGIN_ACCOUNT_FREE", "50")  # rapid failures here must all be checked
    monkeypatch.setenv("FORMWARDEN_LOGIN_ACCOUNT_LOCK", "100")
    return monkeypatch


def rules():
    return {(a.rule, a.subject) for a in Alert.select()}


def _records(n, owner="sales01"):
    return [service.create_record(actor_of("admin"), "customer", {"name": f"警报{i}", "status": "lead",
                                                                  "owner": owner}).id for i in range(n)]


def test_repeated_failed_logins(anon, quiet):
    anon.refresh_csrf()
    for _ in range(5):
        anon.c.post("/login", data={"username": "sales03", "password": "nope", "csrf_token": anon.csrf})
    scan()
    assert ("failed_logins", "sales03") in rules()


def test_failed_logins_from_one_ip(anon, quiet):
    quiet.setenv("FORMWARDEN_ALERT_FAILED_LOGINS_IP", "3")
    anon.refresh_csrf()
    for name in ("a1", "a2", "a3"):
        anon.c.post("/login", data={"username": name, "password": "x", "csrf_token": anon.csrf})
    scan()
    assert ("failed_logins_ip", "127.0.0.1") in rules()


def test_mass_delete(login_as, quiet):
    quiet.setenv("FORMWARDEN_ALERT_DELETE_COUNT", "3")
    ids = _records(4)
    c = login_as("sales01")
    for rid in ids:
        assert c.delete(f"{URL}/{rid}").status_code == 204
    scan()
    alert = Alert.get(Alert.rule == "mass_delete")
    assert alert.subject == "sales01" and alert.severity == "critical"


def test_bulk_edits(login_as, quiet):
    quiet.setenv("FORMWARDEN_ALERT_EDIT_COUNT", "3")
    c = login_as("sales01")
    for rid in _records(4):
        assert c.patch(f"{URL}/{rid}", json={"data": {"status": "contacted"}}, headers={"If-Match": "1"}).status_code == 200
    scan()
    assert ("bulk_edit", "sales01") in rules()


def test_mass_export(login_as, quiet):
    from formwarden.jobs.exports import run_export

    quiet.setenv("FORMWARDEN_ALERT_EXPORT_RECORDS", "2")
    _records(3)
    c = login_as("finance")
    job_id = c.post("/f/customer/export", data={"csrf_token": c.csrf}).headers["Location"].rsplit("/", 1)[1]
    assert run_export(job_id) == 3
    scan()
    assert ("mass_export", "finance") in rules()


def test_reveal_burst(login_as, quiet):
    quiet.setenv("FORMWARDEN_ALERT_REVEAL_COUNT", "2")
    rid = service.create_record(actor_of("admin"), "customer", {"name": "揭", "status": "lead", "owner": "sales01",
                                                                "id_number": "11010519491231002X"}).id
    c = login_as("admin")
    for _ in range(3):
        assert c.post(f"{URL}/{rid}/reveal", json={"fields": ["id_number"]}).status_code == 200
    scan()
    assert ("reveal_burst", "admin") in rules()


def test_off_hours_activity(login_as, quiet):
    quiet.setenv("FORMWARDEN_ALERT_WORK_START", "0")
    quiet.setenv("FORMWARDEN_ALERT_WORK_END", "0")  # no working hours at all
    c = login_as("sales01")
    assert c.post(URL, json={"data": {"name": "夜", "status": "lead"}}).status_code == 201
    scan()
    assert ("off_hours", "sales01") in rules()
    # stored as words and their values: each reader sees it in their language, the sinks in English
    alert = Alert.get(Alert.rule == "off_hours")
    assert "outside working hours" in alert.summary and json.loads(alert.details)["params"]["action"] == "create"
    admin = login_as("admin")
    page = admin.get("/alerts").get_data(as_text=True)
    assert "sales01 在工作时间以外" in page and "outside working hours" not in page and "警告" in page
    assert "北京时间" in page.split("sales01 在工作时间以外")[1][:40]  # the zone as people call it
    assert re.search(r"待处理 \([1-9][0-9]*\)", page) and "已解决 (0)" in page  # the tabs count (not the header's)
    admin.post("/locale", data={"locale": "en", "next": "/", "csrf_token": admin.csrf})
    page = admin.get("/alerts").get_data(as_text=True)
    assert "sales01: Created at" in page and "outside working hours" in page and "在工作时间以外" not in page


def test_dormant_account(app, make_user, quiet):
    user = make_user(roles=("sales",))
    User.update(created_at=dt.datetime(2020, 1, 1)).where(User.id == user.id).execute()
    AuditEvent.update(at=dt.datetime(2020, 1, 2)).where(AuditEvent.actor_id == user.id).execute()
    Client(app.test_client()).login(user.username, DEMO_PASSWORD)
    scan()
    assert ("dormant_account", user.username) in rules()


def test_repeat_findings_add_to_the_open_alert(anon, quiet):
    anon.refresh_csrf()
    for _ in range(7):
        anon.c.post("/login", data={"username": "sales04", "password": "nope", "csrf_token": anon.csrf})
    assert run_alert_scan() == 1
    alert = Alert.get(Alert.rule == "failed_logins")
    assert alert.count == 3 and Alert.select().count() == 1
    assert scan() == []  # the cursor moved on: nothing is counted twice


def test_webhook_and_log_sinks(anon, quiet, caplog):
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    quiet.setenv("FORMWARDEN_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
    anon.refresh_csrf()
    for _ in range(5):
        anon.c.post("/login", data={"username": "sales05", "password": "nope", "csrf_token": anon.csrf})
    try:
        assert deliver(scan()) == 2  # log + webhook
    finally:
        server.shutdown()
    assert received[0]["rule"] == "failed_logins" and received[0]["subject"] == "sales05"
    assert any("ALERT failed_logins sales05" in r.getMessage() for r in caplog.records)


def test_dashboard_transitions_are_audited(login_as, anon, quiet):
    anon.refresh_csrf()
    for _ in range(5):
        anon.c.post("/login", data={"username": "sales06", "password": "nope", "csrf_token": anon.csrf})
    scan()
    alert = Alert.get()
    auditor = login_as("auditor")
    assert "sales06" in auditor.get("/alerts").get_data(as_text=True)
    assert auditor.post(f"/alerts/{alert.id}/acknowledge", data={"csrf_token": auditor.csrf}).status_code == 403
    admin = login_as("admin")
    assert admin.post(f"/alerts/{alert.id}/acknowledge", data={"csrf_token": admin.csrf}).status_code == 302
    assert admin.post(f"/alerts/{alert.id}/acknowledge", data={"csrf_token": admin.csrf}).status_code == 422
    assert admin.post(f"/alerts/{alert.id}/resolve", data={"csrf_token": admin.csrf, "note": "锁定账号"}).status_code == 302
    assert Alert.get_by_id(alert.id).status == "resolved"
    actions = [e.action for e in AuditEvent.select().where(AuditEvent.action.startswith("alert_")).order_by(AuditEvent.seq)]
    assert actions == ["alert_open", "alert_acknowledge", "alert_resolve"]
    assert "sales06" in admin.get("/alerts?status=resolved").get_data(as_text=True)


def test_periodic_work_is_enqueued_once_by_the_cron_leader(base_db, quiet):
    """Two cron schedulers (say, on two hosts): only the lock holder enqueues, with the JSON
    serializer; a worker runs what it enqueued; when the leader stops, the other takes over."""
    from rq.serializers import JSONSerializer

    from formwarden.jobs.cron import LEADER, Scheduler
    from formwarden.jobs.queue import connection, get_queue
    from tests.integration.test_jobs import run_worker_burst

    conn = connection(base_db)
    conn.delete(LEADER)
    queue = get_queue("default", conn)
    queue.empty()
    first, second = Scheduler(conn), Scheduler(conn)
    names = {j.name for j in first.get_jobs()}
    assert {"alert-scan", "audit-checkpoint", "backup-health", "backup", "restore-drill"} <= names
    enqueued = first.enqueue_jobs()
    assert {j.name for j in enqueued} == {"alert-scan", "audit-checkpoint", "backup-health", "account-check",
                                             "upload-prune"}  # at once
    assert second.enqueue_jobs() == []  # stands by
    jobs = queue.get_jobs()
    assert len(jobs) == 5 and all(j.serializer is JSONSerializer or j.serializer == JSONSerializer for j in jobs)
    assert first.enqueue_jobs() == []  # not due again yet
    run_worker_burst(base_db)
    assert queue.count == 0
    first.step_down()  # as when it stops
    assert second.is_leader()
    conn.delete(LEADER)


def test_scan_catches_up_in_batches_when_behind(clean_db, monkeypatch):
    """A busy instance writes more than one batch between scans: the scan keeps going until it
    reaches the newest event (within its time budget) instead of falling further behind."""
    from formwarden.audit import alerts as rules
    from formwarden.models import AlertCursor

    system = Actor.system("tests")
    for i in range(7):
        service.create_record(system, "customer", {"name": f"批{i}", "status": "lead", "owner": "sales01"})
    head = AuditEvent.select(fn.MAX(AuditEvent.seq)).scalar()
    _, caught_up = rules.scan_pending(limit=3)
    assert caught_up and AlertCursor.get().last_seq == head
    for i in range(7):
        service.create_record(system, "customer", {"name": f"再{i}", "status": "lead", "owner": "sales01"})
    _, caught_up = rules.scan_pending(budget_seconds=0, limit=3)  # no time: one batch, still behind
    assert not caught_up and AlertCursor.get().last_seq < AuditEvent.select(fn.MAX(AuditEvent.seq)).scalar()


def test_window_counts_reach_back_across_batches(login_as, quiet):
    """Events of earlier batches still count in a later batch's window: a bulk change through
    the bulk API, scanned two events at a time, opens the alert once the fourth update arrives."""
    from formwarden.audit import alerts as rules_module

    quiet.setenv("FORMWARDEN_ALERT_EDIT_COUNT", "3")
    ids = _records(4)
    c = login_as("sales01")
    rules_module.scan_pending()  # the creates are behind us
    r = c.post(f"{URL}/bulk", json={"action": "update", "ids": ids[:3], "data": {"status": "contacted"}})
    assert r.status_code == 200
    rules_module.scan_pending(limit=2)
    assert ("bulk_edit", "sales01") not in rules()  # three updates: not more than the limit
    r = c.post(f"{URL}/bulk", json={"action": "update", "ids": ids[3:], "data": {"status": "contacted"}})
    rules_module.scan_pending(limit=2)
    alert = Alert.get(Alert.rule == "bulk_edit")
    assert alert.subject == "sales01" and alert.count == 1


def test_access_changes_outside_working_hours_and_in_bursts(quiet, make_user):
    from formwarden.auth import roles

    quiet.setenv("FORMWARDEN_ALERT_WORK_START", "0")
    quiet.setenv("FORMWARDEN_ALERT_WORK_END", "0")
    quiet.setenv("FORMWARDEN_ALERT_ACCESS_CHANGES", "3")
    admin = actor_of("admin")
    roles.create_role(admin, "night_role", permissions=["records"])
    try:
        roles.update_role(admin, "night_role", permissions=["records", "records.purge"])
        for i in range(3):
            roles.update_role(admin, "night_role", title_en=f"Night {i}")
        scan()
        found = {a.rule: a for a in Alert.select().where(Alert.subject == "admin")}
        assert found["access_off_hours"].severity == "critical"  # purge granted at night
        assert "records.purge" in found["access_off_hours"].summary
        assert "access_burst" in found
    finally:
        from formwarden.models import Role
        Role.delete().where(Role.name == "night_role").execute()


def test_accounts_expiring_within_a_week_raise_one_alert(quiet, make_user):
    from formwarden.jobs.accounts import check_accounts
    from formwarden.models import utcnow

    user = make_user(roles=("intern",), expires_at=utcnow() + dt.timedelta(days=3))
    check_accounts()
    check_accounts()
    alerts = Alert.select().where(Alert.rule == "account_expiring", Alert.subject == user.username)
    assert alerts.count() == 1 and alerts.first().count == 1
