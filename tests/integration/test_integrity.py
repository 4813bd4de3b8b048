"""Regression tests for the integrity and access defects found by outside testing."""
from __future__ import annotations

from formwarden import db
from formwarden.models import AuditEvent
from formwarden.records import history, service
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
