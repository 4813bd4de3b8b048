#!/usr/bin/env python3
"""Workload W1–W3 of shared/WORKLOAD.md against a running instance, with the raw and frame
baselines measured in the same run. Prints one table.

    .venv/bin/python bench/run.py                # full sizes (5,000 writes, 100,000 records listed)
    .venv/bin/python bench/run.py --quick        # small sizes, to check the bench itself

All traffic goes to 127.0.0.1; data is generated with a fixed seed; every loop is bounded.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PASSWORD = "bench-pass-123"
CLIENTS = 8
ROUNDS = 5


# ---------------------------------------------------------------- helpers

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Client:
    def __init__(self, port: int, headers: dict):
        self.port = port
        self.headers = headers
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body=None, headers=None):
        h = dict(self.headers, **(headers or {}))
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            h["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=h)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬飞鹏辉斌宇浩凯健俊帆帅旭宁琳晨欣"


def customer(rng: random.Random, i: int) -> dict:
    return {
        "name": rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2)))), "mobile": f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}",
        "company": rng.choice(["华信科技", "东方物流", "长江制造", "南山零售"]),
        "industry": rng.choice(["manufacturing", "retail", "finance", "technology"]),
        "status": rng.choice(["lead", "contacted"]), "region": rng.choice(["north", "east", "south"]),
        "notes": "基准测试生成的数据。" * rng.randrange(1, 5), "tags": ["bench"],
        "next_followup": "2026-12-15",
    }


# ---------------------------------------------------------------- HTTP workloads (run in client processes)

def _create_batch(args):
    port, prefix, token_by_index, start, count, seed = args
    rng = random.Random(seed)
    lat, errors, ids = [], 0, []
    clients = {}
    for i in range(start, start + count):
        token = token_by_index[i % len(token_by_index)]
        c = clients.get(token) or clients.setdefault(token, Client(port, {"Authorization": f"Bearer {token}"} if token else {}))
        t = time.perf_counter()
        status, body = c.call("POST", f"{prefix}/records", {"data": customer(rng, i)})
        lat.append(time.perf_counter() - t)
        if status != 201:
            errors += 1
        else:
            ids.append((json.loads(body)["id"], token))
    return lat, errors, ids


def _update_batch(args):
    port, prefix, items, seed, use_if_match = args
    rng = random.Random(seed)
    lat, errors = [], 0
    clients = {}
    for rid, token, version in items:
        c = clients.get(token) or clients.setdefault(token, Client(port, {"Authorization": f"Bearer {token}"} if token else {}))
        body = {"data": {"status": rng.choice(["contacted", "negotiating"]), "notes": f"更新 {rng.random():.6f}"}}
        headers = {"If-Match": f'"{version}"'} if use_if_match else {}
        t = time.perf_counter()
        status, _ = c.call("PATCH", f"{prefix}/records/{rid}", body, headers)
        lat.append(time.perf_counter() - t)
        if status != 200:
            errors += 1
    return lat, errors


def _ready(_):
    return os.getpid()


def _fan_out(work, chunks, clients):
    """Run `work` over the chunks, in-process for one client, else one process per client.
    The clock starts once the client processes are up (their start-up is not the server's)."""
    if clients == 1:
        t = time.perf_counter()
        results = [work(chunks[0])]
        wall = time.perf_counter() - t
    else:
        with mp.get_context("fork").Pool(clients) as pool:
            pool.map(_ready, range(clients), chunksize=1)
            t = time.perf_counter()
            results = pool.map(work, chunks, chunksize=1)
            wall = time.perf_counter() - t
    lat = [x for r in results for x in r[0]]
    return dict(count=len(lat), wall=wall, lat=lat, errors=sum(r[1] for r in results)), results


def run_creates(port, prefix, tokens, n, clients, seed):
    chunks = [(port, prefix, tokens, k * (n // clients), n // clients, seed + k) for k in range(clients)]
    measured, results = _fan_out(_create_batch, chunks, clients)
    return measured, [i for r in results for i in r[2]]


def run_updates(port, prefix, items, clients, seed, use_if_match=True):
    per = len(items) // clients
    chunks = [(port, prefix, items[k * per:(k + 1) * per], seed + k, use_if_match) for k in range(clients)]
    return _fan_out(_update_batch, chunks, clients)[0]


def merge(parts: list[dict]) -> dict:
    return dict(count=sum(p["count"] for p in parts), wall=sum(p["wall"] for p in parts),
                lat=[x for p in parts for x in p["lat"]], errors=sum(p["errors"] for p in parts))


def run_lists(port, path, headers, n):
    c = Client(port, headers)
    lat, errors = [], 0
    for _ in range(n):
        t = time.perf_counter()
        status, _ = c.call("GET", path)
        lat.append(time.perf_counter() - t)
        errors += status != 200
    return dict(count=n, wall=sum(lat), lat=lat, errors=errors)


# ---------------------------------------------------------------- set-up

def formwarden(env, *args) -> str:
    done = subprocess.run([str(BIN / "formwarden"), *args], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(f"formwarden {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def setup_instance(tmp: Path, name: str = "instance") -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    env["FORMWARDEN_INSTANCE"] = str(tmp / name)
    formwarden(env, "init")
    formwarden(env, "load-forms")
    formwarden(env, "demo", "--password", PASSWORD, "--records", "0")
    return env


def make_tokens(env) -> tuple[list[str], str]:
    os.environ.update(FORMWARDEN_INSTANCE=env["FORMWARDEN_INSTANCE"])
    from formwarden import db
    from formwarden.access.actor import Actor
    from formwarden.auth.tokens import create_token
    from formwarden.config import load_settings
    from formwarden.models import User

    db.open_database(load_settings().database_url)
    system = Actor.system("bench")
    sales = [create_token(system, User.get(User.username == f"sales{i:02d}"), scopes=["read", "write"])[1]
             for i in range(1, 21)]
    manager = create_token(system, User.get(User.username == "manager"), scopes=["read"])[1]
    db.database.close()
    return sales, manager


def fill_records(env, total: int, seed: int = 11) -> int:
    """Bring the customer form to `total` records with a bulk insert (set-up, not measured)."""
    from formwarden import db
    from formwarden.config import load_settings
    from formwarden.models import Form, Record, User, utcnow

    db.open_database(load_settings().database_url)
    db.ensure_connection()
    have = Record.select().count()
    form = Form.get(Form.key == "customer")
    owners = {u.username: u.id for u in User.select().where(User.username.startswith("sales"))}
    names = sorted(owners)
    rng = random.Random(seed)
    rows = []
    now = utcnow()
    for i in range(have, total):
        owner = names[i % len(names)]
        data = customer(rng, i) | {"owner": owner, "status": rng.choice(["lead", "contacted", "negotiating", "won", "lost"])}
        rows.append(dict(form=form.id, form_version=form.current_version, version=1, owner=owners[owner], data=data,
                         created_at=now, updated_at=now))
    with db.database.atomic():
        for k in range(0, len(rows), 500):
            Record.insert_many(rows[k:k + 500]).execute()
    index_search()
    db.database.close()
    return total - have


def index_search() -> float:
    """Index the bulk-inserted records for the search box, as a restore does; returns seconds."""
    from formwarden import db
    from formwarden.forms import versions
    from formwarden.records import search

    started = time.perf_counter()
    with db.database.atomic():
        search.clear()
        search.rebuild((form.id, formdef) for form, formdef in versions.all_forms())
    return time.perf_counter() - started


def start(cmd, env, port) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_port(port)
    return proc


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass


def raw_baseline(tmp: Path, n: int) -> tuple[dict, dict]:
    """Inserts and updates straight through peewee, one transaction per record, one process."""
    os.environ["FORMWARDEN_INSTANCE"] = str(tmp / "raw")
    from formwarden import db
    from formwarden.models import ALL_MODELS, AuditEvent, Form, Record, User

    db.open_database(f"sqlite:///{tmp / 'raw.db'}")
    db.ensure_connection()
    db.database.create_tables(ALL_MODELS)
    user = User.create(username="raw", password_hash="x")
    form = Form.create(key="customer", current_version=1)
    rng = random.Random(5)
    lat = []
    ids = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        with db.write_transaction():
            data = customer(rng, i)
            rec = Record.create(form=form, form_version=1, owner=user, data=data)
            AuditEvent.create(seq=i + 1, actor_kind="user", action="create", record_id=rec.id, diff=json.dumps(data))
        ids.append(rec.id)
        lat.append(time.perf_counter() - t)
    create = dict(count=n, wall=time.perf_counter() - t0, lat=lat, errors=0)
    lat = []
    t0 = time.perf_counter()
    for k, rid in enumerate(ids):
        t = time.perf_counter()
        with db.write_transaction():
            rec = Record.get_by_id(rid)
            new = {**rec.data, "status": "contacted", "notes": f"更新 {k}"}
            Record.update(data=new, version=Record.version + 1).where(Record.id == rid).execute()
            AuditEvent.create(seq=n + k + 1, actor_kind="user", action="update", record_id=rid,
                              diff=json.dumps({"status": 1, "notes": 2}))
        lat.append(time.perf_counter() - t)
    update = dict(count=n, wall=time.perf_counter() - t0, lat=lat, errors=0)
    db.database.close()
    return create, update


# ---------------------------------------------------------------- main

def row(name, mode, m, baseline=None, kind="throughput"):
    tput = m["count"] / m["wall"] if m["wall"] else float("nan")
    ratio = ""
    if baseline is not None:
        ratio = f"{tput / (baseline['count'] / baseline['wall']):.2f}x"
    p = [pct(m["lat"], q) * 1000 for q in (50, 95, 99)]
    return f"| {name} | {mode} | {m['count']} | {tput:,.0f}/s | {p[0]:.1f} | {p[1]:.1f} | {p[2]:.1f} | {m['errors']} | {ratio} |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--writes", type=int, default=5000)
    ap.add_argument("--list-records", type=int, default=100_000)
    ap.add_argument("--list-requests", type=int, default=200)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--chain-baseline", action="store_true",
                    help="also measure W1/W2 with the audit hash chaining switched off (bench-only switch)")
    a = ap.parse_args()
    if a.quick:
        a.writes, a.list_records, a.list_requests = 400, 5000, 40
    n = a.writes - a.writes % (CLIENTS * ROUNDS)
    tmp = Path(tempfile.mkdtemp(prefix="fw-bench-"))
    lines = [f"Formwarden bench: {n} writes per mode, {a.list_records:,} records listed, "
             f"gunicorn {a.workers}x{a.threads} gthread, SQLite, {os.cpu_count()} cores",
             "", "| op | mode | count | throughput | p50 ms | p95 ms | p99 ms | errors | vs baseline |",
             "|---|---|---|---|---|---|---|---|---|"]

    raw_c, raw_u = raw_baseline(tmp, n)

    # Both servers run side by side and are measured in alternating rounds, so drift in the
    # machine's load hits the baseline and Formwarden alike.
    fport = free_port()
    fenv = dict(os.environ, FRAME_DB=str(tmp / "frame.db"), FRAME_SCHEMA=str(ROOT / "form_defs" / "customer.json"))
    frame = start([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{fport}", "--workers", str(a.workers),
                   "--worker-class", "gthread", "--threads", str(a.threads), "--no-control-socket",
                   "--chdir", str(ROOT / "bench"), "frame_app:create_app()"], fenv, fport)
    env = setup_instance(tmp)
    sales_tokens, manager_token = make_tokens(env)
    port = free_port()
    server = start([str(BIN / "formwarden"), "serve", "--port", str(port), "--workers", str(a.workers),
                    "--threads", str(a.threads)], env, port)
    prefix = "/api/v1/forms/customer"
    # Every target sees the same client pattern: one keep-alive connection per sales user (the
    # frame app ignores the Authorization header), so requests spread over the server's
    # processes alike and only the server differs.
    frame_users = [f"frame-sales{i:02d}" for i in range(1, len(sales_tokens) + 1)]
    targets = {"frame": (fport, "", frame_users), "ours": (port, prefix, sales_tokens)}
    unchained = None
    if a.chain_baseline:
        # The same instance set-up with the audit trail's hash chaining switched off (bench-only).
        uenv = dict(setup_instance(tmp, "unchained"), FORMWARDEN_BENCH_UNCHAINED="1")
        utokens, _ = make_tokens(uenv)
        uport = free_port()
        unchained = start([str(BIN / "formwarden"), "serve", "--port", str(uport), "--workers", str(a.workers),
                           "--threads", str(a.threads)], uenv, uport)
        targets["unchained"] = (uport, prefix, utokens)
    per = (n // ROUNDS) - (n // ROUNDS) % CLIENTS
    m = {f"{who}_{op}_{mode}": [] for who in targets for op in ("create", "update") for mode in ("seq", "par")}
    ids = {who: {"seq": [], "par": []} for who in targets}
    try:
        for p_, pre, toks in targets.values():
            run_creates(p_, pre, toks, 200, CLIENTS, 7)  # warm-up: every process and thread connected
        for r in range(ROUNDS):
            order = list(targets) if r % 2 == 0 else list(reversed(targets))
            for mode, clients in (("seq", 1), ("par", CLIENTS)):
                for who in order:
                    p_, pre, toks = targets[who]
                    measured, got = run_creates(p_, pre, toks, per, clients, 1000 * r + clients)
                    m[f"{who}_create_{mode}"].append(measured)
                    ids[who][mode].append(got)
        for r in range(ROUNDS):
            order = list(targets) if r % 2 == 0 else list(reversed(targets))
            for mode, clients in (("seq", 1), ("par", CLIENTS)):
                for who in order:
                    p_, pre, _ = targets[who]
                    items = [(rid, tok, 1) for rid, tok in ids[who][mode][r]]
                    m[f"{who}_update_{mode}"].append(
                        run_updates(p_, pre, items, clients, 2000 * r + clients, use_if_match=(who != "frame")))
    finally:
        stop(frame)
        if unchained is not None:
            stop(unchained)
    t = {k: merge(v) for k, v in m.items()}
    frame_seq, frame_par, w1_seq, w1_par = (t["frame_create_seq"], t["frame_create_par"], t["ours_create_seq"],
                                            t["ours_create_par"])
    frame_useq, frame_upar, w2_seq, w2_par = (t["frame_update_seq"], t["frame_update_par"], t["ours_update_seq"],
                                              t["ours_update_par"])
    try:
        stop(server)
        added = fill_records(env, a.list_records)
        server = start([str(BIN / "formwarden"), "serve", "--port", str(port), "--workers", str(a.workers),
                        "--threads", str(a.threads)], env, port)
        list_path = f"{prefix}/records?filter[status]=negotiating&sort=-updated_at&per_page=50"
        sales_h = {"Authorization": f"Bearer {sales_tokens[0]}"}
        mgr_h = {"Authorization": f"Bearer {manager_token}"}
        run_lists(port, list_path, sales_h, 10)  # warm caches
        w3_sales = run_lists(port, list_path, sales_h, a.list_requests)
        w3_mgr = run_lists(port, list_path, mgr_h, a.list_requests)
        html_path = "/f/customer/?filter[status]=negotiating&sort=-updated_at"
        cookie = login_cookie(port, "manager")
        sales_cookie = login_cookie(port, "sales01")
        w3_html_sales = run_lists(port, html_path, {"Cookie": sales_cookie, "HX-Request": "true"}, a.list_requests)
        w3_html_mgr = run_lists(port, html_path, {"Cookie": cookie, "HX-Request": "true"}, a.list_requests)
    finally:
        stop(server)

    lines += [
        row("raw create", "1 process", raw_c),
        row("frame create", "sequential", frame_seq, raw_c),
        row("frame create", f"{CLIENTS} clients", frame_par, raw_c),
        row("W1 create", "sequential", w1_seq, frame_seq),
        row("W1 create", f"{CLIENTS} clients", w1_par, frame_par),
        row("raw update", "1 process", raw_u),
        row("frame update", "sequential", frame_useq, raw_u),
        row("frame update", f"{CLIENTS} clients", frame_upar, raw_u),
        row("W2 update", "sequential", w2_seq, frame_useq),
        row("W2 update", f"{CLIENTS} clients", w2_par, frame_upar),
        *([row("W1 create, chain off", "sequential", t["unchained_create_seq"]),
           row("W1 create, chain off", f"{CLIENTS} clients", t["unchained_create_par"]),
           row("W2 update, chain off", "sequential", t["unchained_update_seq"]),
           row("W2 update, chain off", f"{CLIENTS} clients", t["unchained_update_par"])] if unchained else []),
        row("W3 list JSON", "sales01 (own)", w3_sales),
        row("W3 list JSON", "manager (team)", w3_mgr),
        row("W3 list HTMX", "sales01 (own)", w3_html_sales),
        row("W3 list HTMX", "manager (team)", w3_html_mgr),
        "",
        f"W1 {CLIENTS} clients / sequential: {(w1_par['count'] / w1_par['wall']) / (w1_seq['count'] / w1_seq['wall']):.2f}x; "
        f"W1 sequential / frame sequential: {(w1_seq['count'] / w1_seq['wall']) / (frame_seq['count'] / frame_seq['wall']):.2f}; "
        f"records in the list table: {a.list_records:,} ({added:,} bulk-loaded for W3).",
        "W3 rows: throughput is 1 / mean latency of one sequential client.",
        *([f"audit chaining on / off: W1 {_ratio(w1_seq, t['unchained_create_seq'])} sequential, "
           f"{_ratio(w1_par, t['unchained_create_par'])} with {CLIENTS} clients; W2 "
           f"{_ratio(w2_seq, t['unchained_update_seq'])} sequential, {_ratio(w2_par, t['unchained_update_par'])} "
           f"with {CLIENTS} clients"] if unchained else []),
    ]
    print("\n".join(lines))
    return 0


def _ratio(a: dict, b: dict) -> str:
    return f"{(a['count'] / a['wall']) / (b['count'] / b['wall']):.2f}"


def login_cookie(port: int, username: str) -> str:
    import re

    c = Client(port, {})
    status, body = c.call("GET", "/login")
    c.conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/login")
    resp = conn.getresponse()
    page = resp.read().decode()
    jar = resp.getheader("Set-Cookie", "").split(";")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    from urllib.parse import urlencode

    conn.request("POST", "/login", body=urlencode({"username": username, "password": PASSWORD, "csrf_token": token}),
                 headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": jar})
    resp = conn.getresponse()
    resp.read()
    cookie = resp.getheader("Set-Cookie", "").split(";")[0]
    if resp.status != 302 or not cookie:
        raise RuntimeError(f"login as {username} failed: {resp.status}")
    return cookie


if __name__ == "__main__":
    sys.exit(main())
