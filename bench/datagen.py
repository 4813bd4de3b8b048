"""Generated data for the benchmarks: audit events chained exactly as the application chains
them, customers with a sealed ID number, inserted in bulk (set-up, not measured)."""
from __future__ import annotations

import datetime as dt
import json
import random


def generate_events(n: int, users: dict[int, int], key: bytes, rng: random.Random, start: dt.datetime,
                    first_seq: int = 1, prev: str | None = None) -> str:
    """Insert `n` update events by sales01…20 spread over a year after `start`; returns the head hash."""
    from formwarden import db
    from formwarden.audit import chain

    prev = prev or chain.GENESIS
    step = dt.timedelta(days=365) / n
    fields = ["status", "notes", "contract_amount", "company", "next_followup", "region", "tags", "mobile"]
    columns = chain.FIELDS + ("prev_hash", "hash", "mac")
    insert = f"INSERT INTO audit_event ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
    batch = []
    for seq in range(first_seq, first_seq + n):
        at = start + step * (seq - first_seq + 1)
        who = rng.randrange(1, 21)
        changed = rng.sample(fields, 2)
        event = {
            "seq": seq, "at": db.db_datetime(at) if not db.is_postgres() else at, "actor_kind": "user",
            "actor_id": users[who], "actor_name": f"sales{who:02d}",
            "action": "update", "form_key": "customer", "record_id": rng.randrange(1, 100_000),
            "diff": json.dumps({f: [f"old{seq}", f"new{seq}"] for f in changed}, ensure_ascii=False,
                               sort_keys=True),
            "reason": "", "request_id": f"{seq:016x}", "ip": f"10.{who}.{seq % 7}.{seq % 251}",
            "user_agent": "bench",
        }
        digest = chain.event_hash(prev, event)
        batch.append(tuple(event[c] for c in chain.FIELDS) + (prev, digest, chain.event_mac(key, digest)))
        prev = digest
        if len(batch) == 5000:
            _flush(insert, batch)
    if batch:
        _flush(insert, batch)
    return prev


def _flush(insert: str, batch: list) -> None:
    from formwarden import db

    with db.database.atomic():
        db.database.cursor().executemany(db._dialect(insert), batch)
    batch.clear()


def generate_customers(n: int, form_id: int, version: int, owners: list[int], rng: random.Random) -> None:
    """Insert `n` customers owned by `owners`, each with a sealed (restricted) ID number."""
    from formwarden import db
    from formwarden.crypto.fields import seal

    now = db.db_datetime(dt.datetime(2026, 11, 1))
    insert = ("INSERT INTO record (form_id, form_version, version, owner_id, data, created_at, created_by_id,"
              " updated_at, updated_by_id) VALUES (?, ?, 1, ?, json(?), ?, ?, ?, ?)")
    statuses = ["lead", "contacted", "negotiating", "won", "lost"]
    batch = []
    for i in range(n):
        owner = owners[i % len(owners)]
        data = {"name": f"客户{i:06d}", "mobile": f"139{rng.randrange(10 ** 8):08d}", "company": f"公司{i % 997}",
                "status": statuses[i % 5], "contract_amount": round(rng.random() * 1e6, 2),
                "notes": "跟进备注 " * rng.randrange(1, 6), "id_number": seal("customer", "id_number", "11010519491231002X")}
        batch.append((form_id, version, owner, json.dumps(data, ensure_ascii=False), now, owner, now, owner))
        if len(batch) == 5000:
            with db.database.atomic():
                db.database.cursor().executemany(db._dialect(insert), batch)
            batch.clear()
    if batch:
        with db.database.atomic():
            db.database.cursor().executemany(db._dialect(insert), batch)
