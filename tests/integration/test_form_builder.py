"""The form builder through its pages: a manager (form designer) builds a form with a rule,
publishes it, changes it; checks and conversions; export and import; plugins reported."""
import json
import re
import uuid

import pytest

from formwarden.catalog import policies
from formwarden.errors import Invalid
from formwarden.models import AuditEvent, Form
from formwarden.records import service
from formwarden.records.history import history as service_history
from tests.conftest import actor_of


def _rev(page: str) -> str:
    return re.search(r'name="rev" value="([0-9a-f]+)"', page).group(1)


def _post(c, key, path, data):
    page = c.get(f"/design/{key}").text
    return c.post(f"/design/{key}{path}", data={"csrf_token": c.csrf, "rev": _rev(page), **data})


def _build(c, key):
    r = c.post("/design/new", data={"csrf_token": c.csrf, "key": key, "title_zh": "拜访报告", "title_en": "Visit report"})
    assert r.status_code == 302
    _post(c, key, "/fields", {"kind": "text", "label_zh": "主题", "label_en": "Subject"})
    _post(c, key, "/fields/subject", {"label_zh": "主题", "label_en": "Subject", "required": "1", "kind": "text"})
    _post(c, key, "/fields", {"kind": "select", "label_zh": "方式", "label_en": "Kind"})
    _post(c, key, "/fields/kind", {"label_zh": "方式", "label_en": "Kind", "kind": "select",
                                   "options": "上门 | On site\n电话 | Phone"})
    _post(c, key, "/fields", {"kind": "cn-resident-id", "label_zh": "证件号", "label_en": "ID number"})
    _post(c, key, "/fields", {"kind": "textarea", "label_zh": "路线", "label_en": "Route"})
    r = _post(c, key, "/rules", {"field_0": "kind", "op_0": "in", "text_0": "上门", "show": "route", "require": "route"})
    assert r.status_code == 302


def test_a_designer_builds_publishes_and_changes_a_form(login_as):
    key = "visit_" + uuid.uuid4().hex[:8]
    manager = login_as("manager")
    _build(manager, key)
    page = manager.get(f"/design/{key}").text
    assert "当方式 是其中之一 上门：显示 路线；必填 路线" in page or "When Kind" in page or "路线" in page
    r = manager.get(f"/design/{key}/publish")
    assert r.status_code == 200 and "证件号" in r.text
    r = manager.post(f"/design/{key}/publish", data={"csrf_token": manager.csrf, "rev": _rev(r.text), "note": "首版"})
    assert r.status_code == 302, r.text
    form = Form.get(Form.key == key)
    assert form.current_version == 1
    assert "首版" in manager.get(f"/design/{key}").text  # the version's note, on the version list
    assert sorted(policies.undecided(form)) == ["id_number", "kind", "route", "subject"]  # all wait for the matrix
    # the preview is the record form's own field check: choosing "on site" shows and requires the route
    r = manager.post(f"/design/{key}/preview", data={"csrf_token": manager.csrf, "_field": "kind", "kind": "on_site",
                                                     "_present": ["kind"]})
    assert 'id="f-route"' in r.text and "hidden" not in r.text.split('id="f-route"')[1].split(">")[0]
    r = manager.post(f"/design/{key}/preview", data={"csrf_token": manager.csrf, "_field": "id_number",
                                                     "id_number": "110105194912310021"})
    assert "校验码" in r.text  # the plugin's own message, in the designer's language

    # an administrator decides; a salesperson fills it (the rule decides what is stored)
    admin = actor_of("admin")
    policies.save(admin, key, {
        "admin": {"scope": "all", "actions": ["create", "read", "update", "delete", "export"], "fields": {"*": "write"}},
        "manager": {"scope": "team", "actions": ["create", "read", "update"], "fields": {"*": "write"}},
        "sales": {"scope": "own", "actions": ["create", "read", "update"],
                  "fields": {"subject": "write", "kind": "write", "route": "write", "id_number": "write"}}},
        reason="decided")
    sales = actor_of("sales01")
    with pytest.raises(Invalid) as refused:  # hidden by the rule: it would not be stored, so it is refused
        service.create_record(sales, key, {"subject": "首访", "kind": "phone", "route": "不该保存"})
    assert refused.value.field == "route" and "kind is one of on_site" in refused.value.message
    rec = service.create_record(sales, key, {"subject": "首访", "kind": "phone"})
    assert "route" not in rec.data
    v1 = service.create_record(sales, key, {"subject": "二访", "kind": "on_site", "route": "东门",
                                            "id_number": "370101190102039973"})

    # v2 adds a field and narrows the options: stored values must be converted first
    _post(manager, key, "/fields", {"kind": "date", "label_zh": "下次拜访", "label_en": "Next visit"})
    _post(manager, key, "/fields/kind", {"label_zh": "方式", "label_en": "Kind", "kind": "select",
                                         "options": "on_site | 上门 | On site"})
    plan = manager.get(f"/design/{key}/publish").text
    assert 'id="convert-kind"' in plan and f"#{rec.id}" in plan
    r = manager.post(f"/design/{key}/publish", data={"csrf_token": manager.csrf, "rev": _rev(plan)})
    assert r.status_code == 422 and Form.get(Form.key == key).current_version == 1
    assert 'name="old:kind:0" value="&#34;phone&#34;"' in plan  # each stray value gets a choice
    # a refused attempt (not ticked) re-renders the page with the choice made, not the first option
    r = manager.post(f"/design/{key}/publish", data={"csrf_token": manager.csrf, "rev": _rev(plan),
                                                     "old:kind:0": '"phone"', "map:kind:0": ""})
    assert r.status_code == 422
    chosen = re.search(r'<select name="map:kind:0".*?</select>', r.text, re.S).group(0)
    assert re.search(r'<option value=""\s+selected', chosen) and not re.search(r'value="on_site"\s+selected', chosen)
    # the preview says what each record becomes under the choice made: emptied, then kept, then converted
    sample = re.search(r'id="convert-kind".*?</tbody>', r.text, re.S).group(0)
    assert "清空" in sample or "emptied" in sample
    r = manager.post(f"/design/{key}/publish", data={"csrf_token": manager.csrf, "rev": _rev(plan), "preview_only": "1",
                                                     "old:kind:0": '"phone"', "map:kind:0": "__keep__"})
    assert r.status_code == 200 and Form.get(Form.key == key).current_version == 1  # nothing published
    sample = re.search(r'id="convert-kind".*?</tbody>', r.text, re.S).group(0)
    assert "清空" not in sample and re.search(r"电话</td>\s*<td[^>]*>电话", sample), sample
    r = manager.post(f"/design/{key}/publish", data={"csrf_token": manager.csrf, "rev": _rev(plan), "convert": "kind",
                                                     "old:kind:0": '"phone"', "map:kind:0": "on_site"})
    assert r.status_code == 302 and Form.get(Form.key == key).current_version == 2
    assert service.get_record(admin, key, rec.id).data["kind"] == "on_site"  # as the designer chose
    events = service_history(admin, key, rec.id)
    assert events[-1].changes["kind"] == ["phone", "on_site"] and "version 2" in events[-1].reason
    history = re.search(r'<section class="card timeline".*?</section>', login_as("admin").get(f"/f/{key}/{rec.id}").text,
                        re.S).group(0)
    assert "电话" in history and ">phone<" not in history  # a retired option by its label, never its key
    assert "为表单第 2 版转换" in history  # the system's reason in the reader's language
    old = service.get_record(admin, key, v1.id)
    assert old.form_version == 1 and "next_visit" not in old.data  # a v1 record opens with its v1 fields

    exported = manager.get(f"/design/{key}/export")
    doc = json.loads(exported.data)
    assert doc["x-form"]["key"] == key and "next_visit" in doc["properties"] and "x-access" in doc
    doc["properties"]["subject"]["x-label"]["en"] = "Topic"
    r = manager.post(f"/design/{key}/import", data={"csrf_token": manager.csrf,
                                                     "file": (__import__("io").BytesIO(json.dumps(doc).encode()), "f.json")},
                     content_type="multipart/form-data")
    assert r.status_code == 302
    from formwarden.catalog import designs
    assert designs.draft(key)["doc"]["properties"]["subject"]["x-label"]["en"] == "Topic"


def test_problems_are_shown_on_their_field_and_publishing_is_refused(login_as):
    key = "bad_" + uuid.uuid4().hex[:8]
    c = login_as("manager")
    _build(c, key)
    r = _post(c, key, "/fields/subject", {"label_zh": "主题", "label_en": "Subject", "kind": "text", "pattern": "(a+)+$"})
    assert r.status_code == 302
    assert "(a+)+$" not in c.get(f"/design/{key}").text  # refused: never stored
    _post(c, key, "/fields", {"kind": "reference", "label_zh": "客户", "label_en": "Customer"})
    page = c.get(f"/design/{key}").text
    assert 'id="row-customer"' in page and "has-error" in page.split('id="row-customer"')[1].split(">")[0]
    plan = c.get(f"/design/{key}/publish").text
    assert "客户" in plan and 'name="rev"' not in plan  # problems first: nothing to publish yet
    r = c.post(f"/design/{key}/publish", data={"csrf_token": c.csrf, "rev": _rev(page)})
    assert r.status_code == 422 and not Form.select().where(Form.key == key, Form.current_version > 0).exists()


def test_people_without_the_permission_cannot_design(login_as):
    for user in ("sales01", "support", "auditor"):
        c = login_as(user)
        assert c.get("/design/").status_code == 403
        assert c.post("/design/new", data={"csrf_token": c.csrf, "key": "x"}).status_code == 403


def test_the_builder_lists_field_types_and_their_plugins(login_as):
    page = login_as("admin").get("/design/").text
    for name in ("cn-mobile", "cn-resident-id", "cn-uscc", "cny", "cn-address", "email"):
        assert f"<code>{name}</code>" in page
    assert "cn_fields" in page



def test_keep_the_old_value_retires_the_option_for_the_records_that_hold_it(login_as):
    """A designer narrowing an option list may keep a dropped value: records holding it keep it,
    valid and shown by its label (a retired option), editing them keeps it, and nobody chooses it anew."""
    from formwarden.errors import Invalid as Refused
    from formwarden.forms import versions as forms_versions

    manager = login_as("manager")
    key = "keep_" + uuid.uuid4().hex[:6]
    _build(manager, key)
    plan = manager.get(f"/design/{key}/publish").text
    assert manager.post(f"/design/{key}/publish", data={"csrf_token": manager.csrf, "rev": _rev(plan)}).status_code == 302
    admin = actor_of("admin")
    policies.save(admin, key, {
        "admin": {"scope": "all", "actions": ["create", "read", "update", "delete", "export"], "fields": {"*": "write"}},
        "manager": {"scope": "all", "actions": ["read", "update"], "fields": {"*": "write"}}},
        reason="decided")
    rec = service.create_record(admin, key, {"subject": "保留", "kind": "phone"})
    _post(manager, key, "/fields/kind", {"label_zh": "方式", "label_en": "Kind", "kind": "select",
                                         "options": "on_site | 上门 | On site"})
    plan = manager.get(f"/design/{key}/publish").text
    assert "保留（作为已停用选项）" in plan
    r = manager.post(f"/design/{key}/publish", data={"csrf_token": manager.csrf, "rev": _rev(plan), "convert": "kind",
                                                     "old:kind:0": '"phone"', "map:kind:0": "__keep__"})
    assert r.status_code == 302, r.text[:500]
    forms_versions.forget_forms()
    kept = service.get_record(admin, key, rec.id)
    assert kept.data["kind"] == "phone" and kept.version == 1  # not converted: kept as it was
    page = login_as("admin").get(f"/f/{key}/{rec.id}/edit").text
    assert "电话 (已停用)" in page  # offered only to the record that holds it, by its label
    service.update_record(admin, key, rec.id, {"subject": "改主题"}, expected_version=1)  # still valid
    with pytest.raises(Refused) as refused:
        service.create_record(admin, key, {"subject": "新的", "kind": "phone"})
    assert refused.value.details[0]["code"] == "retired_option"
    # offered again in a later version (found by the stateful test): no longer retired, anyone may choose it
    _post(manager, key, "/fields/kind", {"label_zh": "方式", "label_en": "Kind", "kind": "select",
                                         "options": "on_site | 上门 | On site\nphone | 电话 | Phone"})
    plan = manager.get(f"/design/{key}/publish").text
    assert manager.post(f"/design/{key}/publish", data={"csrf_token": manager.csrf, "rev": _rev(plan)}).status_code == 302
    forms_versions.forget_forms()
    assert service.create_record(admin, key, {"subject": "又可以选", "kind": "phone"}).data["kind"] == "phone"


HX = {"HX-Request": "true", "HX-Target": "builder"}


def test_each_builder_action_answers_with_the_builder_alone(login_as):
    """The builder's own requests get the builder drawn again (no page, no redirect), its address
    following; a page without its script still gets a redirect."""
    manager = login_as("manager")
    r = manager.post("/design/new", data={"csrf_token": manager.csrf, "title_zh": "售后工单"})  # no key, no English
    key = r.headers["Location"].rsplit("/", 1)[1]
    assert key.startswith("shou_hou_gong_dan")
    again = manager.post("/design/new", data={"csrf_token": manager.csrf, "title_zh": "售后工单"})
    assert again.headers["Location"].rsplit("/", 1)[1] != key  # made unique, never refused

    page = manager.get(f"/design/{key}").text
    r = manager.post(f"/design/{key}/fields", data={"csrf_token": manager.csrf, "rev": _rev(page), "kind": "cny"},
                     headers=HX)
    assert r.status_code == 200 and "<html" not in r.text and r.text.lstrip().startswith("<div id=\"builder\"")
    assert r.headers["HX-Push-Url"].endswith(f"/design/{key}?field=jin_e_yuan")  # named after its kind (金额（元）)
    assert 'id="f-label_zh" name="label_zh" value="金额（元）"' in r.text  # its panel is open, to name it
    # the panel saves on change; the key follows the new name until the first publish
    r = manager.post(f"/design/{key}/fields/jin_e_yuan", headers=HX, data={
        "csrf_token": manager.csrf, "rev": _rev(r.text), "label_zh": "退款金额", "kind": "cny", "key": "jin_e_yuan"})
    assert r.status_code == 200 and r.headers["HX-Push-Url"].endswith("?field=tui_kuan_jin_e")
    # a stale draft: 409 with the builder and its message, nothing changed
    stale = manager.post(f"/design/{key}/fields", data={"csrf_token": manager.csrf, "rev": "0" * 20, "kind": "text"},
                         headers=HX)
    assert stale.status_code == 409 and "有人修改了这份草稿" in stale.text
    # a refused change: 422, the builder and the reason, in the designer's language
    bad = manager.post(f"/design/{key}/fields/tui_kuan_jin_e", headers=HX, data={
        "csrf_token": manager.csrf, "rev": _rev(r.text), "label_zh": "", "label_en": "", "kind": "cny"})
    assert bad.status_code == 422 and "需要填写名称" in bad.text
    # the rule editor is drawn again for the field chosen: money compares in yuan
    r = manager.post(f"/design/{key}/rules/editor", headers={"HX-Request": "true"},
                     data={"csrf_token": manager.csrf, "field_0": "tui_kuan_jin_e"})
    assert r.status_code == 200 and r.text.lstrip().startswith('<form method="post" id="rule-editor"')
    assert 'value="gt"' in r.text and "单位：元" in r.text and 'value="in"' not in r.text
    # without the script: the same change answers with a redirect to the editor
    page = manager.get(f"/design/{key}").text
    r = manager.post(f"/design/{key}/fields", data={"csrf_token": manager.csrf, "rev": _rev(page), "kind": "date"})
    assert r.status_code == 302 and "field=ri_qi" in r.headers["Location"]


def test_form_and_field_keys_are_fixed_at_the_first_publish(login_as):
    manager = login_as("manager")
    key = "draft_" + uuid.uuid4().hex[:6]
    _build(manager, key)
    page = manager.get(f"/design/{key}").text
    r = manager.post(f"/design/{key}/settings", data={"csrf_token": manager.csrf, "rev": _rev(page),
                                                       "title_zh": "拜访报告", "key": key + "_v"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/design/{key}_v#settings")
    key += "_v"
    assert manager.get(f"/design/{key[:-2]}").status_code == 404
    r = manager.get(f"/design/{key}/publish")
    manager.post(f"/design/{key}/publish", data={"csrf_token": manager.csrf, "rev": _rev(r.text)})
    assert Form.get(Form.key == key).current_version == 1
    page = manager.get(f"/design/{key}?field=subject").text
    assert 'id="f-key" value="subject" readonly' in page and 'name="key" value="' + key not in page
    r = _post(manager, key, "/fields/subject", {"label_zh": "标题", "label_en": "Title", "kind": "text", "key": "title"})
    assert r.status_code == 302 and "field=subject" in r.headers["Location"]
    doc = manager.get(f"/design/{key}/export")  # the draft kept the published key (nothing to export: still v1)
    assert doc.status_code == 200
    from formwarden.catalog import designs
    assert "subject" in designs.draft(key)["doc"]["properties"]
    assert "title" not in designs.draft(key)["doc"]["properties"]


def test_the_designer_tries_the_form_as_each_role_and_nothing_is_stored(login_as):
    """The preview fills like the real form, as someone who may fill every field or as a role
    would meet it under the policy in force; "try saving" reports every problem, stores nothing."""
    from formwarden.models import Record

    manager = login_as("manager")
    before = Record.select().count()
    r = manager.post("/design/customer/preview/try", headers={"HX-Request": "true"},
                     data={"csrf_token": manager.csrf, "_try": "1", "name": "", "mobile": "123"})
    assert r.status_code == 200 and r.text.lstrip().startswith('<section class="card preview" id="preview"')
    assert "保存会被拒绝" in r.text and 'aria-invalid="true"' in r.text and Record.select().count() == before
    # as the intern: the resident id is not there, the mobile number is masked, nothing typed in it counts
    r = manager.post("/design/customer/preview/try", headers={"HX-Request": "true"},
                     data={"csrf_token": manager.csrf, "as_role": "intern"})
    assert 'value="intern" selected' in r.text
    assert 'id="in-id_number"' not in r.text and 'name="mobile"' not in r.text
    ok = manager.post("/design/customer/preview/try", headers={"HX-Request": "true"}, data={
        "csrf_token": manager.csrf, "_try": "1", "name": "王伟", "mobile": "13800138000", "status": "lead",
        "region": "east"})
    assert "这条记录可以保存" in ok.text, re.findall(r'id="err-[a-z_]+" role="alert">[^<]+', ok.text) and Record.select().count() == before
    # an unknown role is someone who may fill every field, never an error
    r = manager.post("/design/customer/preview/try", headers={"HX-Request": "true"},
                     data={"csrf_token": manager.csrf, "as_role": "nobody"})
    assert r.status_code == 200 and 'name="id_number"' in r.text


def test_a_template_becomes_a_new_forms_draft_and_the_first_run_lists_the_steps(login_as):
    manager = login_as("manager")
    index = manager.get("/design/").get_data(as_text=True)
    assert "售后工单" in index and "/design/templates/after_sales_ticket" in index
    r = manager.post("/design/templates/after_sales_ticket", data={"csrf_token": manager.csrf})
    key = r.headers["Location"].rsplit("/", 1)[1]
    assert r.status_code == 302 and key.startswith("after_sales_ticket")
    from formwarden.catalog import designs
    doc = designs.draft(key)["doc"]
    assert "refund_amount" in doc["properties"] and doc["x-rules"] and doc["x-access"] == {
        "admin": {"scope": "all", "actions": ["read"], "fields": {}}}  # a template grants nobody anything
    started = AuditEvent.get(AuditEvent.action == "form_draft_create", AuditEvent.form_key == key)
    assert json.loads(started.diff)["template"] == [None, "after_sales_ticket"] and started.actor_name == "manager"
    again = manager.post("/design/templates/customer", data={"csrf_token": manager.csrf})
    assert again.headers["Location"].endswith("/design/customer_2")  # the demo's customer form keeps its key
    assert manager.post("/design/templates/nope", data={"csrf_token": manager.csrf}).status_code == 404
    start = login_as("admin").get("/start").get_data(as_text=True)
    assert "创建第一张表单" in start and "导出恢复密钥包" in start and "已完成" in start
