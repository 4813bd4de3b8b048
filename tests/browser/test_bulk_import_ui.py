"""Bulk bar and CSV import in the browser: tick records, change them together; upload a file."""
import pytest
from playwright.sync_api import expect

from formwarden.models import Record
from formwarden.records import service
from tests.conftest import actor_of
from tests.integration.test_jobs import run_worker_burst

pytestmark = pytest.mark.browser


def test_salesperson_changes_ticked_records_together(page):
    sales = actor_of("sales01")
    ids = [service.create_record(sales, "customer", {"name": f"批量{i}", "status": "lead"}).id for i in range(3)]
    page.login("sales01")
    page.goto(f"{page.base}/f/customer/")
    apply = page.get_by_role("button", name="应用")
    expect(apply).to_be_disabled()  # nothing ticked yet
    page.get_by_label("全选本页").check()
    expect(page.locator("#bulk-count")).to_have_text("已勾选 3 条")
    page.get_by_label("全选本页").uncheck()
    expect(page.locator("#bulk-count")).to_have_text("已勾选 0 条")
    for rid in ids[:2]:
        page.get_by_label(f"选择记录 {rid}").check()
    expect(page.locator("#bulk-count")).to_have_text("已勾选 2 条")
    expect(apply).to_be_enabled()
    page.select_option("#bulk-set", label="状态 → 已联系")
    page.fill("#bulk input[name=reason]", "统一回访")
    page.shot("bulk-bar")
    apply.click()
    expect(page.locator(".flash.success")).to_have_text("2 条记录已修改。")
    assert [Record.get_by_id(i).data["status"] for i in ids] == ["contacted", "contacted", "lead"]
    page.shot("bulk-done")


def test_import_lists_problems_by_row(page, tmp_path, base_db):
    bad = tmp_path / "客户.csv"
    bad.write_text("客户姓名,手机号,状态\n好客户,13911112222,线索\n坏客户,123,线索\n", encoding="utf-8")
    page.login("sales01")
    page.goto(f"{page.base}/f/customer/")
    page.locator(".more-actions summary").click()  # import and export sit under "More"
    page.get_by_role("link", name="导入 Excel 或 CSV").click()
    expect(page.locator("h1")).to_contain_text("导入")
    page.shot("import-page")
    page.set_input_files("input[type=file]", str(bad))
    page.get_by_role("button", name="导入", exact=True).click()
    expect(page.locator("#progress")).to_contain_text("等待")
    run_worker_burst(base_db)
    expect(page.locator(".alert.error")).to_contain_text("未导入任何数据", timeout=5000)
    expect(page.locator("#progress table")).to_contain_text("手机号")
    assert Record.select().count() == 0
    page.shot("import-failed")
