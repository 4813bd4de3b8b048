"""Linked records in the browser: a follow-up list filtered by its customer with the picker; the
customer's page lists its follow-ups and starts a new one with the customer filled in."""
import pytest
from playwright.sync_api import expect

from formwarden.records import service
from tests.conftest import VALID_CUSTOMER, actor_of

pytestmark = pytest.mark.browser


def test_filter_by_customer_and_start_a_follow_up_from_it(page):
    admin = actor_of("admin")
    wang = service.create_record(admin, "customer", dict(VALID_CUSTOMER, owner="sales01", name="王伟")).id
    other = service.create_record(admin, "customer", dict(VALID_CUSTOMER, owner="sales01", name="张三")).id
    for cid, summary in ((wang, "给王伟报价"), (other, "张三回访")):
        service.create_record(admin, "followup", {"customer_id": cid, "kind": "call", "happened_on": "2026-12-01",
                                                  "summary": summary, "owner": "sales01"})
    page.login("sales01")
    page.goto(f"{page.base}/f/followup/")
    page.wait_for_load_state()
    page.fill("#in-filter-customer_id", "王伟")
    page.get_by_role("option", name="王伟").click()
    expect(page.locator("#results")).not_to_contain_text("张三回访")
    expect(page.locator("#results")).to_contain_text("给王伟报价")
    page.goto(f"{page.base}/f/customer/{wang}")
    expect(page.locator("#linked")).to_contain_text("跟进记录 (1)")
    page.locator("#linked").get_by_role("link", name="为此记录新建跟进记录").click()
    expect(page.locator("#pick-customer_id .ref-chosen")).to_contain_text("王伟")
