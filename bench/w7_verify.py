#!/usr/bin/env python3
"""W7 of shared/WORKLOAD.md: `formwarden audit verify` over N audit events (default 1,000,000).

    .venv/bin/python bench/w7_verify.py [--events N] [--database-url URL]

The events are generated with a fixed seed and chained exactly as the application chains them
(bulk-inserted: set-up, not measured); then the real command verifies them. SQLite by default.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--database-url", default="")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fw-w7-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    env["FORMWARDEN_INSTANCE"] = str(tmp / "instance")
    if a.database_url:
        env["DATABASE_URL"] = a.database_url
    subprocess.run([str(BIN / "formwarden"), "init"], env=env, check=True, capture_output=True)
    os.environ.update(env)

    from formwarden import db
    from formwarden.audit import chain
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
    rng = random.Random(3)
    prev = chain.GENESIS
    start = utcnow()
    columns = chain.FIELDS + ("prev_hash", "hash", "mac")
    insert = f"INSERT INTO audit_event ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
    t0 = time.perf_counter()
    batch = []
    for seq in range(1, a.events + 1):
        at = start.replace(microsecond=seq % 1_000_000)
        event = {
            "seq": seq, "at": db.db_datetime(at) if not db.is_postgres() else at, "actor_kind": "user",
            "actor_id": rng.randrange(1, 25), "actor_name": f"sales{rng.randrange(1, 21):02d}",
            "action": "update", "form_key": "customer", "record_id": rng.randrange(1, 100_000),
            "diff": json.dumps({"status": ["lead", "contacted"], "notes": [None, f"n{seq}"]}, ensure_ascii=False,
                               sort_keys=True),
            "reason": "", "request_id": f"{seq:016x}", "ip": "127.0.0.1", "user_agent": "bench",
        }
        digest = chain.event_hash(prev, event)
        batch.append(tuple(event[c] for c in chain.FIELDS) + (prev, digest, chain.event_mac(key, digest)))
        prev = digest
        if len(batch) == 5000:
            with db.database.atomic():
                db.database.cursor().executemany(db._dialect(insert), batch)
            batch.clear()
    if batch:
        with db.database.atomic():
            db.database.cursor().executemany(db._dialect(insert), batch)
    setup = time.perf_counter() - t0
    db.database.close()

    t0 = time.perf_counter()
    done = subprocess.run([str(BIN / "formwarden"), "audit", "verify"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode:
        print(done.stderr)
        return 1
    print(f"W7 verify: {a.events:,} events on {'PostgreSQL' if a.database_url else 'SQLite'}")
    print("| op | events | wall s (whole command) | events/s | set-up s |")
    print("|---|---|---|---|---|")
    print(f"| W7 audit verify | {a.events:,} | {wall:.2f} | {a.events / wall:,.0f} | {setup:.1f} |")
    print(done.stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
