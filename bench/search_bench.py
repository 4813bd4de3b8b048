#!/usr/bin/env python3
"""The list's search box at scale: 100,000 customers (bench/run.py's generator), searched over
the JSON API the way frontline staff search — a full name, a whole mobile number typed with
spaces, its last four digits, part of a company — as support (every record), sales01 (own
records) and finance (company only). Prints p50/p95/p99 per user and the time to index.

    .venv/bin/python bench/search_bench.py               # 100,000 records, 200 searches per user
    .venv/bin/python bench/search_bench.py --records 5000 --searches 40
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (  # noqa: E402 - the shared bench helpers
    BIN,
    SURNAMES,
    Client,
    customer,
    fill_records,
    free_port,
    index_search,
    login_cookie,
    pct,
    setup_instance,
    start,
    stop,
)


def queries(total: int, n: int, seed: int = 11) -> list[str]:
    """Searches for values that exist, drawn from the same generator fill_records used."""
    rng = random.Random(seed)
    made = []
    for i in range(total):  # the same draws, in the same order, as fill_records
        made.append(customer(rng, i))
        rng.choice(["lead", "contacted", "negotiating", "won", "lost"])
    pick = random.Random(5)
    out = []
    for k in range(n):
        c = made[pick.randrange(total)]
        m = c["mobile"]
        out.append([c["name"], f"{m[:3]} {m[3:7]} {m[7:]}", m[-4:], c["company"][:2]][k % 4])
    return out


def run(port: int, cookie: str, terms: list[str]) -> tuple[list[float], int, int]:
    from urllib.parse import quote

    client = Client(port, {"Cookie": cookie})
    lat, errors, found = [], 0, 0
    for q in terms:
        t = time.perf_counter()
        status, body = client.call("GET", f"/api/v1/forms/customer/records?q={quote(q)}&per_page=25")
        lat.append(time.perf_counter() - t)
        errors += status != 200
        found += bool(status == 200 and json.loads(body).get("total"))
    return lat, errors, found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--searches", type=int, default=200)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fw-search-bench-"))
    env = setup_instance(tmp)
    import os

    os.environ.update(FORMWARDEN_INSTANCE=env["FORMWARDEN_INSTANCE"])
    started = time.perf_counter()
    fill_records(env, a.records)
    filled = time.perf_counter() - started
    from formwarden import db
    from formwarden.config import load_settings

    db.open_database(load_settings().database_url)
    reindex = index_search()
    db.database.close()
    port = free_port()
    server = start([str(BIN / "formwarden"), "serve", "--port", str(port), "--workers", "2", "--threads", "4"],
                   env, port)
    terms = queries(a.records, a.searches)
    lines = [f"Search bench: {a.records:,} customers, {a.searches} searches per user (name, mobile with spaces,"
             f" last 4 digits, part of a company), SQLite", "",
             "| user | searches | with results | p50 ms | p95 ms | p99 ms | errors |", "|---|---|---|---|---|---|---|"]
    try:
        for user in ("support", "sales01", "finance"):
            cookie = login_cookie(port, user)
            run(port, cookie, terms[:10])  # warm caches
            lat, errors, found = run(port, cookie, terms)
            lines.append(f"| {user} | {len(lat)} | {found} | {pct(lat, 50) * 1000:.1f} | {pct(lat, 95) * 1000:.1f} |"
                         f" {pct(lat, 99) * 1000:.1f} | {errors} |")
    finally:
        stop(server)
    lines += ["", f"set-up: {filled:.1f} s to insert and index; indexing all {a.records:,} records again: "
              f"{reindex:.1f} s ({a.records / reindex:,.0f} records/s). Surnames in the data: {len(SURNAMES)}."]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
