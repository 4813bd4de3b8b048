"""What an outside attack on the builder found, each held shut: the builder never decides who
sees what, never shows what the designer may not read, and never lets a rule answer questions."""
import io
import json
import uuid

import pytest
from werkzeug.datastructures import MultiDict

from formwarden.access.actor import Actor
from formwarden.catalog import designs, policies, publishing
from formwarden.errors import Invalid
from formwarden.forms import builder, versions
from formwarden.models import Form
from formwarden.records import service
from tests.conftest import VALID_CUSTOMER, actor_of


def _edit(who, key, change):
    return designs.edit(who, key, designs.draft(key)["rev"], change)


def _refused_for_a_designer(designer, change) -> list:
    """Apply `change(doc)` to the customer draft as `designer`; publishing it is refused. Returns the problems."""
    def edit(doc):
        change(doc)
        return doc
    _edit(designer, "customer", edit)
    found = designs.problems(designs.draft("customer")["doc"], designer)
    with pytest.raises(Invalid):
        designs.publish(designer, "customer", designs.draft("customer")["rev"])
    return found


def test_a_designer_cannot_unmask_or_lower_sensitivity(restore_customer):
    manager = actor_of("manager")
    _edit(manager, "customer", lambda d: builder.update_field(d, "mobile", MultiDict(
        {"label_zh": "手机号", "label_en": "Mobile", "kind": "cn-mobile", "mask": "keep:0,10", "sensitivity": "internal"})))
    found = designs.problems(designs.draft("customer")["doc"], manager)
    assert {p.pointer for p in found} >= {"/properties/mobile/x-mask", "/properties/mobile/x-sensitivity"}
    with pytest.raises(Invalid):
        designs.publish(manager, "customer", designs.draft("customer")["rev"])
    assert designs.problems(designs.draft("customer")["doc"], actor_of("admin")) == []  # access managers may
    designs.discard(manager, "customer")


@pytest.mark.parametrize("change,pointer", [
    # a format whose default mask shows more than the field's mask in effect ("all" hidden): a mask change
    (lambda d: d["properties"]["notes"].update({"format": "cn-uscc"}), "/properties/notes/x-mask"),
    (lambda d: (d["properties"].update({"owner2": {"type": "string", "x-widget": "member",
                                                    "x-label": {"zh-CN": "新负责人", "en": "New owner"}}}),
                d["x-layout"]["sections"][0]["fields"].append("owner2"), d["x-form"].update({"owner_field": "owner2"})),
     "/x-form/owner_field"),
    (lambda d: d["properties"]["owner"].update({"x-widget": "text"}), "/properties/owner"),
])
def test_effective_masks_and_the_owner_are_access_decisions(restore_customer, change, pointer):
    """Guarding x-mask alone let a plugin format's weaker default mask in; scopes follow the owner."""
    manager = actor_of("manager")
    found = _refused_for_a_designer(manager, change)
    assert (pointer, "access_decision") in {(p.pointer, p.code) for p in found}
    assert "access_decision" not in {p.code for p in designs.problems(designs.draft("customer")["doc"], actor_of("admin"))}
    designs.discard(manager, "customer")


def test_removing_a_field_keeps_the_policy_in_force(restore_customer):
    admin, manager = actor_of("admin"), actor_of("manager")
    access = policies.current_access(Form.get(Form.key == "customer"))
    access["sales"]["fields"]["notes"] = "hidden"
    policies.save(admin, "customer", access, reason="notes are internal")
    _edit(manager, "customer", lambda d: builder.remove_field(d, "industry"))
    designs.publish(manager, "customer", designs.draft("customer")["rev"])
    after = policies.current_access(Form.get(Form.key == "customer"))
    assert after["sales"]["fields"]["notes"] == "hidden" and "industry" not in after["sales"]["fields"]


def test_a_designers_file_grants_nothing_on_a_new_form(clean_db):
    key = "leads_" + uuid.uuid4().hex[:6]
    manager = actor_of("manager")
    doc = builder.new_form(key, "线索", "Leads")
    doc, _ = builder.add_field(doc, "text", "名称", "Name")
    doc["x-access"]["sales"] = {"scope": "all", "actions": ["create", "read", "update", "delete", "export"],
                                "fields": {"name": "write"}}
    designs.create(manager, key, "线索", "Leads")
    designs.import_file(manager, key, json.dumps(doc).encode())
    designs.publish(manager, key, designs.draft(key)["rev"])
    form = Form.get(Form.key == key)
    assert "sales" not in policies.current_access(form) and policies.undecided(form) == ["name"]
    exported = designs.export(manager, key)
    assert exported["x-access"] == builder.new_form("x", "x", "x")["x-access"]  # the policy is not a designer's


def test_a_removed_fields_key_is_never_given_to_a_new_field(restore_customer):
    manager = actor_of("manager")
    _edit(manager, "customer", lambda d: builder.remove_field(d, "notes"))
    designs.publish(manager, "customer", designs.draft("customer")["rev"])
    taken = designs.retired_keys("customer")
    doc, key = builder.add_field(designs.draft("customer")["doc"], "textarea", "备注", "Notes", taken=taken)
    assert key != "notes"
    doc["properties"]["notes"] = doc["properties"].pop(key)  # a file that names the old key again
    for section in doc["x-layout"]["sections"]:
        section["fields"] = ["notes" if n == key else n for n in section["fields"]]
    assert any(p.code == "key_reused" for p in designs.problems(doc, manager))


@pytest.mark.parametrize("amount_level", ["hidden", "masked"])
def test_rules_never_answer_for_fields_the_writer_cannot_read(clean_db, amount_level):
    key = "probe_" + uuid.uuid4().hex[:6]
    publishing.publish(Actor.system("t"), {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False,
        "x-form": {"key": key, "title": {"zh-CN": "探针", "en": "Probe"}, "owner_field": "owner"},
        "properties": {"amount": {"type": "number", "x-label": {"zh-CN": "金额", "en": "Amount"}},
                       "owner": {"type": "string", "x-widget": "member", "x-label": {"zh-CN": "负责人", "en": "Owner"}},
                       "tags": {"type": "string", "x-label": {"zh-CN": "标签", "en": "Tags"}}},
        "x-rules": [{"when": {"field": "amount", "gt": 100}, "show": ["tags"]}],
        "x-access": {"admin": {"scope": "all", "actions": ["create", "read", "update"], "fields": {"*": "write"}},
                     "sales": {"scope": "own", "actions": ["read", "update"],
                               "fields": {"tags": "write", "amount": amount_level}}}})
    versions.forget_forms()
    admin, sales = actor_of("admin"), actor_of("sales01")
    big = service.create_record(admin, key, {"amount": 500, "tags": "老", "owner": "sales01"})
    none = service.create_record(admin, key, {"owner": "sales01"})
    answers = []
    for rec in (big, none):
        with pytest.raises(Invalid) as refused:
            service.update_record(sales, key, rec.id, {"tags": "探"}, expected_version=1)
        answers.append((refused.value.field, refused.value.message, refused.value.details))
    # the same answer whatever the hidden amount: the rule is read on what sales sees (no amount),
    # so the tag sent would be stored on neither record (refused, never a quiet success), the refusal
    # names the field the rule reads only to who may see it, and the tag stored before is not lost
    assert answers[0] == answers[1] and answers[0][0] == "tags"
    assert ("amount" in str(answers[0])) == (amount_level == "masked")
    assert service.get_record(admin, key, big.id).data["tags"] == "老"
    assert service.update_record(sales, key, big.id, {"tags": "老"}, expected_version=1).version == 1  # unchanged


@pytest.mark.parametrize("body", [b"[" * 60000, json.dumps({"x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}).encode(),
                                  b'{"a": NaN}'])
def test_hostile_imports_are_clear_errors(login_as, body):
    c = login_as("manager")
    page = c.get("/design/customer").text
    rev = page.split('name="rev" value="')[1].split('"')[0]
    r = c.post("/design/customer/import", data={"csrf_token": c.csrf, "rev": rev, "file": (io.BytesIO(body), "f.json")},
               content_type="multipart/form-data")
    assert r.status_code == 302 and designs.draft("customer")["edited"] is False


@pytest.mark.parametrize("field, value", [("minimum", "1e400"), ("maximum", "nan"), ("default", "inf"),
                                          ("minimum", "1e20")])
def test_numbers_in_field_settings_are_finite_and_bounded(field, value):
    doc = builder.new_form("nums", "数", "Nums")
    doc, key = builder.add_field(doc, "number", "数", "Num")
    with pytest.raises(Invalid):
        builder.update_field(doc, key, MultiDict({"label_zh": "数", "label_en": "Num", field: value}))


def test_conversions_need_rights_over_every_affected_record(restore_customer):
    rec = service.create_record(actor_of("admin"), "customer", dict(VALID_CUSTOMER, owner="admin", industry="retail"))
    manager = actor_of("manager")  # the administrator's own customer is outside the manager's teams
    _edit(manager, "customer", lambda d: builder.update_field(d, "industry", MultiDict(
        {"label_zh": "行业", "label_en": "Industry", "kind": "select", "options": "制造业 | Manufacturing"})))
    plan = designs.preview(manager, "customer")
    # judged over a record the manager may not read: an access decision, decided before any value is looked at
    assert ("/properties/industry", "access_decision") in {(p.pointer, p.code) for p in plan["problems"]}
    assert plan["conversions"] == {}
    with pytest.raises(Invalid) as err:
        designs.publish(manager, "customer", designs.draft("customer")["rev"], convert_fields=["industry"])
    assert err.value.code == "invalid_definition" and "records" not in str(err.value.details)
    assert service.get_record(actor_of("admin"), "customer", rec.id).data["industry"] == "retail"
    designs.discard(manager, "customer")


@pytest.mark.parametrize("digit", ["1", "9"])
def test_a_pattern_is_no_oracle_on_values_the_designer_cannot_read(restore_customer, digit):
    """A prefix pattern on the (masked, restricted) resident ID refused publishing with a count
    over every record: tried digit by digit it recovered the ID. The answer now never depends on
    the stored values the designer may not read."""
    service.create_record(actor_of("admin"), "customer", dict(VALID_CUSTOMER, owner="sales01",
                                                              id_number="11010519491231002X"))
    manager = actor_of("manager")

    def tighten(doc):
        doc["properties"]["id_number"]["pattern"] = f"^{digit}"
        return doc
    _edit(manager, "customer", tighten)
    plan = designs.preview(manager, "customer")
    answer = sorted((p.pointer, p.code, p.reason) for p in plan["problems"])
    assert ("/properties/id_number", "access_decision") in {(p, c) for p, c, _r in answer}
    assert plan["conversions"] == {}
    with pytest.raises(Invalid) as err:
        designs.publish(manager, "customer", designs.draft("customer")["rev"], convert_fields=["id_number"])
    assert "count" not in str(err.value.details) and "record(s)" not in str(err.value.details)
    designs.discard(manager, "customer")


def test_access_decisions_are_said_in_the_designers_language(restore_customer, login_as):
    service.create_record(actor_of("admin"), "customer", dict(VALID_CUSTOMER, owner="sales01"))
    manager = login_as("manager")
    _edit(actor_of("manager"), "customer", lambda d: (d["properties"]["id_number"].update({"pattern": "^1"}), d)[1])
    page = manager.get("/design/customer").get_data(as_text=True)
    assert "基于您无权查看的值来判断" in page and "ask an administrator" not in page
    designs.discard(actor_of("manager"), "customer")


@pytest.mark.parametrize("change", [
    lambda d: d["properties"]["id_number"].update({"not": {"pattern": "^1"}}),
    lambda d: d["properties"]["id_number"].update({"allOf": [{"pattern": "^1"}]}),
    lambda d: d.update({"allOf": [{"if": {"properties": {"id_number": {"pattern": "^1"}}, "required": ["id_number"]},
                                   "then": {"properties": {"notes": {"maxLength": 1}}}}]}),
])
def test_any_keyword_that_checks_values_is_no_oracle_either(restore_customer, change):
    """Guarding type, pattern and limits let `not`, `allOf` and whole-record if/then through: a
    designer probed a masked resident ID digit by digit (found by an outside attack)."""
    service.create_record(actor_of("admin"), "customer", dict(VALID_CUSTOMER, owner="sales01",
                                                              id_number="11010519491231002X"))
    manager = actor_of("manager")
    found = _refused_for_a_designer(manager, change)
    assert "access_decision" in {p.code for p in found}
    designs.discard(manager, "customer")


def test_what_waits_for_an_access_manager_reaches_their_home_and_header(restore_customer, login_as):
    """A publish leaves new fields undecided: the access managers' home lists them (linking to the
    matrix) and the header counts them; the designer sees whom they wait for. A change only an
    access manager may publish is handed over with a note, never a disabled checkbox."""
    from formwarden.models import AuditEvent

    manager = actor_of("manager")
    _edit(manager, "customer", lambda d: builder.add_field(d, "text", "微信号", "WeChat",
                                                           taken=designs.retired_keys("customer"))[0])
    designs.publish(manager, "customer", designs.draft("customer")["rev"])
    admin = login_as("admin")
    home = admin.get("/").get_data(as_text=True)
    assert "客户：1 个字段等待你决定" in home and "/access/customer" in home and "微信号" in home
    assert "待决定" in home and 'class="count-badge"' in home  # the header counts it on every page
    page = login_as("manager").get("/design/customer").get_data(as_text=True)
    assert "1 个字段等待权限管理员决定" in page and "由他们决定" in page
    assert "待决定" not in login_as("manager").get("/design/").get_data(as_text=True)  # not an access manager

    # a check judged over values the designer may not read: handed over with a note
    service.create_record(actor_of("admin"), "customer", dict(VALID_CUSTOMER, owner="sales01"))
    _edit(manager, "customer", lambda d: (d["properties"]["id_number"].update({"pattern": "^1"}), d)[1])
    designer = login_as("manager")
    page = designer.get("/design/customer/publish").get_data(as_text=True)
    assert 'id="handover"' in page and "disabled" not in page
    rev = designs.draft("customer")["rev"]
    r = designer.post("/design/customer/publish/request", data={"csrf_token": designer.csrf, "rev": rev,
                                                                 "note": "身份证号只收 1 开头"})
    assert r.status_code == 302 and AuditEvent.select().where(AuditEvent.action == "form_publish_request").exists()
    home = admin.get("/").get_data(as_text=True)
    assert "请你发布新版本" in home and "身份证号只收 1 开头" in home
    assert "身份证号只收 1 开头" in admin.get("/design/customer/publish").get_data(as_text=True)
    designs.publish(actor_of("admin"), "customer", rev)  # the access manager publishes: the request is done
    assert "请你发布新版本" not in admin.get("/").get_data(as_text=True)
