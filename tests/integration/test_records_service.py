import json

import pytest

from formwarden import db
from formwarden.audit import events as audit_events
from formwarden.catalog import publishing
from formwarden.errors import Conflict, Forbidden, Invalid, NotFound
from formwarden.models import AuditEvent, Record
from formwarden.records import service
from formwarden.records.query import ListQuery
from tests.conftest import VALID_CUSTOMER, actor_of


def test_create_records_event_in_same_transaction(clean_db):
    sales = actor_of("sales01")
    view = service.create_record(sales, "customer", dict(VALID_CUSTOMER), reason="first contact")
    assert view.version == 1 and view.data["owner"] == "sales01"
    assert "id_number" not in view.data
    event = AuditEvent.get(AuditEvent.record_id == view.id)
    assert event.action == "create" and event.actor_name == "sales01" and event.reason == "first contact"
    assert json.loads(event.diff)["name"] == [None, "测试客户"]


def test_update_diff_and_version(clean_db):
    sales = actor_of("sales01")
    view = service.create_record(sales, "customer", dict(VALID_CUSTOMER))
    updated = service.update_record(sales, "customer", view.id, {"status": "contacted", "company": None},
                                    expected_version=1)
    assert updated.version == 2 and "company" not in updated.data
    diff = json.loads(AuditEvent.select().order_by(AuditEvent.seq.desc()).first().diff)
    assert diff == {"status": ["lead", "contacted"], "company": ["测试公司", None]}
    with pytest.raises(Conflict):
        service.update_record(sales, "customer", view.id, {"status": "lead"}, expected_version=1)


def test_write_to_read_only_field_is_refused_whole(clean_db):
    sales = actor_of("sales01")
    view = service.create_record(sales, "customer", dict(VALID_CUSTOMER))
    with pytest.raises(Forbidden) as exc:
        service.update_record(sales, "customer", view.id, {"status": "won", "contract_amount": 5},
                              expected_version=1)
    assert exc.value.field == "contract_amount"
    assert Record.get_by_id(view.id).data["status"] == "lead"
    with pytest.raises(Forbidden) as exc:
        service.create_record(sales, "customer", {**VALID_CUSTOMER, "id_number": "11010519491231002X"})
    assert exc.value.field == "id_number"


def test_scope_own_team_all(clean_db):
    mine = service.create_record(actor_of("sales01"), "customer", dict(VALID_CUSTOMER))
    with pytest.raises(NotFound):
        service.get_record(actor_of("sales02"), "customer", mine.id)
    assert service.get_record(actor_of("manager"), "customer", mine.id).id == mine.id
    assert service.get_record(actor_of("support"), "customer", mine.id).data == {
        "name": "测试客户", "mobile": "13812345678", "company": "测试公司", "status": "lead"}


def test_team_scope_uses_team_membership(clean_db, make_user):
    lead = make_user(roles=("manager",), teams=("Solo team",))
    member = make_user(roles=("sales",), teams=("Solo team",))
    from formwarden.auth.users import actor_for

    theirs = service.create_record(actor_for(member), "customer", dict(VALID_CUSTOMER))
    other = service.create_record(actor_of("sales05"), "customer", dict(VALID_CUSTOMER))
    page = service.list_records(actor_for(lead), "customer", ListQuery())
    assert [i.id for i in page.items] == [theirs.id]
    with pytest.raises(NotFound):
        service.get_record(actor_for(lead), "customer", other.id)


def test_soft_delete_restore_purge(clean_db):
    sales = actor_of("sales01")
    view = service.create_record(sales, "customer", dict(VALID_CUSTOMER))
    service.delete_record(sales, "customer", view.id)
    with pytest.raises(NotFound):
        service.get_record(sales, "customer", view.id)
    assert service.list_records(sales, "customer", ListQuery(), deleted=True).total == 1
    service.restore_record(sales, "customer", view.id)
    service.delete_record(sales, "customer", view.id)
    with pytest.raises(Forbidden):
        service.purge_record(sales, "customer", view.id)
    service.purge_record(actor_of("admin"), "customer", view.id)
    assert not Record.select().where(Record.id == view.id).exists()
    actions = [e.action for e in AuditEvent.select().where(AuditEvent.record_id == view.id).order_by(AuditEvent.seq)]
    assert actions == ["create", "delete", "restore", "delete", "purge"]


def test_intern_cannot_delete(clean_db):
    view = service.create_record(actor_of("intern"), "customer", {"name": "实习", "status": "lead"})
    with pytest.raises(Forbidden):
        service.delete_record(actor_of("intern"), "customer", view.id)


def test_validation_errors_write_nothing(clean_db):
    with pytest.raises(Invalid) as exc:
        service.create_record(actor_of("sales01"), "customer", {"name": "", "mobile": "123"})
    fields = {d["field"] for d in exc.value.details}
    assert fields == {"name", "mobile", "status"}
    assert Record.select().count() == 0 and AuditEvent.select().count() == 0


def test_failure_between_change_and_event_commits_neither(clean_db, monkeypatch):
    def boom(*a, **kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr("formwarden.records.service.record_event", boom)
    with pytest.raises(RuntimeError):
        service.create_record(actor_of("sales01"), "customer", dict(VALID_CUSTOMER))
    assert Record.select().count() == 0 and AuditEvent.select().count() == 0


def test_event_outside_transaction_is_refused(clean_db):
    db.ensure_connection()
    with pytest.raises(RuntimeError):
        audit_events.record_event(actor_of("admin"), "login")


def test_filters_and_sorts(clean_db):
    sales = actor_of("sales01")
    for status, amount in [("negotiating", 300), ("won", 100), ("negotiating", 200), ("lead", None)]:
        data = {**VALID_CUSTOMER, "status": status}
        if amount:
            data["contract_amount"] = amount
        service.create_record(actor_of("admin"), "customer", {**data, "owner": "sales01"})
    admin = actor_of("admin")
    page = service.list_records(admin, "customer", ListQuery(filters=[("status", ["negotiating", "won"])],
                                                              sort_field="contract_amount", descending=False))
    assert [i.data["contract_amount"] for i in page.items] == [100, 200, 300]
    assert page.total == 3
    with pytest.raises(Forbidden):
        service.list_records(sales, "customer", ListQuery(filters=[("id_number", ["x"])]))
    intern = actor_of("intern")
    with pytest.raises(Forbidden):
        service.list_records(intern, "customer", ListQuery(sort_field="mobile"))


def test_records_keep_their_form_version(clean_db):
    from formwarden.access.actor import Actor
    from formwarden.config import REPO_ROOT

    view = service.create_record(actor_of("sales01"), "customer", dict(VALID_CUSTOMER))
    doc = json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8"))
    doc["properties"]["website"] = {"type": "string", "x-label": {"zh-CN": "网站", "en": "Website"}}
    doc["x-access"]["sales"]["fields"]["website"] = "write"
    form, version, changed = publishing.publish(Actor.system("tests"), doc)
    try:
        assert changed and version == view.form_version + 1
        again = service.get_record(actor_of("sales01"), "customer", view.id)
        assert again.form_version == view.form_version and again.data["name"] == "测试客户"
        updated = service.update_record(actor_of("sales01"), "customer", view.id, {"website": "https://x.cn"},
                                        expected_version=1)
        assert updated.form_version == version
    finally:
        original = json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8"))
        publishing.publish(Actor.system("tests"), original)


def test_field_indexes_follow_the_definition(clean_db):
    from formwarden import db as fw_db
    from formwarden.access.actor import Actor
    from formwarden.config import REPO_ROOT
    from formwarden.forms import versions

    form, _ = versions.current("customer")
    names = lambda: sorted(i.name for i in fw_db.database.get_indexes("record") if i.name.startswith(f"record_f{form.id}_"))  # noqa: E731
    assert names() == [f"record_f{form.id}_status_byowner", f"record_f{form.id}_status_byupd"]
    doc = json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8"))
    doc["properties"]["status"].pop("x-index")
    doc["properties"]["region"]["x-index"] = True
    try:
        publishing.publish(Actor.system("tests"), doc)
        assert names() == [f"record_f{form.id}_region_byowner", f"record_f{form.id}_region_byupd"]
    finally:
        publishing.publish(Actor.system("tests"), json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8")))
    assert names() == [f"record_f{form.id}_status_byowner", f"record_f{form.id}_status_byupd"]


def test_references_must_point_to_a_record_the_actor_may_see(clean_db):
    mine = service.create_record(actor_of("sales01"), "customer", dict(VALID_CUSTOMER))
    theirs = service.create_record(actor_of("sales02"), "customer", dict(VALID_CUSTOMER))
    visit = {"kind": "call", "happened_on": "2026-11-02", "summary": "电话沟通"}
    ok = service.create_record(actor_of("sales01"), "followup", {**visit, "customer_id": mine.id})
    assert ok.data["customer_id"] == mine.id
    for bad in (theirs.id, 999999):
        with pytest.raises(Invalid) as exc:
            service.create_record(actor_of("sales01"), "followup", {**visit, "customer_id": bad})
        assert exc.value.field == "customer_id" and exc.value.code == "unknown_reference"
    with pytest.raises(Invalid):
        service.update_record(actor_of("sales01"), "followup", ok.id, {"customer_id": theirs.id}, expected_version=1)
