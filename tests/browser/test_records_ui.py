"""What a person does in the browser: create, fix errors inline, find; see masked values."""
import re

import pytest
from playwright.sync_api import expect

from formwarden.access.actor import Actor
from formwarden.records import service

pytestmark = pytest.mark.browser


def test_sales_creates_a_customer_fixing_errors_inline(page):
    page.login("sales01")
    expect(page.locator("h1")).to_have_text("我的表单")
    page.shot("home")
    page.locator(".form-card h2 a", has_text="客户").click()
    expect(page.locator("h1")).to_have_text("客户")
    page.shot("list")
    page.get_by_role("link", name="新建记录").click()
    expect(page.locator("h1")).to_contain_text("新建记录")
    page.fill("#in-name", "浏览器客户")
    page.fill("#in-mobile", "12345")
    page.locator("#in-mobile").blur()
    expect(page.locator("#err-mobile")).not_to_be_empty()
    page.shot("mobile-error")
    page.fill("#in-mobile", "13800001111")
    page.locator("#in-mobile").blur()
    expect(page.locator("#err-mobile")).to_be_empty()
    page.click("button[type=submit].primary")
    expect(page.locator("#err-status")).to_have_text("此项为必填。")
    expect(page.locator("#f-status")).to_have_class("field has-error")
    page.shot("required-error")
    expect(page.locator("#in-name")).to_have_value("浏览器客户")  # nothing typed is lost
    page.select_option("#in-status", "contacted")
    page.fill("#in-company", "浏览器公司")
    page.click("button[type=submit].primary")
    expect(page.locator("h1")).to_contain_text("浏览器客户")
    expect(page.locator(".flash.success")).to_have_text("已保存。")
    page.shot("saved")
    page.get_by_role("link", name="返回列表").click()
    page.wait_for_load_state()  # a click returns once the list page starts; htmx wires it once it has loaded
    # the only record is already counted before the filter's answer: wait for the answer itself
    with page.expect_response(lambda r: "status%5D=contacted" in r.url or "status]=contacted" in r.url, timeout=15000):
        page.select_option("select[name='filter[status]']", "contacted")
    expect(page.locator("#results .count")).to_contain_text("共 1 条记录")
    expect(page.locator("#results .count")).to_contain_text("清除筛选")  # the filtered answer
    expect(page).to_have_url(re.compile(r"filter%5Bstatus%5D=contacted"))  # shareable URL, back button works
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#results tbody")).to_contain_text("浏览器客户")
    page.shot("found")
    page.fill("input[name=q]", "没有这个人")
    expect(page.locator("#results .empty-state")).to_be_visible()
    page.fill("input[name=q]", "浏览器")
    expect(page.locator("#results tbody tr")).to_have_count(1)


def test_rules_show_the_amount_only_while_negotiating(page):
    page.login("admin")
    page.goto(f"{page.base}/f/customer/new")
    expect(page.locator("#f-contract_amount")).to_be_hidden()
    page.select_option("#in-status", "negotiating")
    expect(page.locator("#in-contract_amount")).to_be_visible()
    page.shot("amount-shown")
    page.select_option("#in-status", "won")
    expect(page.locator("#f-company .req")).to_be_visible()
    page.select_option("#in-status", "lead")
    expect(page.locator("#f-contract_amount")).to_be_hidden()


def test_intern_sees_mobile_masked_and_no_id_field(page):
    rec = service.create_record(Actor.system("tests"), "customer", {
        "name": "实习生的客户", "mobile": "13912345678", "id_number": "11010519491231002X",
        "status": "won", "company": "甲公司", "contract_amount": 5000, "owner": "intern"})
    page.login("intern")
    page.goto(f"{page.base}/f/customer/")
    expect(page.locator("#results tbody")).to_contain_text("139****5678")
    page.shot("list")
    page.goto(f"{page.base}/f/customer/{rec.id}")
    expect(page.locator("#f-mobile dd")).to_have_text("139****5678")
    expect(page.locator("#f-id_number")).to_have_count(0)
    expect(page.locator("#f-contract_amount")).to_have_count(0)
    content = page.content()
    assert "13912345678" not in content and "11010519491231002X" not in content and "身份证号" not in content
    page.shot("record")
    page.get_by_role("link", name="编辑").click()
    expect(page.locator("#in-mobile")).to_have_text("139****5678")
    expect(page.locator("input[name=mobile]")).to_have_count(0)
    page.shot("edit")


def test_language_switch(page):
    page.login("support")
    page.goto(f"{page.base}/f/customer/")
    page.get_by_role("button", name="English").click()
    expect(page.locator("h1")).to_have_text("Customers")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.shot("english")
    page.get_by_role("button", name="中文").click()
    expect(page.locator("h1")).to_have_text("客户")
