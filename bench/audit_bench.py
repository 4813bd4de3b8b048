#!/usr/bin/env python3
"""W4 and W7 of shared/WORKLOAD.md over N audit events (default 1,000,000).

    .venv/bin/python bench/audit_bench.py [--events N] [--database-url URL]

The events are generated with a fixed seed, spread over one year, and chained exactly as the
application chains them (bulk-inserted: set-up, not measured). W4 then runs 100 of each history
query over HTTP through the JSON API as an administrator; W7 runs the real `formwarden audit
verify`. SQLite by default.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datagen import generate_events

BIN = Path(sys.executable).parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--database-url", default="")
    ap.add_argument("--queries", type=int, default=100, help="queries per W4 and search measurement")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fw-w7-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    env["FORMWARDEN_INSTANCE"] = str(tmp / "instance")
    if a.database_url:
        env["DATABASE_URL"] = a.database_url
    subprocess.run([str(BIN / "formwarden"), "init"], env=env, check=True, capture_output=True)
    subprocess.run([str(BIN / "formwarden"), "load-forms"], env=env, check=True, capture_output=True)
    subprocess.run([str(BIN / "formwarden"), "demo", "--password", "bench-pass-123", "--records", "0"], env=env,
                   check=True, capture_output=True)
    os.environ.update(env)

    from formwarden import db
    from formwarden.config import load_settings
    from formwarden.crypto.keys import load_key
    from formwarden.models import utcnow

    db.open_database(load_settings().database_url)
    db.ensure_connection()
    if db.is_postgres():
        db.execute("TRUNCATE audit_event, audit_checkpoint")
    else:
        db.execute("DELETE FROM audit_event")
    key = load_key("audit")
    from formwarden.models import User

    users = {int(u.username[5:]): u.id for u in User.select().where(User.username.startswith("sales"))}
    rng = random.Random(3)
    start = utcnow() - dt.timedelta(days=365)
    t0 = time.perf_counter()
    generate_events(a.events, users, key, rng, start)
    setup = time.perf_counter() - t0
    from formwarden.audit.field_index import index_pending  # the worker's field index, caught up

    t0 = time.perf_counter()
    indexed = 0
    while (n := index_pending(limit=20_000, max_batches=50)):
        indexed += n
    index_wall = time.perf_counter() - t0
    from formwarden.access.actor import Actor
    from formwarden.auth.tokens import create_token

    _, token = create_token(Actor.system("bench"), User.get(User.username == "admin"), scopes=["read", "audit"])
    db.database.close()
    w4 = run_w4(env, token, start, a.events, rng, n=a.queries)

    t0 = time.perf_counter()
    done = subprocess.run([str(BIN / "formwarden"), "audit", "verify"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode:
        print(done.stderr)
        return 1
    print(f"Audit bench: {a.events:,} events over one year on {'PostgreSQL' if a.database_url else 'SQLite'} "
          f"(set-up {setup:.0f}s)")
    print("| op | queries | p50 ms | p95 ms | max ms | errors |")
    print("|---|---|---|---|---|---|")
    for name, lat, errors in w4:
        print(f"| {name} | {len(lat)} | {pct(lat, 50):.1f} | {pct(lat, 95):.1f} | {max(lat):.1f} | {errors} |")
    print(f"| W7 audit verify (whole command) | 1 | {wall * 1000:,.0f} | | | 0 |")
    print(f"W7: {a.events / wall:,.0f} events/s. {done.stdout.strip()}")
    print(f"Field index (the worker's job) built over {indexed:,} events: {index_wall:.1f} s = "
          f"{indexed / index_wall:,.0f} events/s")
    scanned, scan_wall, alerts = alert_scan(min(a.events, 100_000))
    print(f"Anomaly scan (the worker's job) over the newest {scanned:,} of {a.events:,} events: "
          f"{scan_wall:.1f} s = {scanned / scan_wall:,.0f} events/s, {alerts} alert(s) opened or added to.")
    return 0


def alert_scan(n: int) -> tuple[int, float, int]:
    """Run the anomaly rules over the newest `n` events, as the worker's scan job does."""
    from formwarden import db
    from formwarden.audit.alerts import scan_pending
    from formwarden.config import load_settings
    from formwarden.models import AlertCursor, AuditEvent

    db.open_database(load_settings().database_url)
    db.ensure_connection()
    head = AuditEvent.select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1).scalar() or 0
    AlertCursor.delete().execute()
    AlertCursor.create(last_seq=max(0, head - n))
    t0 = time.perf_counter()
    alerts, caught_up = scan_pending(budget_seconds=3600)
    wall = time.perf_counter() - t0
    assert caught_up
    db.database.close()
    return min(n, head), wall, len(alerts)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def run_w4(env, token, start, events, rng, n=100):
    """W4 (a) one record's history, (b) one user's changes in 24 h, (c) one field across the form in a week."""
    sys.path.insert(0, str(Path(__file__).parent))
    from run import Client, free_port, stop
    from run import start as start_server

    port = free_port()
    server = start_server([str(BIN / "formwarden"), "serve", "--port", str(port)], env, port)
    c = Client(port, {"Authorization": f"Bearer {token}"})
    days = max(1, int(365 * min(1.0, events / 1_000_000)))
    out = []
    try:
        def timed(name, make_path):
            lat, errors = [], 0
            for _ in range(n):
                path = make_path()
                t = time.perf_counter()
                status, _ = c.call("GET", path)
                lat.append((time.perf_counter() - t) * 1000)
                errors += status != 200
            out.append((name, lat, errors))

        def day(offset_days, length_days):
            since = start + dt.timedelta(days=offset_days)
            return since.isoformat(timespec="seconds"), (since + dt.timedelta(days=length_days)).isoformat(
                timespec="seconds")

        timed("W4a history of one record", lambda: f"/api/v1/audit/events?form=customer&record={rng.randrange(1, 100_000)}")

        def by_user():
            since, until = day(rng.randrange(0, days), 1)
            return f"/api/v1/audit/events?actor=sales{rng.randrange(1, 21):02d}&since={since}&until={until}"

        timed("W4b one user, 24 hours", by_user)

        def by_field():
            since, until = day(rng.randrange(0, max(1, days - 7)), 7)
            return f"/api/v1/audit/events?form=customer&field=contract_amount&since={since}&until={until}"

        timed("W4c one field, one week", by_field)
        # The audit search by one dimension alone, over the whole year (the page and its total).
        timed("search: actor", lambda: f"/api/v1/audit/events?actor=sales{rng.randrange(1, 21):02d}")
        timed("search: action", lambda: "/api/v1/audit/events?action=update")
        timed("search: rare action", lambda: "/api/v1/audit/events?action=purge")
        timed("search: form", lambda: "/api/v1/audit/events?form=customer")
        timed("search: record", lambda: f"/api/v1/audit/events?record={rng.randrange(1, 100_000)}")
        timed("search: field", lambda: "/api/v1/audit/events?field=" + rng.choice(["notes", "status", "region"]))
        timed("search: rare field", lambda: "/api/v1/audit/events?field=id_number")
        timed("search: IP", lambda: f"/api/v1/audit/events?ip=10.{rng.randrange(1, 21)}.{rng.randrange(7)}."
                                    f"{rng.randrange(251)}")

        def time_range():
            since, until = day(rng.randrange(0, max(1, days - 30)), 30)
            return f"/api/v1/audit/events?since={since}&until={until}"

        timed("search: time range (30 days)", time_range)
    finally:
        stop(server)
    return out


if __name__ == "__main__":
    sys.exit(main())
