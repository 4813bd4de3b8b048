"""Tamper evidence: edit the events table directly and `audit verify` names what happened."""
import subprocess
import sys
import threading

import pytest

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.audit import chain
from formwarden.audit.verify import verify_chain
from formwarden.models import AuditCheckpoint, AuditEvent
from formwarden.records import service
from tests.conftest import VALID_CUSTOMER, actor_of


def _events(n=6):
    sales = actor_of("sales01")
    for i in range(n):
        service.create_record(sales, "customer", {**VALID_CUSTOMER, "name": f"链{i}"})


def _sql(statement, params=()):
    return db.execute(statement, params)


def finding(**kw):
    report = verify_chain(write_checkpoint=False, **kw)
    assert not report.ok
    return report.finding


def test_untouched_chain_verifies_and_is_checkpointed(clean_db):
    _events()
    report = verify_chain()
    assert report.ok and report.checked == 6 and report.head_seq == 6
    cp = AuditCheckpoint.get()
    assert (cp.seq, cp.head_hash) == (6, report.head_hash)
    assert (clean_db.instance / "audit_checkpoint.json").exists()


def test_modified_event(clean_db):
    _events()
    _sql("UPDATE audit_event SET reason = ? WHERE seq = 3", ("backdated",))
    f = finding()
    assert f.seq == 3 and "modified" in f.problem


def test_modified_and_rehashed_event_without_the_key(clean_db):
    _events()
    row = db.fetchone("SELECT " + ", ".join(chain.FIELDS) + ", prev_hash FROM audit_event WHERE seq = 3")  # noqa: S608
    event = dict(zip(chain.FIELDS + ("prev_hash",), row))
    event["actor_name"] = "someone-else"
    forged = chain.event_hash(event["prev_hash"], event)
    _sql("UPDATE audit_event SET actor_name = ?, hash = ? WHERE seq = 3", ("someone-else", forged))
    f = finding()
    assert f.seq == 3 and "signature" in f.problem


def test_deleted_event(clean_db):
    _events()
    _sql("DELETE FROM audit_event WHERE seq = 4")
    f = finding()
    assert f.seq == 4 and "missing" in f.problem


def test_inserted_event(clean_db):
    _events()
    for seq in range(6, 2, -1):  # make room at 3, top down so seq stays unique
        _sql("UPDATE audit_event SET seq = ? WHERE seq = ?", (seq + 1, seq))
    _sql("INSERT INTO audit_event (seq, at, actor_kind, actor_name, action, diff, reason, request_id, ip, user_agent,"
         " prev_hash, hash, mac) SELECT 3, at, actor_kind, 'intruder', action, diff, '', '', '', '', prev_hash, hash, mac"
         " FROM audit_event WHERE seq = 2")
    f = finding()
    assert f.seq == 3


def test_reordered_events(clean_db):
    _events()
    _sql("UPDATE audit_event SET seq = 100 WHERE seq = 2")
    _sql("UPDATE audit_event SET seq = 2 WHERE seq = 3")
    _sql("UPDATE audit_event SET seq = 3 WHERE seq = 100")
    f = finding()
    assert f.seq == 2


def test_truncated_tail(clean_db):
    _events()
    assert verify_chain().ok  # signs head 6
    _sql("DELETE FROM audit_event WHERE seq >= 5")
    f = finding()
    assert "cut off" in f.problem and f.seq == 5


def test_truncated_tail_with_database_checkpoints_removed(clean_db):
    _events()
    assert verify_chain().ok
    _sql("DELETE FROM audit_event WHERE seq >= 5")
    AuditCheckpoint.delete().execute()  # the copy under instance/ still tells
    assert "cut off" in finding().problem


def test_forged_checkpoint(clean_db):
    _events()
    assert verify_chain().ok
    _sql("UPDATE audit_checkpoint SET seq = 4")
    assert "checkpoint" in finding().problem


def test_cli_exit_codes(clean_db):
    _events(3)
    env_ok = subprocess.run([sys.executable, "-m", "formwarden.cli", "audit", "verify"], capture_output=True,
                            text=True, env=_cli_env(clean_db))
    assert env_ok.returncode == 0 and env_ok.stdout.startswith("ok: 3 events verified"), env_ok.stderr
    _sql("UPDATE audit_event SET diff = '{}' WHERE seq = 2")
    bad = subprocess.run([sys.executable, "-m", "formwarden.cli", "audit", "verify"], capture_output=True,
                         text=True, env=_cli_env(clean_db))
    assert bad.returncode == 1 and "seq 2" in bad.stderr and bad.stderr.count("\n") == 1


def _cli_env(settings):
    import os

    return dict(os.environ, FORMWARDEN_INSTANCE=str(settings.instance), DATABASE_URL=settings.database_url,
                SECRET_KEY=settings.secret_key)


@pytest.mark.parametrize("writers", [8])
def test_concurrent_appends_make_one_chain(clean_db, writers):
    errors = []

    def work(k):
        try:
            db.ensure_connection()
            actor = Actor.system(f"writer{k}")
            for i in range(15):
                service.create_record(actor, "customer", {**VALID_CUSTOMER, "owner": "sales02", "name": f"并发{k}-{i}"})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            db.database.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify_chain(write_checkpoint=False)
    assert report.ok, report.finding
    assert report.checked == writers * 15 == AuditEvent.select().count()


def test_an_event_moved_in_time_by_respelling_its_time_is_refused(clean_db):
    """The same instant spelled "…T…" hashes the same but sorts after every "… …" time in text
    comparisons, so a search or alert window would miss it: verify refuses any other spelling."""
    from formwarden.audit.verify import event_rows
    from formwarden.crypto.keys import load_key

    _events(3)
    rows = list(event_rows(100))
    stored = rows[1]["at"]
    # the text spelling with "T" (SQLite stores text), or a time with a zone (what a PostgreSQL
    # timestamptz or a driver would hand back): the same instant, another spelling
    respelled = (stored.replace(" ", "T") if isinstance(stored, str)
                 else stored.replace(tzinfo=__import__("datetime").UTC))
    rows[1] = {**rows[1], "at": respelled}
    report = chain.verify_rows(iter(rows), load_key("audit"))
    assert not report.ok and report.finding.seq == 2 and "canonical" in report.finding.problem
    if not db.is_postgres():  # and in the table itself, through the real command path
        _sql("UPDATE audit_event SET at = replace(at, ' ', 'T') WHERE seq = 2")
        f = finding()
        assert f.seq == 2 and "canonical" in f.problem


def test_a_cut_off_tail_is_found_by_the_automatic_checkpoint(clean_db):
    from formwarden.jobs.alerts import checkpoint_now
    from formwarden.models import Alert

    _events(4)
    assert checkpoint_now() == []  # signs the head (event 4)
    assert AuditCheckpoint.select().order_by(AuditCheckpoint.seq.desc()).first().seq == 4
    _events(2)
    assert checkpoint_now() == [] and AuditCheckpoint.select().count() == 2
    _sql("DELETE FROM audit_event WHERE seq > 4")  # cut the newest events off
    alerts = checkpoint_now()
    assert [a.rule for a in alerts] == ["audit_chain"] and alerts[0].severity == "critical"
    assert "cut off" in alerts[0].summary
    assert Alert.select().where(Alert.rule == "audit_chain").count() == 1


def test_a_rewritten_event_after_the_checkpoint_is_found(clean_db):
    from formwarden.audit.verify import extend_checkpoint

    _events(3)
    assert extend_checkpoint().ok
    _events(2)
    _sql("UPDATE audit_event SET reason = 'edited' WHERE seq = 5")
    report = extend_checkpoint()
    assert not report.ok and report.finding.seq == 5
    AuditEvent.delete().where(AuditEvent.seq == 3).execute()
    report = extend_checkpoint()
    assert not report.ok and report.finding.seq == 3


def _abandon_tail(after: int) -> None:
    from formwarden.backup.swap import _EVENT_COLUMNS
    _sql(f"INSERT INTO audit_event_abandoned (restore_seq, {_EVENT_COLUMNS}) SELECT 0, {_EVENT_COLUMNS}"  # noqa: S608
         f" FROM audit_event WHERE seq > ?", (after,))
    _sql("DELETE FROM audit_event WHERE seq > ?", (after,))


@pytest.mark.parametrize("cut", ["delete", "set_aside", "delete_with_checkpoints"])
def test_a_tail_cut_after_the_newest_checkpoint_is_found(clean_db, cut):
    """Events written after the newest checkpoint were deleted (or moved to the set-aside table,
    or the checkpoints and their file went too) unnoticed: the high-water marks kept outside the
    database say how far the chain had reached."""
    from formwarden.audit.verify import CHECKPOINT_FILE, extend_checkpoint
    from formwarden.jobs.alerts import checkpoint_now

    _events(3)
    assert extend_checkpoint().ok  # signs event 3
    _events(3)  # 4..6, after the newest checkpoint
    if cut == "set_aside":
        _abandon_tail(4)
    else:
        _sql("DELETE FROM audit_event WHERE seq > 4")
    if cut == "delete_with_checkpoints":
        _sql("DELETE FROM audit_checkpoint")
        (clean_db.instance / CHECKPOINT_FILE).unlink()
        _sql("DELETE FROM audit_field_cursor")
    report = extend_checkpoint()
    assert not report.ok and "cut off" in report.finding.problem and report.finding.seq == 5
    assert not verify_chain(write_checkpoint=False).ok
    alerts = checkpoint_now()
    assert [a.rule for a in alerts] == ["audit_chain"]


def test_a_forged_high_water_mark_is_a_finding(clean_db):
    import json as _json

    from formwarden.audit import highwater
    from formwarden.audit.verify import extend_checkpoint

    _events(3)
    path = clean_db.instance / highwater.FILE
    mark = _json.loads(path.read_text())
    assert mark["seq"] == 3
    path.write_text(_json.dumps({**mark, "seq": 1}))  # lowered to hide a cut: the signature no longer fits
    report = extend_checkpoint()
    assert not report.ok and "not signed" in report.finding.problem


def test_a_rewritten_old_event_under_a_fresh_checkpoint_is_found_by_the_rolling_reread(clean_db):
    """The 5-minute check verified only events after the newest checkpoint, so an old event
    rewritten later stayed covered by it; the rolling re-read walks the whole chain daily."""
    from formwarden.audit.verify import REREAD_KEY, extend_checkpoint
    from formwarden.models import Setting

    _events(5)
    assert extend_checkpoint().ok  # signs 5, and re-reads 1..5
    assert Setting.get(Setting.key == REREAD_KEY).value == "1"  # wrapped: the whole chain was read
    _sql("UPDATE audit_event SET reason = 'rewritten' WHERE seq = 2")
    _events(1)
    report = extend_checkpoint()
    assert not report.ok and report.finding.seq == 2 and "modified" in report.finding.problem


def test_an_event_time_stored_as_a_number_is_a_finding_not_a_crash(clean_db):
    from formwarden.audit.verify import event_rows, extend_checkpoint
    from formwarden.crypto.keys import load_key

    _events(3)
    rows = list(event_rows(100))  # as the reader hands them over, whatever the database
    rows[1] = {**rows[1], "at": 2461382.5}
    report = chain.verify_rows(iter(rows), load_key("audit"))
    assert not report.ok and report.finding.seq == 2 and "canonical" in report.finding.problem
    if db.is_postgres():
        return  # a PostgreSQL timestamp column cannot hold a number: the rows above are the whole case
    _sql("UPDATE audit_event SET at = 2461382.5 WHERE seq = 2")  # a REAL julian day number
    f = finding()
    assert f.seq == 2 and "canonical" in f.problem
    _sql("UPDATE audit_event SET at = 2461382.5 WHERE seq = 3")
    report = extend_checkpoint()
    assert not report.ok


def test_a_restore_that_replaces_the_trail_moves_the_marks_back_signed(clean_db):
    from formwarden.audit import highwater
    from formwarden.audit.verify import extend_checkpoint

    _events(4)
    head = db.fetchone("SELECT seq, hash FROM audit_event WHERE seq = 2")
    _sql("DELETE FROM audit_event WHERE seq > 2")
    assert not extend_checkpoint().ok
    highwater.reset(head[0], head[1])  # what a restore of an older history does after its swap
    assert extend_checkpoint().ok


@pytest.mark.parametrize("how", ["deleted", "invented"])
def test_the_field_index_is_checked_against_the_events_and_rebuilt(clean_db, how):
    """Rows of the search-by-field index deleted (or added) behind its back made searches miss
    (or invent) events silently; verify and the rolling check compare it with the chain."""
    from formwarden.audit import field_index
    from formwarden.audit.verify import extend_checkpoint

    _events(3)
    field_index.index_pending()
    before = db.fetchall("SELECT field, seq FROM audit_event_field ORDER BY seq, field")
    if how == "deleted":
        _sql("DELETE FROM audit_event_field WHERE seq = 2")
    else:
        _sql("INSERT INTO audit_event_field (field, at, seq) SELECT 'id_number', at, seq FROM audit_event WHERE seq = 2")
    assert verify_chain(write_checkpoint=False).ok
    assert db.fetchall("SELECT field, seq FROM audit_event_field ORDER BY seq, field") == before
    if how == "deleted":
        _sql("DELETE FROM audit_event_field WHERE seq = 3")
        assert extend_checkpoint().ok  # the rolling re-read compares its slice exactly
        assert db.fetchall("SELECT field, seq FROM audit_event_field ORDER BY seq, field") == before


def test_marks_stay_where_a_cut_left_them_while_new_events_are_written(clean_db):
    """The marks rose on the sequence alone: after cutting the newest events, the next writes
    moved them to the new head and the cut was covered (found by an outside attack)."""
    from formwarden.audit.verify import extend_checkpoint

    _events(3)
    assert extend_checkpoint().ok
    _events(3)  # 4..6
    _sql("DELETE FROM audit_event WHERE seq > 4")
    _events(3)  # written after the cut: 5..7 again, other hashes
    report = extend_checkpoint()
    assert not report.ok and report.finding.seq == 6 and "rewritten" in report.finding.problem


def test_an_event_time_stored_as_a_number_is_shown_not_a_crash(login_as):
    """verify reported it, but the audit search, its CSV, the record history and the record page
    answered 500 (found by an outside attack)."""
    import datetime as dt

    from formwarden.models import AuditEvent as Event
    read = Event.at.python_value(2461382.5)  # what every page and API reads a stored time through
    assert read == dt.datetime(2026, 12, 8, 0, 0) and Event.at.python_value("2026-12-08T00:00:00Z") == read
    if db.is_postgres():
        return  # a PostgreSQL timestamp column cannot hold a number: the reads above are the whole case
    rec = service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "owner": "sales01"})
    _sql("UPDATE audit_event SET at = 2461382.2946 WHERE record_id = ?", (rec.id,))
    admin = login_as("admin")
    for url in ("/api/v1/audit/events?per_page=200", "/audit/export.csv", "/audit",
                f"/api/v1/forms/customer/records/{rec.id}/history", f"/f/customer/{rec.id}"):
        assert admin.get(url).status_code == 200, url
    assert not verify_chain(write_checkpoint=False).ok
