"""The business manager's path, measured: a manager builds the after-sales ticket from scratch in
the browser (nine fields, two sections, one rule, one link, publish), then a salesperson files one
on a phone. Every click, fill and choice is counted (target: at most 45 for the build); the server
time of each builder request and the wall time go to test-artifacts/builder-walk.json (the
figures are measured by bench/builder_bench.py; this test holds the count and the path)."""
import json
import statistics
import time
import uuid

import pytest
from playwright.sync_api import expect

from formwarden.catalog import policies
from formwarden.models import Record
from formwarden.records import service
from tests.conftest import ARTIFACTS, DEMO_PASSWORD, VALID_CUSTOMER, actor_of

pytestmark = pytest.mark.browser
TARGET = 45


class Walk:
    """A person's hands: each call is one interaction, counted."""

    def __init__(self, page):
        self.page, self.count = page, 0

    def click(self, locator):
        self.count += 1
        locator.click()

    def fill(self, selector: str, text: str, then_tab: bool = True):
        self.count += 1  # typing a value and moving on is one interaction
        self.page.fill(selector, text)
        if then_tab:
            self.page.keyboard.press("Tab")

    def choose(self, selector: str, label: str):
        self.count += 1
        self.page.select_option(selector, label=label)

    def field(self, kind: str, name: str):
        """Palette, then the name in the panel (the draft saves as it changes)."""
        self.click(self.page.locator(".palette").get_by_role("button", name=kind, exact=True))
        expect(self.page.locator("#panel #f-label_zh")).to_have_value(kind)
        self.fill("#f-label_zh", name)
        expect(self.page.locator("#panel-head")).to_contain_text(name)

    def options(self, *labels: str):
        for i, label in enumerate(labels):
            if i >= 2:
                self.click(self.page.get_by_role("button", name="+ 添加选项"))
                expect(self.page.locator(f"#f-opt-{i}-zh")).to_be_visible()
            self.fill(f"#f-opt-{i}-zh", label)
            expect(self.page.locator(f"#f-opt-{i}-zh")).to_have_value(label)


def test_a_manager_builds_the_after_sales_ticket_and_a_salesperson_files_one_on_a_phone(page, browser, live_server):
    customer = service.create_record(actor_of("admin"), "customer", dict(VALID_CUSTOMER, owner="sales01", name="周杰"))
    timings: list[float] = []
    page.on("requestfinished", lambda req: timings.append(req.timing["responseStart"] - req.timing["requestStart"])
            if "/design/" in req.url and req.method == "POST" else None)
    page.login("manager")
    started = time.monotonic()
    hands = Walk(page)
    title = "售后工单" + uuid.uuid4().hex[:4]
    hands.click(page.get_by_role("link", name="表单设计"))
    hands.fill("#title_zh", title, then_tab=False)
    hands.click(page.get_by_role("button", name="创建表单"))
    page.wait_for_url("**/design/shou_hou_gong_dan*")
    page.wait_for_load_state()
    key = page.url.rstrip("/").rsplit("/", 1)[1]

    hands.field("关联记录", "客户")
    hands.choose("#f-ref", "客户")
    expect(page.locator("#f-ref")).to_have_value("customer")
    hands.field("单行文本", "产品")
    hands.field("单选", "问题类型")
    hands.options("维修", "退款", "换货")
    hands.field("单选", "严重程度")
    hands.options("一般", "紧急")
    hands.field("多行文本", "问题描述")
    hands.field("附件", "照片")
    hands.click(page.locator("details.add-section > summary"))
    hands.fill("#section_zh", "处理", then_tab=False)
    hands.click(page.get_by_role("button", name="添加分组"))
    expect(page.locator(".design-section")).to_have_count(2)
    hands.field("金额（元）", "退款金额")
    hands.field("日期", "截止日期")
    hands.field("成员（负责人）", "负责人")
    # the rule: refunds show and require the amount
    hands.choose("select[name=field_0]", "问题类型")
    hands.click(page.locator("#rule-editor .checks").first.get_by_role("checkbox", name="退款", exact=True))
    hands.click(page.locator("#rule-editor fieldset.checks").nth(0).get_by_label("退款金额"))
    hands.click(page.locator("#rule-editor fieldset.checks").nth(1).get_by_label("退款金额"))
    hands.click(page.get_by_role("button", name="添加规则"))
    expect(page.locator("#rules")).to_contain_text("显示 退款金额")
    hands.click(page.get_by_role("link", name="检查并发布…"))
    hands.click(page.get_by_role("button", name="发布第 1 版"))
    expect(page.locator("main")).to_contain_text("第 1 版已发布")
    built = time.monotonic() - started
    page.shot("built")
    assert hands.count <= TARGET, f"{hands.count} interactions to build the ticket"

    # the access manager decides (not the designer's part), then a salesperson files one on a phone
    doc_fields = ("ke_hu", "chan_pin", "wen_ti_lei_xing", "yan_zhong_cheng_du", "wen_ti_miao_shu", "zhao_pian",
                  "tui_kuan_jin_e", "jie_zhi_ri_qi", "fu_ze_ren")
    policies.save(actor_of("admin"), key, {
        "admin": {"scope": "all", "actions": ["create", "read", "update", "delete", "export"], "fields": {"*": "write"}},
        "sales": {"scope": "all", "actions": ["create", "read", "update"], "fields": {n: "write" for n in doc_fields}}},
        reason="售后工单给销售")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True, has_touch=True)
    sales = phone.new_page()
    filed_from = time.monotonic()
    frontline = Walk(sales)
    sales.goto(f"{live_server}/login")
    sales.fill("#username", "sales01")
    sales.fill("#password", DEMO_PASSWORD)
    sales.click("button.primary")
    sales.goto(f"{live_server}/f/{key}/new")
    sales.wait_for_load_state()
    frontline.fill("#in-ke_hu", "周杰", then_tab=False)
    frontline.click(sales.get_by_role("option", name="周杰"))
    frontline.fill("#in-chan_pin", "空调")
    frontline.choose("#in-wen_ti_lei_xing", "退款")
    expect(sales.locator("#f-tui_kuan_jin_e label")).to_be_visible()  # the rule brings the amount in
    frontline.fill("#in-tui_kuan_jin_e", "1,280.50")
    frontline.choose("#in-yan_zhong_cheng_du", "紧急")
    frontline.click(sales.get_by_role("button", name="保存"))
    expect(sales.locator("main")).to_contain_text("空调")
    filed = time.monotonic() - filed_from
    sales.screenshot(path=str(ARTIFACTS / "builder-walk-phone.png"), full_page=True)
    phone.close()
    rec = Record.select().order_by(Record.id.desc()).first()
    assert rec.data["ke_hu"] == customer.id and rec.data["tui_kuan_jin_e"] == 128050  # kept in fen

    ARTIFACTS.mkdir(exist_ok=True)
    report = {"build_interactions": hands.count, "target": TARGET, "build_seconds": round(built, 1),
              "builder_requests": len(timings),
              "builder_server_ms_p50": round(statistics.median(timings), 1) if timings else None,
              "builder_server_ms_p95": round(sorted(timings)[int(0.95 * (len(timings) - 1))], 1) if timings else None,
              "file_on_phone_interactions": frontline.count, "file_on_phone_seconds": round(filed, 1)}
    (ARTIFACTS / "builder-walk.json").write_text(json.dumps(report, indent=2))
    print(report)
