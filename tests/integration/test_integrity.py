"""Regression tests for the integrity and access defects found by outside testing."""
from __future__ import annotations

import pytest

from formwarden import db
from formwarden.auth.users import actor_for
from formwarden.errors import Forbidden, NotFound
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
    boss = actor_for(make_user(roles=("manager",), teams=("East sales",)))
    with pytest.raises(Forbidden) as exc:
        service.create_record(boss, "customer", {**VALID_CUSTOMER, "owner": "sales11"})
    assert exc.value.code == "owner_out_of_scope"
    ok = service.create_record(boss, "customer", {**VALID_CUSTOMER, "owner": "sales01"})
    with pytest.raises(Forbidden):
        service.update_record(boss, "customer", ok.id, {"owner": "sales11"}, expected_version=1)
    assert service.update_record(boss, "customer", ok.id, {"owner": "sales02"}, expected_version=1).version == 2
    with pytest.raises(NotFound):  # a South team record stays out of reach
        service.get_record(boss, "customer", _customer("sales12").id)


def test_team_writer_cannot_give_away_by_bulk_or_import(make_user):
    from formwarden.records import bulk

    boss = actor_for(make_user(roles=("manager",), teams=("East sales",)))
    rec = service.create_record(boss, "customer", {**VALID_CUSTOMER, "owner": "sales01"})
    with pytest.raises(Forbidden):
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

    who = actor_for(make_user(roles=("manager", "support"), teams=("East sales",)))
    _customer("sales01")
    _customer("sales15")
    path = tmp_path / "out.csv"
    assert export_csv(who, "customer", ListQuery(), path) == 1
