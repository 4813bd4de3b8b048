"""The audit search: free combination of filters, field rights on values, audited CSV export."""
import datetime as dt

from formwarden.models import AuditEvent
from formwarden.records import service
from tests.conftest import actor_of

API = "/api/v1/audit/events"


def _story():
    admin, manager = actor_of("admin"), actor_of("manager")
    a = service.create_record(admin, "customer", {"name": "甲", "status": "negotiating", "owner": "sales01",
                                                  "contract_amount": 100, "id_number": "11010519491231002X"})
    b = service.create_record(admin, "customer", {"name": "乙", "status": "lead", "owner": "sales02"})
    service.update_record(manager, "customer", a.id, {"contract_amount": 90}, expected_version=1, reason="折扣")
    service.update_record(manager, "customer", b.id, {"status": "contacted"}, expected_version=1)
    return a.id, b.id


def test_filters_combine(login_as):
    a, b = _story()
    c = login_as("admin")
    r = c.get(API, query_string={"actor": "manager", "form": "customer", "field": "contract_amount"})
    assert [(e["record"], e["changes"], e["reason"]) for e in r.json["items"]] == [(a, {"contract_amount": [100, 90]}, "折扣")]
    r = c.get(API, query_string={"actor": "manager", "action": "update"})
    assert {e["record"] for e in r.json["items"]} == {a, b}
    r = c.get(API, query_string={"record": b, "form": "customer"})
    assert [e["action"] for e in r.json["items"]] == ["update", "create"]
    today = dt.datetime.now(dt.UTC).date()
    r = c.get(API, query_string={"since": (today - dt.timedelta(days=7)).isoformat(), "until": today.isoformat(),
                                 "field": "contract_amount"})
    assert r.json["total"] == 2  # the create and the change
    r = c.get(API, query_string={"since": (today + dt.timedelta(days=1)).isoformat()})
    assert r.json["total"] == 0
    assert c.get(API, query_string={"since": "yesterday"}).status_code == 422
    assert c.get(API, query_string={"field": "Robert'); DROP"}).status_code == 422


def test_values_follow_the_viewers_field_rights(login_as):
    a, _ = _story()
    items = login_as("auditor").get(API, query_string={"record": a}).json["items"]
    create = items[-1]
    assert create["changes"] == {} and "contract_amount" in create["changed_without_access"]
    assert "11010519491231002X" not in str(items)
    admin_items = login_as("admin").get(API, query_string={"record": a}).json["items"]
    assert admin_items[-1]["changes"]["contract_amount"] == [None, 100]
    assert admin_items[-1]["changes"]["id_number"][1] == "110105********002X"  # restricted: masked in search


def test_only_admins_and_auditors(login_as):
    _story()
    for user in ("sales01", "manager", "finance"):
        assert login_as(user).get(API).status_code == 403
        assert login_as(user).get("/audit").status_code == 403


def test_csv_export_is_audited(login_as):
    a, _ = _story()
    c = login_as("auditor")
    r = c.get("/audit/export.csv", query_string={"record": a})
    text = r.get_data(as_text=True)
    assert r.status_code == 200 and text.startswith("\ufeffseq,at_utc,actor")
    assert len(text.strip().splitlines()) == 3  # header + create + update
    last = AuditEvent.select().order_by(AuditEvent.seq.desc()).first()
    assert last.action == "audit_export" and last.actor_name == "auditor" and '"count": [null, 2]' in last.diff


def test_audit_page_renders_and_pages(login_as):
    _story()
    c = login_as("auditor")
    page = c.get("/audit?form=customer").get_data(as_text=True)
    assert "审计" in page and "manager" in page
    frag = c.get("/audit?form=customer&per_page=1&page=2", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert frag.lstrip().startswith('<div id="results">') and "第 2 /" in frag


def test_the_field_index_is_rebuilt_from_existing_events_by_its_migration(clean_db):
    import importlib

    from formwarden import db
    from formwarden.audit.field_index import index_pending, indexed_upto
    from formwarden.models import AuditEventField
    from formwarden.records import service
    from tests.conftest import VALID_CUSTOMER, actor_of

    rec = service.create_record(actor_of("admin"), "customer", dict(VALID_CUSTOMER))
    service.update_record(actor_of("admin"), "customer", rec.id, {"notes": "x"}, expected_version=1)
    assert index_pending() == 2 and indexed_upto() == 2
    written = sorted(AuditEventField.select(AuditEventField.field, AuditEventField.seq).tuples())
    assert ("notes", 2) in written and ("name", 1) in written
    AuditEventField.delete().execute()
    migration = importlib.import_module("formwarden.migrations.0008_audit_search_every_dimension")
    with db.database.atomic():
        migration.up(None, db.database.obj)
    assert sorted(AuditEventField.select(AuditEventField.field, AuditEventField.seq).tuples()) == written
    assert indexed_upto() == 2


def test_a_field_search_is_exact_before_and_after_the_index_catches_up(login_as, clean_db):
    from formwarden.audit.field_index import index_pending
    from formwarden.records import service
    from tests.conftest import VALID_CUSTOMER, actor_of

    admin = actor_of("admin")
    ids = [service.create_record(admin, "customer", dict(VALID_CUSTOMER)).id for _ in range(3)]
    for rid in ids:
        service.update_record(admin, "customer", rid, {"notes": f"n{rid}"}, expected_version=1)
    c = login_as("admin")

    def seqs(**params):
        body = c.get("/api/v1/audit/events", query_string={"field": "notes", **params}).json
        return [e["seq"] for e in body["items"]], body["total"]

    before = seqs()
    assert before == ([6, 5, 4], 3)
    from formwarden.audit.field_index import index_batch, indexed_upto

    index_batch(limit=5)  # partly indexed: the newer ones are read from their diffs
    assert indexed_upto() == 5
    assert seqs() == before and seqs(per_page=2) == ([6, 5], 3) and seqs(per_page=2, page=2) == ([4], 3)
    index_pending()
    assert seqs() == before and seqs(per_page=2, page=2) == ([4], 3)


def test_audit_page_takes_field_labels_and_explains_bad_filters_inside_the_results(login_as, clean_db):
    from formwarden.records import service
    from tests.conftest import VALID_CUSTOMER, actor_of

    rec = service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "status": "negotiating",
                                                                "contract_amount": 5})
    service.update_record(actor_of("admin"), "customer", rec.id, {"contract_amount": 7}, expected_version=1,
                          reason="price list")
    c = login_as("auditor")
    by_label = c.get("/audit", query_string={"field": "合同金额"}, headers={"HX-Request": "true"})
    by_key = c.get("/audit", query_string={"field": "contract_amount"}, headers={"HX-Request": "true"})
    assert by_label.status_code == 200 and "2 条事件" in by_label.get_data(as_text=True)
    assert by_key.get_data(as_text=True).count("<tr>") == by_label.get_data(as_text=True).count("<tr>")
    bad = c.get("/audit", query_string={"record": "abc"}, headers={"HX-Request": "true"})
    body = bad.get_data(as_text=True)
    assert bad.status_code == 200 and 'id="results"' in body and 'class="alert error"' in body


def test_sorting_offers_no_encrypted_field(login_as):
    page = login_as("admin").get("/f/customer/").get_data(as_text=True)
    assert "sort=id_number" not in page and "sort=-id_number" not in page


def test_entries_about_people_and_policies_read_as_words(login_as):
    """No raw keys, Python lists or dicts on the audit page: a policy change names the role and
    the field, levels and roles are in the reader's language."""
    from formwarden.catalog import policies
    from formwarden.forms import versions
    from tests.conftest import actor_of

    access = policies.current_access(versions.get_form("customer"))
    changed = {**access, "sales": {**access["sales"], "fields": {**access["sales"]["fields"], "notes": "masked"}}}
    policies.save(actor_of("admin"), "customer", changed, reason="销售只看备注的脱敏值")
    try:
        page = login_as("admin").get("/audit?form=customer").get_data(as_text=True)
        assert "销售 · 备注" in page and "脱敏" in page
        assert "sales.fields.notes" not in page and "['" not in page and "{'" not in page
    finally:
        policies.save(actor_of("admin"), "customer", access, reason="还原")
