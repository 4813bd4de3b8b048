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
    expect(history).to_contain_text("王强（销售经理）")  # people by their display names
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


def test_admin_finds_the_change_on_the_audit_page_and_reverts_it(page):
    import datetime as dt

    admin = actor_of("admin")
    rec = service.create_record(admin, "customer", {"name": "审计客户", "status": "negotiating", "owner": "sales01",
                                                    "contract_amount": 88000})
    service.update_record(actor_of("manager"), "customer", rec.id, {"contract_amount": 8800}, expected_version=1,
                          reason="少写了一个零")
    page.login("admin")
    page.get_by_role("link", name="审计日志").click()
    expect(page.locator("h1")).to_have_text("审计日志")
    week_ago = (dt.date.today() - dt.timedelta(days=7)).isoformat()
    page.fill("input[name=since]", week_ago)
    page.fill("input[name=field]", "contract_amount")
    page.select_option("select[name=form]", "customer")
    page.get_by_role("button", name="搜索").click()
    row = page.locator("#results tbody tr").first
    expect(row).to_contain_text("王强（销售经理）")
    expect(row).to_contain_text("少写了一个零")
    expect(row).to_contain_text("88,000.00")
    page.shot("audit-search")
    row.get_by_role("link", name=f"客户 #{rec.id}").click()
    page.locator("#history").get_by_role("link", name="查看当时内容").last.click()
    expect(page.locator("#f-contract_amount dd")).to_contain_text("88,000.00")
    page.fill("#revert-reason", "恢复正确金额")
    page.get_by_role("button", name="回退到版本 1").click()
    expect(page.locator(".flash.success")).to_have_text("已回退到版本 1。")
    expect(page.locator("#f-contract_amount dd")).to_contain_text("88,000.00")
    page.shot("after-revert")
