#!/usr/bin/env python3
"""Accessibility over every page each demo role reaches: axe-core (vendored from npm, tests/vendor/)
injected with Playwright into Debian's Chromium, in both languages and at desktop and phone
width. Prints the violations by impact and rule, with a page and an element for each; the exit
code is 1 when any critical or serious violation is found.

    .venv/bin/python bench/a11y.py                          # every role, zh-CN and en, 1280 and 390 px
    .venv/bin/python bench/a11y.py --roles admin --langs zh-CN --widths 390 --max-pages 10
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import defaultdict, deque
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BIN, PASSWORD, free_port, setup_instance, start, stop  # noqa: E402

AXE = Path(__file__).resolve().parents[1] / "tests" / "vendor" / "axe-4.14.1.min.js"  # axe-core from npm, MPL-2.0
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
USERS = ("admin", "manager", "finance", "support", "intern", "auditor", "sales01")
SKIP = re.compile(r"logout|download|export|\.csv$|\.xlsx$|\.json$|delete|purge|revert|restore|deactivate|revoke|"
                  r"reveal|/files/|/static/", re.I)
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def shape(path: str) -> str:
    return re.sub(r"/\d+", "/N", path)


def crawl(page, base: str, max_pages: int) -> list[str]:
    """Same-origin pages reachable by links from the home page, breadth first, 2 per route shape."""
    seen, shapes, out = set(), defaultdict(int), []
    queue = deque(["/"])
    while queue and len(out) < max_pages:
        path = queue.popleft()
        if path in seen or SKIP.search(path) or shapes[shape(path.split("?")[0])] >= 2:
            continue
        seen.add(path)
        shapes[shape(path.split("?")[0])] += 1
        resp = page.goto(base + path)
        if resp is None or resp.status >= 400 or "text/html" not in (resp.headers.get("content-type") or ""):
            continue
        out.append(path)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            parts = urlsplit(href)
            if parts.netloc or not parts.path.startswith("/"):
                continue
            queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def main() -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", default=",".join(USERS))
    parser.add_argument("--langs", default="zh-CN,en")
    parser.add_argument("--widths", default="1280,390")
    parser.add_argument("--max-pages", type=int, default=30)
    args = parser.parse_args()
    axe = AXE.read_text()
    found: dict = defaultdict(lambda: {"impact": "", "pages": set(), "example": "", "help": ""})
    scanned = 0
    with tempfile.TemporaryDirectory(prefix="fw-a11y-") as tmp:
        env = setup_instance(Path(tmp))
        port = free_port()
        proc = start([str(BIN / "formwarden"), "serve", "--port", str(port)], env, port)
        base = f"http://127.0.0.1:{port}"
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                for user in args.roles.split(","):
                    for lang in args.langs.split(","):
                        for width in (int(w) for w in args.widths.split(",")):
                            ctx = browser.new_context(viewport={"width": width, "height": 900}, locale=lang, bypass_csp=True)
                            page = ctx.new_page()
                            page.goto(base + "/login")
                            page.fill("input[name=username]", user)
                            page.fill("input[name=password]", PASSWORD)
                            page.locator("form[action='/login'] button[type=submit]").click()
                            page.wait_for_load_state()
                            switch = page.locator("form.locale button")
                            want = "English" if lang == "en" else "中文"
                            if switch.count() and switch.inner_text().strip() == want:
                                switch.click()
                                page.wait_for_load_state()
                            for path in crawl(page, base, args.max_pages):
                                page.goto(base + path)
                                page.add_script_tag(content=axe)
                                result = page.evaluate("async (tags) => await axe.run(document, "
                                                       "{runOnly: {type: 'tag', values: tags}})", TAGS)
                                scanned += 1
                                for v in result["violations"]:
                                    entry = found[v["id"]]
                                    entry["impact"], entry["help"] = v["impact"], v["help"]
                                    entry["pages"].add(f"{user} {lang} {width}px {path}")
                                    if not entry["example"]:
                                        entry["example"] = f"{path}: {v['nodes'][0]['target']} {v['nodes'][0]['html'][:120]}"
                            ctx.close()
                browser.close()
        finally:
            stop(proc)
    order = {"critical": 0, "serious": 1, "moderate": 2, "minor": 3}
    bad = 0
    print(f"{scanned} pages scanned (roles {args.roles}; {args.langs}; {args.widths} px)")
    for rule, e in sorted(found.items(), key=lambda kv: (order.get(kv[1]["impact"], 9), kv[0])):
        print(f"[{e['impact']}] {rule}: {e['help']} — on {len(e['pages'])} page(s), e.g. {e['example']}")
        if e["impact"] in ("critical", "serious"):
            bad += len(e["pages"])
    print(f"critical or serious: {bad} page-violations")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
