"""A frontline day in the browser: find a caller by phone, link a follow-up by name, a phone."""
import pytest
from playwright.sync_api import expect

from formwarden.access.actor import Actor
from formwarden.records import service

pytestmark = pytest.mark.browser
SYSTEM = Actor.system("tests")


def _customers():
    rows = [("王小明", "13812345678", "杭州青山贸易有限公司", "sales01"), ("李小红", "13987654321", "Acme Trading", "sales02")]
    rows += [(f"客户{i:02d}", f"135000000{i:02d}", "批量公司", "sales01") for i in range(12)]
    return {name: service.create_record(SYSTEM, "customer", {"name": name, "mobile": mobile, "company": company,
                                                             "status": "lead", "owner": owner}).id
            for name, mobile, company, owner in rows}


def test_support_finds_a_caller_by_phone_in_one_step(page):
    _customers()
    page.login("support")
    page.goto(f"{page.base}/f/customer/")
    page.fill("input[name=q]", "+86 138 1234 5678")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#results td.title")).to_contain_text("王小明")
    page.shot("found-by-phone")
    page.fill("input[name=q]", "青山")
    expect(page.locator("#results td.title")).to_contain_text("王小明")


def test_a_followup_links_its_customer_by_name(page):
    ids = _customers()
    page.login("sales01")
    page.goto(f"{page.base}/f/followup/new")
    page.fill("#in-customer_id", "王小")
    option = page.locator("#pick-results-customer_id .ref-option")
    expect(option).to_have_count(1)  # sales01 never sees sales02's 李小红
    option.click()
    expect(page.locator("#pick-customer_id .ref-chosen")).to_contain_text("王小明")
    page.select_option("#in-kind", "call")
    page.fill("#in-happened_on", "2026-12-01")
    page.fill("#in-summary", "电话回访")
    page.shot("picked")
    page.click("button.primary")
    expect(page.locator(f"a[href='/f/customer/{ids['王小明']}']").first).to_have_text("王小明")


def _phone(browser, live_server, username: str, locale: str):
    """A 390 × 844 browser signed in as `username`."""
    from tests.conftest import DEMO_PASSWORD

    context = browser.new_context(viewport={"width": 390, "height": 844}, locale=locale)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button.primary")
    return context, page


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_list_is_cards_on_a_phone(browser, live_server, clean_db, locale):
    _customers()
    context, page = _phone(browser, live_server, "sales01", locale)
    page.goto(f"{live_server}/f/customer/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    first = page.locator("#results tbody tr").first.locator("td.title a")
    box = first.bounding_box()
    assert box and box["y"] + box["height"] <= 844, "the first record is visible without scrolling"
    assert box["height"] >= 44
    assert not page.locator(".filter-fields").is_visible()  # filters fold away
    page.click("label[for=show-filters]")
    expect(page.locator(".filter-fields")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_a_failed_save_brings_the_first_problem_into_view(browser, live_server, clean_db):
    context, page = _phone(browser, live_server, "sales01", "zh-CN")
    page.goto(f"{live_server}/f/customer/new")
    page.fill("#in-name", "手机号写错")
    page.fill("#in-mobile", "123")
    page.click("button.primary")
    expect(page.locator(".alert.error")).to_be_visible()
    focused = page.locator(":focus")
    expect(focused).to_have_attribute("aria-invalid", "true")
    box = focused.bounding_box()
    assert box and 0 <= box["y"] and box["y"] + box["height"] <= 844, "the first problem is on screen"
    context.close()
