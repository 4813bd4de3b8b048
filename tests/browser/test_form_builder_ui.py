"""A manager builds a form in the browser, a salesperson fills it; version 2 leaves version 1's
records as they were; a resident ID with a wrong check digit is flagged inline."""
import time
import uuid

import pytest
from playwright.sync_api import expect

from formwarden.catalog import designs, policies
from formwarden.forms import builder
from formwarden.models import Record
from tests.conftest import actor_of

pytestmark = pytest.mark.browser


def _add_field(page, kind_label, zh, en="", key=None):
    """Click a kind in the palette, then name the field in its panel (saved as it changes)."""
    page.locator(".palette").get_by_role("button", name=kind_label, exact=True).click()
    expect(page.locator("#panel #f-label_zh")).to_have_value(kind_label)
    page.fill("#f-label_zh", zh)
    if en:
        page.fill("#f-label_en", en)
    page.keyboard.press("Tab")
    expect(page.locator("#panel-head")).to_contain_text(zh)
    if key:
        expect(page.locator(f"#row-{key}")).to_be_visible()
        expect(page.locator("#f-key")).to_have_value(key)


def test_manager_builds_a_visit_report_and_a_salesperson_fills_it(page, second):
    page.login("manager")
    page.get_by_role("link", name="表单设计").click()
    page.fill("#title_zh", "拜访报告 " + uuid.uuid4().hex[:4])  # no English name, no key: both are made
    page.get_by_role("button", name="创建表单").click()
    page.wait_for_url("**/design/bai_fang_bao_gao_*")
    key = page.url.rstrip("/").rsplit("/", 1)[1]
    assert key.startswith("bai_fang_bao_gao_"), key
    page.wait_for_load_state()
    _add_field(page, "单行文本", "主题", "Subject", key="subject")
    page.check("#panel input[name=required]")  # saved on change, no button
    expect(page.locator("#row-subject .req")).to_be_visible()
    _add_field(page, "单选", "方式", key="fang_shi")  # its key: the name's pinyin
    page.fill("#f-opt-0-zh", "上门")
    page.fill("#f-opt-0-en", "On site")
    page.locator("#f-opt-0-en").dispatch_event("change")
    expect(page.locator("#f-opt-0-en")).to_have_value("On site")
    page.fill("#f-opt-1-zh", "电话")
    page.locator("#f-opt-1-zh").dispatch_event("change")
    expect(page.locator("#f-opt-1-zh")).to_have_value("电话")
    _add_field(page, "多行文本", "路线", "Route", key="route")
    _add_field(page, "身份证号", "陪同人证件", "Companion ID", key="companion_id")
    # a rule with pickers: the field, then its options as checkboxes, then the targets
    page.select_option("select[name=field_0]", label="方式")
    page.locator("#rule-editor").get_by_label("上门").check()
    page.locator("#rule-editor fieldset.checks").first.get_by_label("路线").check()
    page.get_by_role("button", name="添加规则").click()
    expect(page.locator("#rules")).to_contain_text("显示 路线")
    # the preview runs the rule on the server: choosing "on site" brings the route in
    expect(page.locator("#preview #f-route label")).to_have_count(0)
    page.select_option("#preview-form select[name=fang_shi]", label="上门")
    expect(page.locator("#preview #f-route label")).to_contain_text("路线")
    page.get_by_role("button", name="试保存").click()  # every problem at once, nothing stored
    expect(page.locator("#preview .alert.error")).to_contain_text("没有保存任何内容")
    expect(page.locator("#preview #err-subject")).not_to_have_text("")
    page.get_by_role("button", name="手机", exact=True).click()
    expect(page.locator(".preview-frame")).to_have_attribute("data-mode", "phone")
    page.shot("builder")
    page.get_by_role("link", name="检查并发布…").click()
    expect(page.locator("main")).to_contain_text("陪同人证件")
    page.get_by_role("button", name="发布第 1 版").click()
    expect(page.locator("main")).to_contain_text("第 1 版已发布")

    policies.save(actor_of("admin"), key, {  # the administrator decides who sees the new form's fields
        "admin": {"scope": "all", "actions": ["create", "read", "update", "delete", "export"], "fields": {"*": "write"}},
        "sales": {"scope": "all", "actions": ["create", "read", "update"],
                  "fields": {"subject": "write", "fang_shi": "write", "route": "write", "companion_id": "write"}}},
        reason="visit reports for sales")

    second.login("sales01")
    second.goto(f"{page.base}/f/{key}/new")
    second.fill("#in-subject", "首次拜访")
    expect(second.locator("#f-route label")).to_have_count(0)
    second.select_option("#in-fang_shi", label="上门")
    expect(second.locator("#f-route label")).to_be_visible()
    second.fill("#in-route", "东门进")
    second.fill("#in-companion_id", "110105194912310021")
    second.locator("#in-companion_id").dispatch_event("change")
    expect(second.locator("#err-companion_id")).to_contain_text("校验码")  # flagged inline, before saving
    second.fill("#in-companion_id", "11010519491231002X")
    second.locator("#in-companion_id").dispatch_event("change")
    expect(second.locator("#err-companion_id")).to_have_text("")
    second.get_by_role("button", name="保存").click()
    expect(second.locator("main")).to_contain_text("东门进")
    rec = Record.select().order_by(Record.id.desc()).first()

    # version 2 adds a field; the version-1 record still opens with its own fields
    page.goto(f"{page.base}/design/{key}")
    page.wait_for_load_state()
    _add_field(page, "日期", "下次拜访", "Next visit")
    page.get_by_role("link", name="检查并发布…").click()
    page.get_by_role("button", name="发布第 2 版").click()
    expect(page.locator("main")).to_contain_text("第 2 版已发布")
    second.goto(f"{page.base}/f/{key}/{rec.id}")
    expect(second.locator("main")).to_contain_text("东门进")
    expect(second.locator("main")).to_contain_text("表单第 1 版")
    expect(second.locator("#f-next_visit")).to_have_count(0)


@pytest.fixture()
def slow_line(app, monkeypatch):
    """Every builder request takes 0.4 s on the server, so a person's next change always meets
    one still on its way (the races a busy machine makes only sometimes)."""
    inner = app.wsgi_app

    def slow(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].startswith("/design/"):
            time.sleep(0.4)
        return inner(environ, start_response)
    monkeypatch.setattr(app, "wsgi_app", slow)


def _new_form_with_a_choice(page, title: str) -> str:
    """As a manager: a new form named `title` (its key from the pinyin), a single choice added
    from the palette; returns the form's key."""
    page.login("manager")
    page.get_by_role("link", name="表单设计").click()
    page.fill("#title_zh", title + " " + uuid.uuid4().hex[:4])
    page.get_by_role("button", name="创建表单").click()
    page.wait_for_url("**/design/*_*")
    key = page.url.rstrip("/").rsplit("/", 1)[1]
    page.wait_for_load_state()
    page.locator(".palette").get_by_role("button", name="单选", exact=True).click()
    expect(page.locator("#panel #f-label_zh")).to_have_value("单选")
    return key


def test_quick_changes_on_a_slow_line_are_all_kept_in_order(page, slow_line):
    """Name, English name, a new field and a rule made without waiting for any answer: every one
    lands, none meets "someone changed this draft", and nothing typed is overwritten by a redraw."""
    key = _new_form_with_a_choice(page, "慢线")

    # the name goes (its key follows it), the English name is typed meanwhile, then a new field
    page.locator("#f-label_zh").fill("问题类型")
    page.keyboard.press("Tab")  # saved; on its way for 0.4 s
    page.keyboard.type("Issue type")
    page.keyboard.press("Tab")  # waits for the first answer, then goes to the field's new address
    page.locator(".palette").get_by_role("button", name="单行文本", exact=True).click()
    expect(page.locator("#panel #f-label_zh")).to_have_value("单行文本")
    expect(page.locator("#row-issue_type")).to_contain_text("问题类型")
    expect(page.locator("#builder-messages .error")).to_have_count(0)

    # back on the first field: options typed one after another, a rule composed meanwhile
    page.locator("#row-issue_type a").click()
    expect(page.locator("#panel #f-label_zh")).to_have_value("问题类型")
    page.locator("#f-opt-0-zh").fill("维修")
    page.keyboard.press("Tab")
    page.select_option("select[name=field_0]", label="问题类型")  # redrawn while the option is saved
    page.locator("#f-opt-1-zh").fill("退款")
    page.locator("#f-opt-1-zh").dispatch_event("change")
    refund = page.locator("#rule-editor .checks").first.get_by_role("checkbox", name="退款", exact=True)
    refund.check()
    page.locator("#rule-editor fieldset.checks").first.get_by_label("单行文本").check()
    page.check("#panel input[name=required]")  # a panel save while the rule is composed
    expect(page.locator("#row-issue_type .req")).to_be_visible()
    expect(refund).to_be_checked()
    page.get_by_role("button", name="添加规则").click()
    expect(page.locator("#rules")).to_contain_text("显示 单行文本")
    expect(page.locator("#builder-messages .error")).to_have_count(0)

    doc = designs.draft(key)["doc"]
    field = doc["properties"]["issue_type"]
    assert field["x-label"] == {"zh-CN": "问题类型", "en": "Issue type"}
    assert [zh for _value, zh, _en in builder.option_rows(field)] == ["维修", "退款"], field
    assert "issue_type" in doc["required"]
    assert len(doc["properties"]) == 2 and len(doc["x-rules"]) == 1


def test_a_waiting_save_never_presses_a_button_and_enter_only_saves(page, slow_line):
    """A save that waits its turn while the focus moves onto an option's × must not remove that
    option; Enter in a name saves, never presses the first option's ↓; a field just added opens
    with its name selected, so typing names it."""
    key = _new_form_with_a_choice(page, "按钮")
    expect(page.locator("#f-label_zh")).to_be_focused()
    page.keyboard.type("类别")  # the made-up name was selected: typing replaces it
    page.keyboard.press("Tab")
    page.locator("#f-label_en").fill("Kind")
    page.keyboard.press("Tab")  # on its way for 0.4 s
    page.locator("#f-opt-0-en").fill("First")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # the focus rests on option 1's × while the saves wait …
    page.wait_for_load_state("networkidle")  # … and go
    expect(page.locator("#f-opt-0-en")).to_have_value("First")
    expect(page.locator("#f-opt-1-zh")).to_have_value("选项二")
    page.locator("#f-label_zh").fill("问题类别")
    page.keyboard.press("Enter")
    expect(page.locator("#panel-head")).to_contain_text("问题类别")
    expect(page.locator("#f-opt-1-zh")).to_have_value("选项二")

    doc = designs.draft(key)["doc"]
    (name, field), = doc["properties"].items()
    assert field["x-label"] == {"zh-CN": "问题类别", "en": "Kind"}, field
    assert builder.option_rows(field) == [("option_1", "选项一", "First"), ("option_2", "选项二", "Option 2")], field

    # "check and publish" while the last change is on its way: the page waits for it, shows it,
    # and publishing does not meet "changed since you checked" because of one's own save
    page.locator("#f-label_zh").fill("问题类别终")
    page.keyboard.press("Tab")
    page.get_by_role("link", name="检查并发布…").click()
    expect(page.locator("main")).to_contain_text("问题类别终")
    page.get_by_role("button", name="发布第 1 版").click()
    expect(page.locator("main")).to_contain_text("第 1 版已发布")

    # leaving while a change is on its way that will be refused: the person stays and reads why
    page.goto(f"{page.base}/design/{key}?field={name}")
    designs.edit(actor_of("admin"), key, designs.draft(key)["rev"], lambda d: {  # someone else changes the draft
        **d, "x-form": {**d["x-form"], "description": {"zh-CN": "别人改的", "en": "changed elsewhere"}}})
    page.locator("#f-label_zh").fill("问题类别乙")
    page.keyboard.press("Tab")  # answered "someone changed this draft"
    page.get_by_role("link", name="检查并发布…").click()
    expect(page.locator("#builder-messages .error")).to_be_visible()
    assert "/publish" not in page.url
