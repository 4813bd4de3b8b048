"""No record change commits without its audit event: every write route and service is run
against a snapshot of the records table, and each record that changed must have a new event."""
import hashlib
import json

import pytest

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.models import AuditEvent
from formwarden.records import history, service
from tests.integration.test_route_walk import P1, P2, _requests


def _snapshot() -> dict:
    rows = db.fetchall("SELECT id, version, deleted_at, data FROM record")
    return {r[0]: hashlib.sha256(json.dumps([r[1], str(r[2]), str(r[3])]).encode()).hexdigest() for r in rows}


def _changed(before: dict, after: dict) -> set:
    return {rid for rid in set(before) | set(after) if before.get(rid) != after.get(rid)}


def _events_since(seq: int) -> set:
    return {e.record_id for e in AuditEvent.select(AuditEvent.record_id).where(AuditEvent.seq > seq)}


def _head() -> int:
    return db.fetchone("SELECT COALESCE(MAX(seq), 0) FROM audit_event")[0]


@pytest.mark.parametrize("user", ["admin", "sales01", "manager"])
def test_every_write_route_records_its_change(login_as, user):
    system = Actor.system("tests")
    client = login_as(user)
    writes = 0
    for endpoint, calls in _requests(0, 0).items():
        for method, _url, _kw in calls:
            if method == "GET":
                continue
            p1 = service.create_record(system, "customer", dict(P1)).id
            p2 = service.create_record(system, "customer", dict(P2)).id
            target = p1
            if endpoint.endswith(("restore", "purge")):  # these act on a record in the recycle bin
                service.delete_record(system, "customer", p2)
                target = p2
            for m, url, kw in _requests(target, p2)[endpoint]:
                if m != method:
                    continue
                kw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in kw.items()}
                if isinstance(kw.get("data"), dict):
                    kw["data"]["csrf_token"] = client.csrf
                if endpoint == "records.edit":
                    kw["data"].update({"_present": "status", "status": "contacted"})
                before, seq = _snapshot(), _head()
                getattr(client, m.lower())(url, **kw)
                changed = _changed(before, _snapshot())
                writes += bool(changed)
                assert changed <= _events_since(seq), f"{user} {m} {url} changed {changed} without an event"
            if endpoint == "auth.logout":
                client = login_as(user)
    assert writes >= 3  # the walk really changed records (create, edit, delete, …)


def test_every_write_service_records_its_change(clean_db):
    admin = Actor.system("tests")
    rid = service.create_record(admin, "customer", {**P1, "owner": "sales02"}).id
    steps = [
        lambda: service.update_record(admin, "customer", rid, {"company": "新"}, expected_version=1),
        lambda: history.revert_record(admin, "customer", rid, 1, expected_version=2, reason="回退"),
        lambda: service.delete_record(admin, "customer", rid),
        lambda: service.restore_record(admin, "customer", rid),
        lambda: service.delete_record(admin, "customer", rid),
        lambda: service.purge_record(admin, "customer", rid),
    ]
    for step in steps:
        before, seq = _snapshot(), _head()
        step()
        changed = _changed(before, _snapshot())
        assert changed == {rid} and changed <= _events_since(seq)
