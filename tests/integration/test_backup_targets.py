"""Backup runs against real targets: a second directory, an S3-compatible server (moto in
server mode, over HTTP), a target that is gone, and a full disk; retention; drills; alerts."""
import datetime as dt
import errno
import json
import socket
from zoneinfo import ZoneInfo

import pytest

from formwarden.access.actor import Actor
from formwarden.backup import service
from formwarden.backup.archive import ArchiveError
from formwarden.backup.policy import Policy, load_policy, save_policy
from formwarden.backup.retention import to_prune
from formwarden.backup.targets import DirTarget, all_targets, configured
from formwarden.errors import Invalid
from formwarden.models import Alert, AuditEvent, BackupCopy, BackupRun, utcnow
from formwarden.records import service as records
from tests.conftest import VALID_CUSTOMER

SYSTEM = Actor.system("tests")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture()
def targets(clean_db, tmp_path, monkeypatch):
    monkeypatch.setenv("FORMWARDEN_BACKUP_DIR", str(tmp_path / "local"))
    monkeypatch.setenv("FORMWARDEN_BACKUP_TARGETS", f"disk=dir://{tmp_path / 'disk'}")
    for i in range(5):
        records.create_record(SYSTEM, "customer", dict(VALID_CUSTOMER, name=f"备份{i}", owner="sales01"))
    return tmp_path


@pytest.fixture()
def s3_targets(targets, s3_server, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"fw-{socket.gethostname().lower()[:10]}-{_free_port()}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    monkeypatch.setenv("FORMWARDEN_BACKUP_TARGETS",
                       f"disk=dir://{targets / 'disk'},offsite=s3://{bucket}/nightly?endpoint_url={s3_server}")
    return bucket


def _backup():
    run = service.new_run("backup", "cli", None)
    return service.run_backup(run)


def test_targets_come_from_the_environment(targets):
    assert [n for n, _ in configured()] == ["local", "disk"]
    assert [t.name for t in all_targets()] == ["local", "disk"]


def test_a_backup_lands_verified_on_a_directory_and_on_s3(s3_targets, targets):
    run = _backup()
    assert run.status == "done", run.message
    result = json.loads(run.targets)
    assert set(result) == {"local", "disk", "offsite"} and {r["status"] for r in result.values()} == {"verified"}
    copies = {c.target: c for c in BackupCopy.select()}
    assert {c.sha256 for c in copies.values()} == {run.sha256}
    offsite = [t for t in all_targets() if t.name == "offsite"][0]
    assert offsite.names() == [run.archive_name] and offsite.stat(run.archive_name) == (run.size, run.sha256)
    assert (targets / "local" / run.archive_name).exists() and (targets / "disk" / run.archive_name).exists()
    assert not list((targets / "disk").glob(".*partial"))
    # a drill restores the newest archive of every target, the S3 one downloaded first
    drill = service.new_run("drill", "cli", None)
    results = service.drill(drill)
    assert {r["status"] for r in results.values()} == {"passed"}, results
    assert all(c.drill_status == "passed" and c.drill_seconds is not None for c in BackupCopy.select())
    assert AuditEvent.select().where(AuditEvent.action == "backup_create").count() == 1


def test_a_missing_target_makes_the_backup_degraded_and_raises_an_alert(targets, monkeypatch):
    monkeypatch.setattr(service, "ATTEMPTS", 1)
    monkeypatch.setenv("FORMWARDEN_BACKUP_TARGETS", "gone=dir:///proc/formwarden-no-such-place")
    run = _backup()
    assert run.status == "degraded" and "gone" in run.message
    assert json.loads(run.targets)["local"]["status"] == "verified"
    alert = Alert.get(Alert.rule == "backup_degraded")
    assert "gone" in alert.subject
    # the target comes back: the retry copies the archive from the local target
    monkeypatch.setenv("FORMWARDEN_BACKUP_TARGETS", f"gone=dir://{targets / 'back'}")
    assert service.retry_copies(BackupRun.get_by_id(run.id))
    assert BackupRun.get_by_id(run.id).status == "done"
    assert (targets / "back" / run.archive_name).exists()


def test_a_full_disk_on_one_target_is_caught(targets, monkeypatch):
    monkeypatch.setattr(service, "ATTEMPTS", 1)
    real_put = DirTarget.put

    def full(self, local, name):
        if self.name == "disk":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_put(self, local, name)
    monkeypatch.setattr(DirTarget, "put", full)
    run = _backup()
    assert run.status == "degraded"
    assert "No space left" in json.loads(run.targets)["disk"]["error"]
    assert not list((targets / "disk").glob("*.fwb"))


def test_a_copy_that_reads_back_wrong_does_not_count(targets, monkeypatch):
    monkeypatch.setattr(service, "ATTEMPTS", 1)
    real_put = DirTarget.put

    def corrupting(self, local, name):
        real_put(self, local, name)
        if self.name == "disk":
            with open(self.root / name, "r+b") as fh:
                fh.seek(-1, 2)
                last = fh.read(1)
                fh.seek(-1, 2)
                fh.write(bytes([last[0] ^ 0xFF]))  # always a different byte
    monkeypatch.setattr(DirTarget, "put", corrupting)
    run = _backup()
    assert run.status == "degraded" and "another SHA-256" in json.loads(run.targets)["disk"]["error"]
    assert BackupCopy.select().where(BackupCopy.target == "disk").count() == 0


def test_a_failed_dump_leaves_no_archive_and_alerts(targets, monkeypatch):
    from formwarden.backup import dump

    def broken(*a, **kw):
        raise RuntimeError("disk vanished mid-dump")
    monkeypatch.setattr(service, "write_archive", broken)
    with pytest.raises(RuntimeError):
        _backup()
    run = BackupRun.select().order_by(BackupRun.id.desc()).first()
    assert run.status == "failed" and "vanished" in run.message
    assert not list((targets / "local").glob("*.fwb")) and not list(service.spool_dir().iterdir())
    assert Alert.get(Alert.rule == "backup_failed").severity == "critical"
    assert dump.write_archive is not broken


def test_retention_keeps_the_newest_per_day_week_and_month():
    now = dt.datetime(2026, 12, 2, 3, 0)
    copies = [(f"a{i}", now - dt.timedelta(hours=12 * i)) for i in range(200)]  # two a day for 100 days
    policy = Policy(keep_last=1, keep_daily=3, keep_weekly=2, keep_monthly=2)
    doomed = set(to_prune(copies, policy, now))
    kept = [n for n, _ in copies if n not in doomed]
    assert "a0" in kept  # the newest always
    days = {c[1].date() for c in copies if c[0] in kept}
    assert len(kept) == len(days)  # one per bucket
    assert len(kept) <= 3 + 2 + 2
    assert to_prune(copies[:1], Policy(keep_last=1, keep_daily=1, keep_weekly=0, keep_monthly=0), now) == []
    assert len(to_prune(copies, Policy(keep_last=10, keep_daily=1, keep_weekly=0, keep_monthly=0), now)) == 190


def test_pruning_removes_old_archives_from_the_target(targets):
    """Keep the newest archive of the last 2 days that have one: of three made today and one
    400 days old, the newest of today and the old one stay (it is its own day)."""
    for _ in range(3):
        _backup()  # the default policy keeps the newest three whatever their day
    assert BackupCopy.select().where(BackupCopy.status == "verified", BackupCopy.target == "local").count() == 3
    save_policy(SYSTEM, {"keep_last": 1, "keep_daily": 2, "keep_weekly": 0, "keep_monthly": 0})
    copies = list(BackupCopy.select().where(BackupCopy.target == "local").order_by(BackupCopy.created_at))
    BackupCopy.update(created_at=copies[0].created_at - dt.timedelta(days=400)).where(
        BackupCopy.archive_id == copies[0].archive_id).execute()
    local = all_targets()[0]
    assert service.prune(local) == [copies[1].archive_name]
    assert not (targets / "local" / copies[1].archive_name).exists()
    assert local.names() == sorted([copies[0].archive_name, copies[2].archive_name])
    save_policy(SYSTEM, {"keep_daily": 1})
    assert service.prune(local) == [copies[0].archive_name]  # the newest is never pruned
    assert local.names() == [copies[2].archive_name]


def test_stale_backups_raise_an_alert_naming_the_responsible_person(targets, app):
    save_policy(SYSTEM, {"responsible": "admin", "rpo_hours": 24})
    run = _backup()
    assert service.check_health() == []
    later = utcnow() + dt.timedelta(hours=30)
    assert set(service.check_health(now=later)) == {"local", "disk"}
    alert = Alert.get(Alert.rule == "backup_stale")
    assert "(responsible: admin)" in alert.summary and "h ago (RPO 24 h)" in alert.summary and run.archive_name
    from flask_babel import force_locale

    from formwarden.web.audit_words import alert_words
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        assert alert_words(alert).endswith("小时前（RPO 24 小时）（负责人：admin）"), alert_words(alert)


def test_the_policy_is_checked_and_every_change_audited(clean_db):
    with pytest.raises(Invalid) as err:
        save_policy(SYSTEM, {"schedule": "every night", "keep_daily": 0, "responsible": "nobody-here"})
    assert {d["field"] for d in err.value.details} == {"schedule", "keep_daily", "responsible"}
    save_policy(SYSTEM, {"schedule": "15 1 * * *", "keep_daily": "10"})
    assert load_policy().schedule == "15 1 * * *" and load_policy().keep_daily == 10
    event = AuditEvent.get(AuditEvent.action == "backup_policy")
    assert json.loads(event.diff) == {"keep_daily": [7, 10], "schedule": ["0 2 * * *", "15 1 * * *"]}
    sales = Actor(kind="user", user_id=99, name="sales01", roles=frozenset({"sales"}))
    with pytest.raises(Exception) as denied:
        save_policy(sales, {"keep_daily": 3})
    assert getattr(denied.value, "status", None) == 403


def test_a_backup_that_cannot_encrypt_fails_and_writes_nothing(targets, monkeypatch):
    """No plaintext fallback: a master key that cannot be read stops the backup."""
    from formwarden.crypto import keys

    monkeypatch.setenv("FORMWARDEN_KEY_BACKUP-B1", "not a key!")
    keys._cache.clear()
    try:
        with pytest.raises(ArchiveError):
            _backup()
    finally:
        keys._cache.clear()
    run = BackupRun.select().order_by(BackupRun.id.desc()).first()
    assert run.status == "failed" and run.error_code == "key_missing", run.message
    assert not list((targets / "local").glob("*")) and not list(service.spool_dir().iterdir())


def test_a_schedule_that_never_fires_is_refused_and_cannot_stop_the_scheduler(clean_db, redis_conn):
    from formwarden.jobs.cron import Scheduler

    for never in ("0 2 30 2 *", "0 2 31 4 *"):
        with pytest.raises(Invalid) as err:
            save_policy(SYSTEM, {"schedule": never})
        assert err.value.details[0]["field"] == "schedule"
    with pytest.raises(Invalid):
        save_policy(SYSTEM, {"responsible": "sales01"})  # may not run backups
    # stored some other way (an older version, a hand edit): the scheduler goes on
    from formwarden.models import Setting
    Setting.create(key="backup.policy", value=json.dumps({"schedule": "0 2 30 2 *"}))
    scheduler = Scheduler(redis_conn)
    assert {"alert-scan", "audit-checkpoint"} <= {j.name for j in scheduler.get_jobs()}
    scheduler.enqueue_jobs()
    scheduler.step_down()


def test_an_archive_file_replaced_by_another_is_refused(targets):
    import shutil as sh

    from formwarden.backup.archive import ArchiveError as Refused

    first = _backup()
    records.create_record(SYSTEM, "customer", dict(VALID_CUSTOMER, owner="sales01"))
    second = _backup()
    local = all_targets()[0]
    sh.copyfile(targets / "local" / first.archive_name, targets / "local" / second.archive_name)
    with pytest.raises(Refused) as err:
        service.local_archive(local, second.archive_name, service.spool_dir())
    assert err.value.code == "archive_replaced"
    results = service.drill(service.new_run("drill", "cli", None))
    assert results["local"]["status"] == "failed" and Alert.get(Alert.rule == "drill_failed")
    from formwarden.backup.overview import archive_preview
    info = archive_preview(SYSTEM, "local", second.archive_name)
    assert "replaced" in info["problem"] and "counts" not in info


def test_schedules_are_read_in_the_instances_time_zone(clean_db, redis_conn, monkeypatch, login_as):
    """"0 2 * * *" is 02:00 where the people are (FORMWARDEN_TIME_ZONE), whatever zone the server
    runs in; the scheduler fires then, and the backups page says when, in the reader's time."""
    from formwarden.backup.policy import next_run
    from formwarden.jobs.cron import Scheduler

    monkeypatch.setenv("FORMWARDEN_TIME_ZONE", "Asia/Shanghai")
    monkeypatch.setenv("TZ", "UTC")
    at = dt.datetime(2026, 12, 8, 0, 0)  # 08:00 in Beijing
    assert next_run("0 2 * * *", at) == dt.datetime(2026, 12, 8, 18, 0)  # 02:00 on the 9th in Beijing
    assert next_run("0 2 * * *", at.replace(tzinfo=dt.UTC)) == dt.datetime(2026, 12, 8, 18, 0)
    save_policy(SYSTEM, {"schedule": "0 2 * * *"})
    scheduler = Scheduler(redis_conn)
    backup = next(j for j in scheduler.get_jobs() if j.name == "backup")
    fires = backup.get_next_enqueue_time()
    assert fires.tzinfo is not None and fires.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:%M") == "02:00"
    scheduler.step_down()
    page = login_as("admin").get("/backups").get_data(as_text=True)
    assert "按北京时间" in page and "下一次：" in page and " 02:00（北京时间）" in page
