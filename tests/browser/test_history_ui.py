"""History in the browser: who changed the amount and why, the record at that version, revert."""
import pytest
from playwright.sync_api import expect

from formwarden.records import service
from tests.conftest import actor_of

pytestmark = pytest.mark.browser


def test_admin_reads_history_and_reverts(page):
    admin = actor_of("admin")
    rec = service.create_record(admin, "customer", {"name": "回退客户", "status": "negotiating", "owner": "sales01",
                                                    "contract_amount": 120000, "id_number": "11010519491231002X"})
    service.update_record(actor_of("manager"), "customer", rec.id, {"contract_amount": 12000}, expected_version=1,
                          reason="客户砍价")
    page.login("admin")
    page.goto(f"{page.base}/f/customer/{rec.id}")
    history = page.locator("#history")
    expect(history).to_contain_text("manager")
    expect(history).to_contain_text("客户砍价")
    expect(history.locator("table.diff").first).to_contain_text("120,000.00")
    page.shot("history")
    history.get_by_role("link", name="查看当时内容").last.click()
    expect(page.locator(".version-banner")).to_contain_text("版本 1")
    expect(page.locator("#f-contract_amount dd")).to_contain_text("120,000.00")
    page.fill("#revert-reason", "砍价未获批准")
    page.shot("version-1")
    page.get_by_role("button", name="回退到版本 1").click()
    expect(page.locator(".flash.success")).to_have_text("已回退到版本 1。")
    expect(page.locator("#f-contract_amount dd")).to_contain_text("120,000.00")
    expect(page.locator("#history .event").first).to_contain_text("回退")
    page.shot("reverted")


def test_salesperson_history_shows_no_hidden_field(page):
    admin = actor_of("admin")
    rec = service.create_record(admin, "customer", {"name": "隐藏字段", "status": "lead", "owner": "sales01",
                                                    "id_number": "11010519491231002X"})
    service.update_record(admin, "customer", rec.id, {"id_number": "110101199003074477", "status": "contacted"},
                          expected_version=1)
    page.login("sales01")
    page.goto(f"{page.base}/f/customer/{rec.id}")
    expect(page.locator("#history .event")).to_have_count(2)
    content = page.content()
    assert "身份证号" not in content and "002X" not in content and "4477" not in content
    page.shot("sales-history")
