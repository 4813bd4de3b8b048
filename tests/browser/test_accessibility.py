"""axe-core (tests/vendor/, from npm) over the pages each kind of person works in, on a phone and
on a desktop: no critical or serious violation. bench/a11y.py walks every reachable page of every
role in both languages; this keeps the main ones from regressing in the test command."""
from pathlib import Path

import pytest

from formwarden.records import service
from tests.conftest import DEMO_PASSWORD, VALID_CUSTOMER, actor_of

pytestmark = pytest.mark.browser
AXE = (Path(__file__).resolve().parents[1] / "vendor" / "axe-4.14.1.min.js").read_text()
PAGES = {
    "sales01": ["/", "/f/customer/", "/f/customer/new", "/f/customer/{cid}", "/f/followup/", "/f/followup/new"],
    "manager": ["/design/", "/design/customer", "/design/customer?field=status", "/design/customer/publish"],
    "admin": ["/admin/people", "/admin/access", "/admin/access/customer", "/alerts", "/backups", "/audit"],
}


@pytest.mark.parametrize("width", [390, 1280])
def test_no_critical_or_serious_violation(browser, live_server, clean_db, width):
    cid = service.create_record(actor_of("admin"), "customer", dict(VALID_CUSTOMER, owner="sales01")).id
    found = []
    for user, paths in PAGES.items():
        context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN", bypass_csp=True)
        page = context.new_page()
        page.goto(f"{live_server}/login")
        page.fill("#username", user)
        page.fill("#password", DEMO_PASSWORD)
        page.click("button.primary")
        page.wait_for_load_state()
        for path in paths:
            resp = page.goto(live_server + path.format(cid=cid))
            assert resp.status == 200, (user, path, resp.status)
            page.add_script_tag(content=AXE)
            result = page.evaluate("async () => await axe.run(document, {runOnly: {type: 'tag', values: "
                                   "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})")
            found += [(user, path, v["id"], v["nodes"][0]["target"]) for v in result["violations"]
                      if v["impact"] in ("critical", "serious")]
        context.close()
    assert found == []
