"""A manager builds a form in the browser, a salesperson fills it; version 2 leaves version 1's
records as they were; a resident ID with a wrong check digit is flagged inline."""
import uuid

import pytest
from playwright.sync_api import expect

from formwarden.catalog import policies
from formwarden.models import Record
from tests.conftest import actor_of

pytestmark = pytest.mark.browser


def _add_field(page, kind_label, zh, en):
    page.select_option("#kind", label=kind_label)
    page.fill("#label_zh", zh)
    page.fill("#label_en", en)
    page.get_by_role("button", name="添加字段").click()
    expect(page.locator(".flash.success, .alert.success").first).to_be_visible()


def test_manager_builds_a_visit_report_and_a_salesperson_fills_it(page, second):
    key = "visit_" + uuid.uuid4().hex[:6]
    page.login("manager")
    page.get_by_role("link", name="表单设计").click()
    page.fill("#title_zh", "拜访报告")
    page.fill("#title_en", "Visit report")
    page.fill("#key", key)
    page.get_by_role("button", name="创建表单").click()
    _add_field(page, "单行文本", "主题", "Subject")
    page.check("#panel input[name=required]")
    page.get_by_role("button", name="保存字段").click()
    _add_field(page, "单选", "方式", "Kind")
    page.fill("#f-options", "上门 | On site\n电话 | Phone")
    page.get_by_role("button", name="保存字段").click()
    _add_field(page, "多行文本", "路线", "Route")
    _add_field(page, "身份证号", "陪同人证件", "Companion ID")
    page.select_option("select[name=field_0]", label="方式")
    page.select_option("select[name=op_0]", value="in")
    page.fill("input[name=text_0]", "上门")
    page.select_option("#show", label="路线")
    page.get_by_role("button", name="添加规则").click()
    expect(page.locator("#rules")).to_contain_text("显示 路线")
    # the preview runs the rule on the server: choosing "on site" brings the route in
    expect(page.locator("#preview #f-route label")).to_have_count(0)
    page.wait_for_load_state()  # htmx wires the page once it has loaded
    page.select_option("#preview-form select[name=kind]", label="上门")
    expect(page.locator("#preview #f-route label")).to_contain_text("路线")
    page.shot("builder")
    page.get_by_role("link", name="检查并发布…").click()
    expect(page.locator("main")).to_contain_text("陪同人证件")
    page.get_by_role("button", name="发布第 1 版").click()
    expect(page.locator("main")).to_contain_text("第 1 版已发布")

    policies.save(actor_of("admin"), key, {  # the administrator decides who sees the new form's fields
        "admin": {"scope": "all", "actions": ["create", "read", "update", "delete", "export"], "fields": {"*": "write"}},
        "sales": {"scope": "all", "actions": ["create", "read", "update"],
                  "fields": {"subject": "write", "kind": "write", "route": "write", "companion_id": "write"}}},
        reason="visit reports for sales")

    second.login("sales01")
    second.goto(f"{page.base}/f/{key}/new")
    second.fill("#in-subject", "首次拜访")
    expect(second.locator("#f-route label")).to_have_count(0)
    second.select_option("#in-kind", label="上门")
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
    _add_field(page, "日期", "下次拜访", "Next visit")
    page.get_by_role("link", name="检查并发布…").click()
    page.get_by_role("button", name="发布第 2 版").click()
    expect(page.locator("main")).to_contain_text("第 2 版已发布")
    second.goto(f"{page.base}/f/{key}/{rec.id}")
    expect(second.locator("main")).to_contain_text("东门进")
    expect(second.locator("main")).to_contain_text("表单第 1 版")
    expect(second.locator("#f-next_visit")).to_have_count(0)
