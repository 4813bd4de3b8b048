"""What a data-security officer does in the console, in a real browser, while the people they
manage have their own browsers open."""
import re

import pytest
from playwright.sync_api import expect

from formwarden.access.actor import Actor
from formwarden.models import Record, User
from formwarden.records import service
from tests.conftest import DEMO_PASSWORD, VALID_CUSTOMER

pytestmark = pytest.mark.browser



def test_admin_masks_mobile_for_sales_and_the_salesperson_sees_it_masked(page, second, restore_customer):
    rec = service.create_record(Actor.system("t"), "customer", dict(VALID_CUSTOMER, owner="sales01"))
    second.login("sales01")
    second.goto(f"{page.base}/f/customer/{rec.id}")
    expect(second.locator("main")).to_contain_text(VALID_CUSTOMER["mobile"])

    page.login("admin")
    page.get_by_role("link", name="人员与权限").click()
    page.get_by_role("link", name="权限策略").click()
    page.locator("a.form-card", has_text="客户").click()
    expect(page.locator("h1")).to_contain_text("权限策略")
    cell = page.locator("#c-sales-mobile")
    page.wait_for_load_state()  # htmx wires the page once it has loaded: a change before that is a plain change
    cell.select_option("masked")  # saved to the draft through HTMX, no reload
    expect(page.locator("#matrix .alert.info")).to_contain_text("未保存草稿")
    expect(page.locator("#c-sales-mobile")).to_have_value("masked")
    expect(page.locator("td.changed #c-sales-mobile")).to_have_count(1)
    page.shot("matrix-draft")
    second.reload()
    expect(second.locator("main")).to_contain_text(VALID_CUSTOMER["mobile"])  # a draft changes nothing
    page.fill("#reason", "销售不再需要完整手机号")
    page.get_by_role("button", name="保存为新的策略版本").click()
    expect(page.locator(".flash.success")).to_contain_text("已保存")
    page.shot("matrix-saved")

    second.reload()  # the salesperson's next page
    expect(second.locator("main")).not_to_contain_text(VALID_CUSTOMER["mobile"])
    expect(second.locator("main")).to_contain_text("5678")  # the last four digits stay

    page.get_by_role("link", name="策略历史").click()
    expect(page.locator(".policy-history")).to_contain_text("手机号")
    expect(page.locator(".policy-history")).to_contain_text("可写 → 脱敏")
    expect(page.locator(".policy-history")).to_contain_text("销售不再需要完整手机号")
    page.shot("history")


def test_deactivate_an_open_session_then_hand_over_six_records(page, second, make_user):
    leaver = make_user(roles=("sales",), teams=("华东销售",), display_name="离职销售")
    ids = [service.create_record(Actor.system("t"), "customer", dict(VALID_CUSTOMER, name=f"客户{i}",
                                                                      owner=leaver.username)).id for i in range(6)]
    second.login(leaver.username)
    second.goto(f"{page.base}/f/customer/")
    expect(second.locator("h1")).to_contain_text("客户")

    page.login("admin")
    page.goto(f"{page.base}/admin/people?q={leaver.username}")
    page.get_by_role("link", name="离职销售").click()
    page.fill("#reason", "合同到期离职")
    page.get_by_role("button", name="立即停用").click()
    expect(page.locator(".flash.success")).to_contain_text("已停用")
    expect(page.locator("h1")).to_contain_text("移交")
    expect(page.locator("main")).to_contain_text("6")
    page.shot("handover-preview")

    second.get_by_role("link", name="新建记录").click()  # their next click
    expect(second).to_have_url(re.compile(r"/login"))

    page.select_option("#to", "sales02")
    page.fill("#reason", "离职交接")
    page.get_by_role("button", name="移交 6 条记录").click()
    expect(page.locator(".flash.success")).to_contain_text("6")
    page.shot("handed-over")
    sales02 = User.get(User.username == "sales02").id
    assert all(Record.get_by_id(i).owner_id == sales02 for i in ids)


def test_view_as_an_intern_shows_the_masked_mobile_and_why(page, clean_db):
    rec = service.create_record(Actor.system("t"), "customer", dict(VALID_CUSTOMER, owner="intern"))
    page.login("admin")
    page.goto(f"{page.base}/admin/people/intern")
    page.get_by_role("link", name="以其身份查看").first.click()
    expect(page.locator(".view-as-banner")).to_be_visible()
    page.locator("a.form-card", has_text="客户").click()
    page.get_by_role("link", name=str(rec.id), exact=True).click()
    expect(page.locator("main")).not_to_contain_text(VALID_CUSTOMER["mobile"])
    row = page.locator(".view-as-fields .row", has_text="手机")
    expect(row).to_contain_text("脱敏")
    row.get_by_role("link", name="为什么？").click()
    expect(row.locator(".why-answer")).to_contain_text("实习生")
    expect(row.locator(".why-answer")).to_contain_text("脱敏")
    page.shot("why")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_console_pages_fit_a_phone(browser, live_server, clean_db, locale):
    from tests.conftest import ARTIFACTS

    context = browser.new_context(viewport={"width": 390, "height": 844}, locale=locale)
    pg = context.new_page()
    try:
        pg.goto(f"{live_server}/login")
        pg.fill("#username", "admin")
        pg.fill("#password", DEMO_PASSWORD)
        pg.click("button.primary")
        pg.wait_for_url(f"{live_server}/**")
        form = pg.locator("form.locale button")
        if (locale == "en") == ("English" in form.inner_text()):
            form.click()
        for path in ("/admin/people", "/admin/people?status=dormant", "/admin/people/intern", "/admin/roles",
                     "/admin/roles/sales", "/admin/teams", "/admin/access", "/admin/access/customer",
                     "/admin/access/customer/history", "/admin/people/intern/rights", "/admin/tokens",
                     "/account/tokens"):
            pg.goto(f"{live_server}{path}")
            width = pg.evaluate("document.documentElement.scrollWidth")
            ARTIFACTS.mkdir(exist_ok=True)
            pg.screenshot(path=str(ARTIFACTS / f"console-phone-{locale}{path.replace('/', '-')}.png"), full_page=True)
            assert width <= 390, f"{path} is {width}px wide at 390"
    finally:
        context.close()
