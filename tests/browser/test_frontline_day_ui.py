"""More of a frontline day in the browser: undo a delete, keep typing across an ended session,
resolve an edit conflict, follow the home page to the follow-ups due."""
import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from formwarden.records import service
from tests.conftest import VALID_CUSTOMER, actor_of

pytestmark = pytest.mark.browser


def _customer(**kw):
    return service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "owner": "sales01", **kw})


def test_delete_asks_then_undo_brings_it_back(page):
    rec = _customer(name="删错的客户")
    page.login("sales01")
    page.goto(f"{page.base}/f/customer/{rec.id}")
    page.get_by_role("link", name="删除…").click()
    expect(page.locator("h1")).to_contain_text("删错的客户")
    page.get_by_role("button", name="移入回收站").click()
    expect(page.locator(".flash.undo")).to_contain_text("删错的客户")
    page.shot("undo-offered")
    page.locator(".flash.undo button").click()
    expect(page.locator("h1")).to_contain_text("删错的客户")  # back on the record


def test_typing_survives_an_ended_session(page):
    from formwarden.models import UserSession, utcnow

    page.login("sales01")
    page.goto(f"{page.base}/f/customer/new")
    page.fill("#in-name", "差点丢了")  # one field: its own check and the save both go out after the session ended
    UserSession.update(revoked_at=utcnow(), end_reason="server").execute()  # the server ends it while the person types
    page.click("button[type=submit].primary")
    expect(page.locator("#username")).to_be_visible()  # asked to sign in again
    page.fill("#username", "sales01")
    page.fill("#password", __import__("tests.conftest", fromlist=["DEMO_PASSWORD"]).DEMO_PASSWORD)
    page.click("button.primary")
    expect(page.locator("#in-name")).to_have_value("差点丢了")
    page.shot("typing-back")


def test_an_edit_conflict_keeps_both(page):
    rec = _customer(name="并发客户", company="旧公司")
    page.login("sales01")
    page.goto(f"{page.base}/f/customer/{rec.id}/edit")
    page.fill("#in-notes", "我写的备注")
    service.update_record(actor_of("manager"), "customer", rec.id, {"company": "经理改的公司"}, expected_version=1)
    page.click("button[type=submit].primary")
    expect(page.locator(".conflict")).to_contain_text("经理改的公司")
    expect(page.locator("#in-notes")).to_have_value("我写的备注")
    expect(page.locator("#in-company")).to_have_value("经理改的公司")
    page.shot("conflict")
    page.click("button[type=submit].primary")
    expect(page.locator(".flash.success")).to_be_visible()
    data = service.get_record(actor_of("admin"), "customer", rec.id).data
    assert data["notes"] == "我写的备注" and data["company"] == "经理改的公司"


def test_home_leads_to_the_follow_ups_due(page):
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    _customer(name="今天要回访", next_followup=today.isoformat())
    _customer(name="下月再说", next_followup=(today + dt.timedelta(days=30)).isoformat())
    page.login("sales01")
    page.goto(f"{page.base}/")
    page.locator(".home-cards .due").first.click()
    expect(page.locator("#results tbody")).to_contain_text("今天要回访")
    expect(page.locator("#results tbody")).not_to_contain_text("下月再说")


def test_sort_by_header_choose_columns_and_purge_by_typing_the_title(page):
    for name, amount in (("甲客户", 100), ("乙客户", 300)):
        _customer(name=name, status="won", contract_amount=amount)
    gone = _customer(name="要清除的客户")
    service.delete_record(actor_of("admin"), "customer", gone.id)
    page.login("admin")
    page.goto(f"{page.base}/f/customer/")
    page.locator("thead a.sort", has_text="合同金额").click()
    expect(page).to_have_url(re.compile(r"sort=contract_amount(&|$)"))  # the first answer is in before clicking again
    page.locator("thead a.sort", has_text="合同金额").click()  # again: the other way round
    expect(page).to_have_url(re.compile(r"sort=-contract_amount(&|$)"))
    expect(page.locator("#results tbody tr").first).to_contain_text("乙客户")
    page.locator(".columns-choice summary").click()
    page.locator(".columns-choice input[value=notes]").check()
    expect(page.locator("#results thead")).to_contain_text("备注")
    page.reload()
    expect(page.locator("#results thead")).to_contain_text("备注")  # remembered
    page.goto(f"{page.base}/f/customer/?bin=1")
    page.get_by_role("link", name="彻底删除…").first.click()
    page.fill("#in-confirm", "要清除")
    page.fill("#in-reason", "重复录入")
    page.get_by_role("button", name="彻底删除").click()
    expect(page.locator("#in-confirm")).to_have_attribute("aria-invalid", "true")  # not the title: nothing happens
    page.fill("#in-confirm", "要清除的客户")
    page.get_by_role("button", name="彻底删除").click()
    expect(page.locator(".flash")).to_contain_text("已彻底删除")
