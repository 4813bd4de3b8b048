#!/usr/bin/env python3
"""The business manager's path, timed: a manager builds the after-sales ticket of issue 18 (a
customer link, product, issue type, severity, description, photo, refund amount shown and
required only for refunds, due date, assignee, two sections, one rule) through the builder's own
HTMX requests against the production server (gunicorn), with `--records` customers in the
database. Prints the number of builder actions and the server's answer time per kind of action
(p50 / p95 / max, measured on loopback, so it is the server's time plus a few tenths of a ms).

    .venv/bin/python bench/builder_bench.py                  # 2,000 customers, 5 builds
    .venv/bin/python bench/builder_bench.py --records 0 --builds 1
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BIN, Client, fill_records, free_port, login_cookie, pct, setup_instance, start, stop  # noqa: E402

HX = {"HX-Request": "true", "HX-Target": "builder", "Content-Type": "application/x-www-form-urlencoded"}


class Builder:
    """One manager's builder session: each call is one action a person makes."""

    def __init__(self, port: int, cookie: str):
        self.client = Client(port, {"Cookie": cookie})
        status, body = self.client.call("GET", "/design/")
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"', body.decode()).group(1)
        self.times: dict[str, list[float]] = defaultdict(list)
        self.rev = ""
        self.key = ""

    def post(self, kind: str, path: str, data: dict | list, expect: int = 200) -> str:
        pairs = list(data.items()) if isinstance(data, dict) else list(data)
        body = urlencode([("csrf_token", self.csrf), ("rev", self.rev), *pairs]).encode()
        started = time.perf_counter()
        self.client.conn.request("POST", path, body=body, headers={**self.client.headers, **HX, "X-CSRFToken": self.csrf})
        resp = self.client.conn.getresponse()
        text = resp.read().decode()
        self.times[kind].append((time.perf_counter() - started) * 1000)
        if resp.status != expect:
            raise RuntimeError(f"{kind} {path}: {resp.status} {text[:300]}")
        found = re.search(r'id="builder"[^>]*data-rev="([0-9a-f]+)"', text)
        if found:
            self.rev = found.group(1)
        return text

    def new_form(self, title: str) -> None:
        body = urlencode({"csrf_token": self.csrf, "title_zh": title}).encode()
        started = time.perf_counter()
        self.client.conn.request("POST", "/design/new", body=body, headers={
            **self.client.headers, "Content-Type": "application/x-www-form-urlencoded"})
        resp = self.client.conn.getresponse()
        resp.read()
        self.times["create form"].append((time.perf_counter() - started) * 1000)
        self.key = resp.getheader("Location").rsplit("/", 1)[1]
        started = time.perf_counter()
        status, page = self.client.call("GET", f"/design/{self.key}")
        self.times["open editor"].append((time.perf_counter() - started) * 1000)
        self.rev = re.search(r'id="builder"[^>]*data-rev="([0-9a-f]+)"', page.decode()).group(1)

    def add(self, kind: str, name: str, **settings) -> str:
        """Palette click, then the name typed in the panel (saved on change), then each setting."""
        text = self.post("add field (palette)", f"/design/{self.key}/fields", {"kind": kind})
        field = re.search(r'id="f-key" name="key" value="([a-z0-9_]+)"', text).group(1)
        form = {"label_zh": name, "kind": kind, "key": field, **settings.pop("form", {})}
        text = self.post("name the field (autosave)", f"/design/{self.key}/fields/{field}", form)
        field = re.search(r'id="f-key" name="key" value="([a-z0-9_]+)"', text).group(1)
        for value in settings.get("steps", []):
            text = self.post("field setting (autosave)", f"/design/{self.key}/fields/{field}",
                             {"label_zh": name, "kind": kind, "key": field, **value})
        return field

    def options(self, field: str, name: str, labels: list[str]) -> None:
        """Options typed into the list editor's rows one by one (each row saved on change)."""
        for n in range(1, len(labels) + 1):
            rows = labels[:n] + (["选项二"] if n == 1 else [])
            pairs = [("label_zh", name), ("kind", "select"), ("key", field)]
            pairs += [("opt_zh", zh) for zh in rows] + [("opt_en", "") for _ in rows]
            if n > 2:
                pairs.append(("option_op", "add"))
            self.post("option row (autosave)", f"/design/{self.key}/fields/{field}", pairs)


def build_ticket(b: Builder, n: int) -> None:
    b.new_form(f"售后工单{n}")
    customer = b.add("reference", "客户", form={"ref": "customer"})
    b.add("text", "产品")
    issue = b.add("select", "问题类型")
    b.options(issue, "问题类型", ["维修", "退款", "换货"])
    severity = b.add("select", "严重程度")
    b.options(severity, "严重程度", ["一般", "严重"])
    b.add("textarea", "问题描述")
    b.post("add section", f"/design/{b.key}/sections", {"section_zh": "处理"})
    b.add("attachment", "照片")
    refund = b.add("cny", "退款金额")
    b.add("date", "截止日期")
    b.add("member", "负责人")
    b.post("rule editor (pick field)", f"/design/{b.key}/rules/editor", {"field_0": issue})
    b.post("add rule", f"/design/{b.key}/rules", [("field_0", issue), ("op_0", "in"), ("value_0", "tui_kuan"),
                                                  ("show", refund), ("require", refund)])
    b.post("form settings", f"/design/{b.key}/settings", [("title_zh", f"售后工单{n}"), ("title_field", customer),
                                                          ("list_fields", customer), ("list_fields", issue)])


def change_customer(b: Builder) -> None:
    """Version 2 of the published customer form (which holds the records): the same actions, on a
    draft whose checks read the records."""
    b.key = "customer"
    started = time.perf_counter()
    status, page = b.client.call("GET", "/design/customer")
    b.times["open editor (customer)"].append((time.perf_counter() - started) * 1000)
    b.rev = re.search(r'id="builder"[^>]*data-rev="([0-9a-f]+)"', page.decode()).group(1)
    wechat = b.add("text", "微信号")
    b.post("move a field", "/design/customer/move", {"field": wechat, "section": "basic", "index": "1"})
    b.post("remove a field", f"/design/customer/fields/{wechat}/remove", {})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--builds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fw-builder-bench-") as tmp:
        env = setup_instance(Path(tmp))
        if args.records:
            import os
            os.environ["FORMWARDEN_INSTANCE"] = env["FORMWARDEN_INSTANCE"]
            fill_records(env, args.records)
        port = free_port()
        proc = start([str(BIN / "formwarden"), "serve", "--port", str(port)], env, port)
        try:
            b = Builder(port, login_cookie(port, "manager"))
            for n in range(args.builds):
                build_ticket(b, n)
                change_customer(b)
        finally:
            stop(proc)
    every = [t for kind, ts in b.times.items() if not kind.startswith(("create form", "open editor")) for t in ts]
    actions = len(every) // args.builds
    print(f"after-sales ticket built {args.builds}× with {args.records} customers: {actions} builder actions each")
    print(f"{'action':32} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for kind, ts in b.times.items():
        print(f"{kind:32} {len(ts):>4} {pct(ts, 50):>8.1f} {pct(ts, 95):>8.1f} {max(ts):>8.1f}")
    print(f"{'every builder action':32} {len(every):>4} {pct(every, 50):>8.1f} {pct(every, 95):>8.1f} {max(every):>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
