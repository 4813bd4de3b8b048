"""Access policies are versioned on their own: the matrix draft, saving with the publish-time
checks, history with diffs, rollback, x-access export/import, new fields hidden until decided,
and every change applying on the next request."""
import json

import pytest

from formwarden.access import gate
from formwarden.access.actor import Actor
from formwarden.catalog import policies, publishing
from formwarden.config import REPO_ROOT
from formwarden.errors import Conflict, Forbidden, Invalid
from formwarden.forms import versions
from formwarden.models import AuditEvent, Form
from tests.conftest import VALID_CUSTOMER, actor_of

ADMIN = "admin"


def _file(name="customer"):
    return json.loads((REPO_ROOT / "form_defs" / f"{name}.json").read_text("utf-8"))


def _save(actor, reason):
    """Save the draft as its editor saw it."""
    return policies.save_draft(actor, "customer", reason, policies.draft("customer")["rev"])


def _level(username, field, owner="sales01"):
    form, formdef = versions.current("customer")
    who = actor_of(username)
    from formwarden.models import User
    return gate.record_rights(who, formdef, User.get(User.username == owner).id).level(field)


def test_a_matrix_edit_is_a_draft_until_saved_then_applies_at_once(restore_customer):
    admin = actor_of(ADMIN)
    assert _level("sales01", "mobile") == "write"
    policies.edit_draft(admin, "customer", {"op": "level", "role": "sales", "field": "mobile", "level": "masked"})
    assert _level("sales01", "mobile") == "write"  # a draft does nothing
    before = Form.get(Form.key == "customer").policy_version
    row = _save(admin, "mobile numbers leak through screenshots")
    assert row.version == before + 1
    versions.forget_forms()
    assert _level("sales01", "mobile") == "masked"
    event = AuditEvent.select().where(AuditEvent.action == "policy_change").order_by(AuditEvent.seq.desc()).first()
    assert json.loads(event.diff)["sales.fields.mobile"] == ["write", "masked"]
    assert event.reason == "mobile numbers leak through screenshots" and event.actor_name == "admin"
    assert [h.version for h in policies.history("customer")][:2] == [before + 1, before]


def test_rollback_is_a_new_version(restore_customer):
    admin = actor_of(ADMIN)
    start = Form.get(Form.key == "customer").policy_version
    policies.edit_draft(admin, "customer", {"op": "row", "field": "notes", "level": "hidden"})
    _save(admin, "hide notes")
    versions.forget_forms()
    assert _level("manager", "notes") == "hidden"
    row = policies.rollback(admin, "customer", start, "notes are needed after all")
    assert row.version == start + 2
    versions.forget_forms()
    assert _level("manager", "notes") == "read" or _level("manager", "notes") == "write"
    assert "rollback to version" in row.reason


def test_saving_runs_the_publish_checks(restore_customer):
    admin = actor_of(ADMIN)
    # sales may create customers, and name is required: hiding it leaves sales unable to save
    policies.edit_draft(admin, "customer", {"op": "level", "role": "sales", "field": "name", "level": "read"})
    with pytest.raises(Invalid) as exc:
        _save(admin, "try")
    assert any("name" in d["pointer"] for d in exc.value.details)
    _, problems, _ = policies.check(Form.get(Form.key == "customer"), policies.draft("customer")["access"])
    assert problems


def test_warnings_name_exposure(restore_customer):
    form = Form.get(Form.key == "customer")
    access = policies.current_access(form)
    access["finance"]["fields"]["id_number"] = "read"  # finance exports
    _, problems, warnings = policies.check(form, access)
    assert not problems
    assert any("id_number" in w.pointer and "finance" in w.pointer for w in warnings)


def test_stale_draft_is_refused(restore_customer):
    admin = actor_of(ADMIN)
    policies.edit_draft(admin, "customer", {"op": "scope", "role": "intern", "scope": "team"})
    draft = policies.draft("customer")
    policies.save(admin, "customer", policies.current_access(Form.get(Form.key == "customer")) | {
        "intern": {**policies.current_access(Form.get(Form.key == "customer"))["intern"], "actions": ["read"]}},
        reason="someone else first")
    with pytest.raises(Conflict):
        policies.save(admin, "customer", draft["access"], reason="late", base_version=draft["base"])


def test_only_access_managers_edit(restore_customer):
    for who in ("manager", "auditor", "sales01"):
        with pytest.raises(Forbidden):
            policies.edit_draft(actor_of(who), "customer", {"op": "scope", "role": "sales", "scope": "all"})
        with pytest.raises(Forbidden):
            policies.save(actor_of(who), "customer", _file()["x-access"], reason="x")


def test_bad_edits_are_clear_errors(restore_customer):
    admin = actor_of(ADMIN)
    for change, field in (({"op": "level", "role": "sales", "field": "nope", "level": "read"}, "field"),
                          ({"op": "level", "role": "ghost", "field": "name", "level": "read"}, "role"),
                          ({"op": "level", "role": "sales", "field": "name", "level": "owner"}, "level"),
                          ({"op": "scope", "role": "sales", "scope": "world"}, "scope"),
                          ({"op": "action", "role": "sales", "action": "fly", "on": True}, "action"),
                          ({"op": "explode"}, "op")):
        with pytest.raises(Invalid) as exc:
            policies.edit_draft(admin, "customer", change)
        assert exc.value.field == field


def test_x_access_round_trip_is_lossless(restore_customer):
    admin = actor_of(ADMIN)
    exported = policies.export_access("customer")
    assert exported == _file()["x-access"]
    changed = json.loads(json.dumps(exported))
    changed["support"]["fields"]["company"] = "masked"
    policies.import_access(admin, "customer", json.dumps({"x-access": changed}), reason="import from file")
    assert policies.export_access("customer") == changed
    whole = _file()
    whole["x-access"] = changed
    assert policies.import_access(admin, "customer", json.dumps(whole), reason="same again") is None  # no change
    with pytest.raises(Invalid):
        policies.import_access(admin, "customer", json.dumps({"x-form": {"key": "contract"}, "x-access": changed}),
                               reason="wrong form")
    with pytest.raises(Invalid):
        policies.import_access(admin, "customer", "{not json", reason="broken")


def test_new_fields_start_hidden_and_undecided(restore_customer):
    doc = _file()
    doc["properties"]["wechat"] = {"type": "string", "maxLength": 40, "x-label": {"zh-CN": "微信", "en": "WeChat"}}
    publishing.publish(Actor.system("t"), doc)
    form = Form.get(Form.key == "customer")
    assert policies.undecided(form) == ["wechat"]
    assert policies.undecided_by_form()[form.id] == ["wechat"]  # what the header counts, in one query
    versions.forget_forms()
    for who in ("admin", "manager", "sales01", "support"):
        assert _level(who, "wechat") == "hidden", who  # a "*" wildcard never hands a new field out
    policies.edit_draft(actor_of(ADMIN), "customer", {"op": "level", "role": "sales", "field": "wechat",
                                                      "level": "write"})
    assert policies.draft("customer")["undecided"] == []
    _save(actor_of(ADMIN), "sales keep WeChat ids")
    assert policies.undecided(Form.get(Form.key == "customer")) == []
    assert form.id not in policies.undecided_by_form()


def test_a_definition_without_access_changes_keeps_the_policy_in_force(restore_customer):
    admin = actor_of(ADMIN)
    policies.edit_draft(admin, "customer", {"op": "level", "role": "support", "field": "company", "level": "masked"})
    _save(admin, "support sees companies masked")
    doc = _file()
    doc["properties"]["notes"]["maxLength"] = doc["properties"]["notes"].get("maxLength", 2000) + 1
    publishing.publish(Actor.system("t"), doc)
    versions.forget_forms()
    assert _level("support", "company") == "masked"


def test_records_still_work_under_a_new_policy(restore_customer, login_as):
    from formwarden.records import service

    rec = service.create_record(actor_of("sales01"), "customer", dict(VALID_CUSTOMER))
    policies.edit_draft(actor_of(ADMIN), "customer", {"op": "level", "role": "sales", "field": "mobile",
                                                      "level": "masked"})
    _save(actor_of(ADMIN), "mask mobiles")
    page = login_as("sales01").get(f"/f/customer/{rec.id}").get_data(as_text=True)
    assert VALID_CUSTOMER["mobile"] not in page


def test_policy_changes_are_searchable_in_the_audit_trail(restore_customer, login_as):
    policies.edit_draft(actor_of(ADMIN), "customer", {"op": "level", "role": "support", "field": "company",
                                                      "level": "masked"})
    _save(actor_of(ADMIN), "support needs less")
    body = login_as("auditor").get("/api/v1/audit/events?action=policy_change").get_json()
    event = body["events"][0] if "events" in body else body["items"][0]
    assert event["reason"] == "support needs less"
    assert event["changes"]["support.fields.company"] == ["read", "masked"]


def test_a_rollback_or_an_old_export_does_not_unhide_a_field_added_since(restore_customer):
    admin = actor_of(ADMIN)
    old_version = Form.get(Form.key == "customer").policy_version
    old_export = json.dumps({"x-access": policies.export_access("customer")})
    doc = _file()
    doc["properties"]["bank_account"] = {"type": "string", "maxLength": 40,
                                         "x-label": {"zh-CN": "银行账号", "en": "Bank account"}}
    publishing.publish(Actor.system("t"), doc)
    policies.rollback(admin, "customer", old_version, "back to before")
    versions.forget_forms()
    assert _level("manager", "bank_account") == "hidden"
    assert "bank_account" in policies.undecided(Form.get(Form.key == "customer"))
    policies.import_access(admin, "customer", old_export, "old file")
    versions.forget_forms()
    assert _level("manager", "bank_account") == "hidden"


def test_a_policy_names_only_existing_roles_and_a_named_role_is_never_deleted(restore_customer):
    from formwarden.auth import roles

    admin = actor_of(ADMIN)
    block = policies.export_access("customer")
    block["contractor"] = {"scope": "all", "actions": ["read"], "fields": {"*": "read"}}
    with pytest.raises(Invalid) as exc:
        policies.import_access(admin, "customer", json.dumps({"x-access": block}), "sneak a role in")
    assert exc.value.code == "unknown_role"
    roles.create_role(admin, "short_lived")
    try:
        policies.edit_draft(admin, "customer", {"op": "add_role", "role": "short_lived"})
        _save(admin, "try a column")
        policies.edit_draft(admin, "customer", {"op": "remove_role", "role": "short_lived"})
        _save(admin, "remove it again")
        with pytest.raises(Invalid) as exc:
            roles.delete_role(admin, "short_lived")  # an old version names it: retire instead
        assert exc.value.code == "role_in_policy"
    finally:
        from formwarden.models import Role
        Role.update(retired_at=None).where(Role.name == "short_lived").execute()


def test_a_draft_changed_by_someone_else_is_not_saved_in_my_name(restore_customer):
    admin = actor_of(ADMIN)
    policies.edit_draft(admin, "customer", {"op": "level", "role": "sales", "field": "notes", "level": "read"})
    seen = policies.draft("customer")["rev"]
    policies.edit_draft(Actor.system("other-admin"), "customer",
                        {"op": "level", "role": "intern", "field": "id_number", "level": "read"})
    with pytest.raises(Conflict):
        policies.save_draft(admin, "customer", "notes read-only for sales", seen)
    policies.save_draft(admin, "customer", "both changes reviewed", policies.draft("customer")["rev"])
    event = AuditEvent.select().where(AuditEvent.action == "policy_change").order_by(AuditEvent.seq.desc()).first()
    assert json.loads(event.diff)["draft_by"][1] == ["admin", "job:other-admin"]


@pytest.mark.parametrize("body", [
    "[" * 100000 + "]" * 100000, '{"x-form": 5, "x-access": {}}', '{"x-form": []}',
    '{"x-access": {"\\ud800": 1}}', '{"x-access": {"sales": ' + "[" * 3000 + "]" * 3000 + "}}",
    json.dumps({"x-access": {f"r{i}": {"scope": "all", "actions": [], "fields": {}} for i in range(2000)}}),
    '{"x-access": {"admin": {"scope": "all", "actions": [], "fields": ' + '{"a": ' * 700 + "1" + "}" * 700 + "}}}",
    '{"x-access": {"admin": {"scope": "all", "actions": [], "fields": {}, "junk": ' + "[" * 900 + "]" * 900 + "}}}",
    '{"x-access": {"sales": {"scope": "all", "actions": [], "fields": {}}, "sales": {"scope": "own", "actions": [],'
    ' "fields": {}}}}',
])
def test_hostile_imports_are_clear_errors(restore_customer, login_as, body):
    import io

    admin = login_as(ADMIN)
    r = admin.post("/admin/access/customer/import", data={"reason": "hostile", "file": (io.BytesIO(body.encode()),
                                                                                        "x.json")},
                   content_type="multipart/form-data")
    assert r.status_code == 302
    assert admin.get("/admin/access/customer").status_code == 200  # the next page still works
    assert policies.export_access("customer") == _file()["x-access"]


def test_an_old_export_cannot_unhide_through_a_wildcard(restore_customer):
    admin = actor_of(ADMIN)
    policies.edit_draft(admin, "customer", {"op": "level", "role": "support", "field": "*", "level": "read"})
    _save(admin, "support reads everything")
    old_export = json.dumps({"x-access": policies.export_access("customer")})
    policies.edit_draft(admin, "customer", {"op": "level", "role": "support", "field": "*", "level": "hidden"})
    _save(admin, "support reads only what is named")
    doc = _file()
    doc["properties"]["vip_score"] = {"type": "integer", "x-label": {"zh-CN": "VIP 分", "en": "VIP score"}}
    publishing.publish(Actor.system("t"), doc)
    policies.import_access(admin, "customer", old_export, "old file")
    versions.forget_forms()
    assert _level("support", "vip_score", owner="sales01") == "hidden"


def test_a_definition_naming_an_unknown_role_brings_it_in_retired(restore_customer):
    from formwarden.models import Role

    doc = _file()
    doc["x-access"]["ghost_role"] = {"scope": "all", "actions": ["read", "export"], "fields": {"*": "read"}}
    try:
        publishing.publish(Actor.system("t"), doc)
        assert Role.get(Role.name == "ghost_role").retired_at is not None
    finally:
        publishing.publish(Actor.system("t"), _file())
        Role.delete().where(Role.name == "ghost_role").execute()
