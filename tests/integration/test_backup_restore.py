"""Backups end to end on the test database (SQLite, or PostgreSQL in CI): an archive restores
everything it holds exactly, checks every part first, and leaves live data alone on any fault."""
import json
import os
import shutil

import pytest

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.audit.verify import verify_chain
from formwarden.backup import keys as master_keys
from formwarden.backup.archive import ArchiveError, read_header, rewrite_header
from formwarden.backup.dump import write_archive
from formwarden.backup.restore import preview, restore, verify_archive
from formwarden.backup.tables import columns, snapshot
from formwarden.models import AuditEvent, Record, Role, User, utcnow
from formwarden.records import service
from formwarden.records.history import history
from formwarden.records.query import ListQuery
from tests.conftest import VALID_CUSTOMER, actor_of

ID = "11010519491231002X"
SYSTEM = Actor.system("tests")


@pytest.fixture()
def data(clean_db):
    ids = []
    for i in range(25):
        rec = service.create_record(SYSTEM, "customer", dict(VALID_CUSTOMER, name=f"客户{i}", owner="sales01",
                                                             id_number=ID))
        ids.append(rec.id)
    service.update_record(SYSTEM, "customer", ids[0], {"company": "新公司"}, expected_version=1)
    service.delete_record(SYSTEM, "customer", ids[1])
    return ids


@pytest.fixture()
def archive(data, tmp_path):
    path = tmp_path / "a.fwb"
    write_archive(path)
    return path


def _without_restore_event(snap):
    """The restore adds one event and signs it as the new checkpoint; the rest must be as it was."""
    snap = dict(snap)
    restored = {e[1] for e in snap["audit_event"] if e[6] == "backup_restore"}
    snap["audit_event"] = [e for e in snap["audit_event"] if e[1] not in restored]
    snap["audit_checkpoint"] = [c for c in snap["audit_checkpoint"] if c[1] not in restored]
    snap["setting"] = [r for r in snap["setting"] if r[1] != "backup.restore_epoch"]
    return snap


TRAIL = ("audit_event", "audit_checkpoint", "alert", "alert_cursor")
VERSION = columns(Record).index("version")


def _data(snap, masked_versions=()):
    """The archived tables but the audit trail; record versions of `masked_versions` blanked."""
    out = {k: v for k, v in snap.items() if k not in TRAIL and k != "setting"}
    out["record"] = [[*r[:VERSION], None if r[0] in masked_versions else r[VERSION], *r[VERSION + 1:]]
                     for r in out["record"]]
    return out


def test_a_rollback_restores_the_data_and_keeps_the_whole_trail(archive, data):
    """Data as in the archive; the audit trail keeps every event made since, then says what the
    restore changed, record by record, each as a new version (no version number twice)."""
    before = snapshot()
    extra = service.create_record(SYSTEM, "customer", dict(VALID_CUSTOMER, owner="sales01")).id
    service.delete_record(SYSTEM, "customer", data[2])
    Record.delete().where(Record.id == data[3]).execute()  # even damage outside the service is undone
    trail_before = snapshot()["audit_event"]
    summary = restore(archive, SYSTEM, reason="test")
    assert summary["trail"] == "kept" and summary["records_changed"] == 3
    assert summary["rows"] == sum(len(v) for v in before.values())
    after = snapshot()
    assert _data(after, {data[2], data[3]}) == _data(before, {data[2], data[3]})
    assert after["audit_event"][:len(trail_before)] == trail_before  # nothing rewritten or dropped
    new = [(e[6], e[8]) for e in after["audit_event"][len(trail_before):]]
    assert new[0] == ("backup_restore", None)
    assert sorted(new[1:]) == sorted([("backup_restore_record", rid) for rid in (extra, data[2], data[3])])
    assert Record.get_or_none(Record.id == extra) is None
    rec = Record.get_by_id(data[2])
    assert rec.deleted_at is None and rec.version == 2  # created (1), restored (2); the delete made no version
    entries = history(SYSTEM, "customer", data[2], reveal_restricted=False)
    assert [(e.action, e.version) for e in entries][-1] == ("backup_restore_record", 2)
    report = verify_chain(write_checkpoint=False)
    assert report.ok, report.finding
    rec = service.get_record(SYSTEM, "customer", data[0], reveal=["id_number"])
    assert rec.data["id_number"] == ID and rec.data["company"] == "新公司"
    found = service.list_records(SYSTEM, "customer", ListQuery(search="新公司"))  # the search index is rebuilt
    assert [r.id for r in found.items] == [data[0]]
    assert service.list_records(SYSTEM, "customer", ListQuery(search="测试公司")).total == 23


def test_a_rollback_keeps_access_closed_since_the_archive(archive, make_user):
    """Deactivated, re-passworded, role-revoked and token-revoked since the archive: still so."""
    from formwarden.auth.passwords import hash_password
    from formwarden.auth.tokens import create_token
    from formwarden.models import ApiToken, UserRole

    user = make_user(roles=("sales", "manager"))
    token = create_token(SYSTEM, user)[0]
    write_archive(archive.with_name("b.fwb"))
    User.update(is_active=False).where(User.id == user.id).execute()
    User.update(password_hash=hash_password("a-new-password-1"), password_changed_at=User.password_changed_at).where(
        User.id == user.id).execute()
    new_hash = User.get_by_id(user.id).password_hash
    User.update(password_changed_at=utcnow()).where(User.id == user.id).execute()
    UserRole.delete().where(UserRole.user == user.id, UserRole.role.in_(
        Role.select(Role.id).where(Role.name == "manager"))).execute()
    ApiToken.update(revoked_at=utcnow()).where(ApiToken.id == token.id).execute()
    summary = restore(archive.with_name("b.fwb"), SYSTEM)
    assert summary["access_kept_closed"] == {"deactivations": 1, "passwords": 1, "roles": 1, "tokens": 1}
    back = User.get_by_id(user.id)
    assert not back.is_active and back.password_hash == new_hash
    assert [r.name for r in Role.select().join(UserRole).where(UserRole.user == user.id)] == ["sales"]
    assert ApiToken.get_by_id(token.id).revoked_at is not None


def test_a_rollback_keeps_teams_and_expiry_dates_closed_since_the_archive(archive, make_user):
    """Team memberships, team managers, deleted teams and expiry dates came back with a restore:
    each is a closing of access, kept, and the report names each kind."""
    import datetime as dt

    from formwarden.auth import teams
    from formwarden.models import Team, UserTeam

    admin = actor_of("admin")
    member, boss, soon = make_user(roles=("sales",)), make_user(roles=("manager",)), make_user(roles=("sales",))
    east = teams.create_team(admin, "闭合东区", manager=boss.username)
    teams.set_members(admin, east.id, add=[member.username, boss.username])
    gone = teams.create_team(admin, "将删除的团队")
    teams.set_members(admin, gone.id, add=[member.username])
    User.update(expires_at=utcnow() + dt.timedelta(days=300)).where(User.id == soon.id).execute()
    write_archive(archive.with_name("t.fwb"))
    teams.set_members(admin, east.id, remove=[member.username])  # the membership ends
    teams.update_team(admin, east.id, manager="")  # the manager is removed
    UserTeam.delete().where(UserTeam.team == gone.id).execute()
    Team.delete().where(Team.id == gone.id).execute()  # the team is deleted
    sooner = utcnow() + dt.timedelta(days=2)
    User.update(expires_at=sooner).where(User.id == soon.id).execute()  # the expiry is brought forward
    summary = restore(archive.with_name("t.fwb"), SYSTEM)
    assert summary["access_kept_closed"] == {"expiry_dates": 1, "team_memberships": 1, "team_managers": 1,
                                             "teams": 1}
    assert not UserTeam.select().where(UserTeam.user == member.id, UserTeam.team == east.id).exists()
    assert Team.get_by_id(east.id).manager_id is None
    assert Team.get_or_none(Team.id == gone.id) is None
    assert abs((User.get_by_id(soon.id).expires_at - sooner).total_seconds()) < 1


def test_a_key_block_whose_time_was_altered_is_refused(archive):
    """The creation time in the key block is confirmed by the manifest inside the chunks."""
    from dataclasses import replace

    from formwarden.backup.restore import verify_archive

    header = read_header(open(archive, "rb"))
    rewrite_header(archive, replace(header, created_at="2026-01-01T00:00:00Z"))
    with pytest.raises(ArchiveError) as err:
        verify_archive(archive)
    assert err.value.code == "header_damaged"


def test_ids_are_never_reused_after_a_restore(archive, make_user):
    """A record, account or token made after the backup is gone after the restore; its id is
    never handed to the next one (anything still naming it would be inherited)."""
    from formwarden.auth.tokens import create_token

    newest = service.create_record(SYSTEM, "customer", dict(VALID_CUSTOMER, owner="sales01")).id
    lost_user = make_user()
    lost_token = create_token(SYSTEM, lost_user)[0]
    restore(archive, SYSTEM)
    assert User.get_or_none(User.id == lost_user.id) is None
    again = service.create_record(SYSTEM, "customer", dict(VALID_CUSTOMER, owner="sales01")).id
    assert again > newest
    new_user = make_user()
    assert new_user.id > lost_user.id
    assert create_token(SYSTEM, new_user)[0].id > lost_token.id


def test_preview_reads_the_manifest(archive, data):
    info = preview(archive)
    assert info["forms"]["customer"] == {"records": 24, "deleted": 1}
    assert info["counts"]["record"] == 25
    assert info["audit"]["head_seq"] == AuditEvent.select().count()
    assert info["keys_needed"] == ["audit", "blind", "field-k1"] and info["missing_keys"] == []
    assert info["migrations"][-1] == db.applied_migrations()[-1]


def test_verify_checks_without_touching_live_data(archive):
    before = snapshot()
    result = verify_archive(archive)
    assert result["rows"] > 25 and result["events_verified"] == len(before["audit_event"])
    assert snapshot() == before


def _flip(path, at):
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x04
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", ["flip", "truncate", "append", "wrong_key", "missing"])
def test_a_damaged_archive_leaves_live_data_intact(archive, damage, tmp_path):
    before = snapshot()
    if damage == "flip":
        _flip(archive, archive.stat().st_size // 2)
    elif damage == "truncate":
        archive.write_bytes(archive.read_bytes()[:-100])
    elif damage == "append":
        archive.write_bytes(archive.read_bytes() + b"\0" * 64)
    elif damage == "wrong_key":
        with open(archive, "rb") as fh:
            header = read_header(fh)
        header.wrapped["ct"] = os.urandom(48).hex()
        rewrite_header(archive, header)
    else:
        archive.unlink()
    with pytest.raises(ArchiveError):
        restore(archive, SYSTEM)
    assert snapshot() == before


def test_a_missing_field_key_is_named_before_anything_happens(archive, clean_db):
    key = clean_db.instance / "keys" / "field-k1.key"
    hidden = key.with_suffix(".away")
    shutil.move(key, hidden)
    from formwarden.crypto import keys
    keys._cache.clear()
    try:
        with pytest.raises(ArchiveError) as err:
            restore(archive, SYSTEM)
        assert "field-k1" in err.value.problem and err.value.code == "keys_missing"
    finally:
        shutil.move(hidden, key)
        keys._cache.clear()


def test_a_tampered_audit_trail_inside_a_valid_archive_is_refused(data, tmp_path):
    """Someone rewrote an event in the database before the backup: the archive is authentic,
    its chain is not, and the restore says so."""
    db.execute("UPDATE audit_event SET reason = 'rewritten' WHERE seq = 3")
    path = tmp_path / "t.fwb"
    write_archive(path)
    before = snapshot()
    with pytest.raises(ArchiveError) as err:
        restore(path, SYSTEM)
    assert err.value.code == "chain_broken"
    assert snapshot() == before


def test_rotating_the_master_key_rewraps_without_reencrypting(archive, clean_db):
    body = archive.read_bytes()[4096:]
    keys_dir = clean_db.instance / "keys"
    try:
        kid = master_keys.rotate(clean_db.instance)
        with open(archive, "rb") as fh:
            header = read_header(fh)
        rewrite_header(archive, master_keys.rewrap(header, kid))
        assert archive.read_bytes()[4096:] == body
        assert preview(archive)["archive_id"] == header.archive_id
        with open(archive, "rb") as fh:
            assert read_header(fh).key_id == kid
    finally:
        (keys_dir / "backup.current").unlink(missing_ok=True)
        for p in keys_dir.glob("backup-b[2-9]*.key"):
            p.unlink()
    json.dumps(header.wrapped)


def test_an_archive_from_a_sqlite_database_restores_into_this_one_and_back(data, tmp_path, clean_db):
    """Made on SQLite, restored into the test database (PostgreSQL in CI); and this database's
    own archive loads and verifies in SQLite (what `backup verify` does)."""
    from formwarden.catalog.publishing import load_directory
    from formwarden.config import REPO_ROOT
    from formwarden.demo import ensure_people
    from formwarden.forms import versions
    from tests.conftest import DEMO_PASSWORD

    own = tmp_path / "own.fwb"
    write_archive(own)  # this database as it is: put back at the end
    assert verify_archive(own)["rows"] > 25  # this database → SQLite
    source = tmp_path / "sqlite.fwb"
    with db.using(f"sqlite:///{tmp_path / 'source.db'}"):
        db.upgrade()
        versions.clear_cache()
        load_directory(SYSTEM, REPO_ROOT / "form_defs")
        ensure_people(DEMO_PASSWORD)
        made = service.create_record(SYSTEM, "customer", dict(VALID_CUSTOMER, name="来自SQLite", owner="sales01",
                                                               id_number=ID))
        write_archive(source)
        expected = snapshot()
    versions.clear_cache()
    try:
        summary = restore(source, SYSTEM, reason="cross-backend")
        assert summary["trail"] == "replaced" and summary["events_set_aside"] > 0  # another history: kept aside
        assert summary["access_kept_closed"] == {}  # nothing was closed here since
        assert _without_restore_event(snapshot()) == expected
        assert service.get_record(SYSTEM, "customer", made.id, reveal=["id_number"]).data["id_number"] == ID
        assert verify_chain(write_checkpoint=False).ok
    finally:
        restore(own, SYSTEM, reason="put the test database back")
        versions.clear_cache()


def test_other_processes_drop_cached_definitions_after_a_restore(archive):
    """A version number abandoned by the restore may be published again with other content:
    every process forgets its cached definitions once it sees the new restore epoch."""
    from formwarden.forms import versions

    versions.current("customer")
    assert versions._cache
    restore(archive, SYSTEM)
    versions.current("customer")  # this process cleared its own caches; fill them again
    cached = dict(versions._cache)
    assert cached
    db.execute("UPDATE setting SET value = 'another-restore' WHERE key = ?", (versions.RESTORE_EPOCH,))
    versions._forms.clear()  # as after _FORM_TTL in another process
    versions.get_form("customer")
    assert versions._cache == {}


def test_a_scratch_copy_left_by_a_crashed_run_is_removed(archive, clean_db):
    """A scratch database is a decrypted copy of the data: one whose process died is removed by
    the next verify, drill or restore."""
    folder = clean_db.instance / "restore"
    folder.mkdir(exist_ok=True)
    dead = folder / "scratch-999999-leftover"
    dead.mkdir()
    (dead / "scratch.db").write_bytes(b"decrypted data")
    verify_archive(archive)
    assert not dead.exists() and list(folder.iterdir()) == []


def test_a_rollback_keeps_the_form_definitions_of_now(archive):
    """A form version published after the archive may have narrowed access: a rollback keeps it."""
    from formwarden.forms import versions
    from formwarden.models import Form, FormVersion

    form = Form.get(Form.key == "customer")
    FormVersion.create(form=form, version=form.current_version + 1,
                       definition=FormVersion.get(FormVersion.form == form, FormVersion.version == form.current_version)
                       .definition, checksum="narrowed")
    Form.update(current_version=form.current_version + 1).where(Form.id == form.id).execute()
    restore(archive, SYSTEM)
    assert Form.get_by_id(form.id).current_version == form.current_version + 1
    assert FormVersion.select().where(FormVersion.checksum == "narrowed").exists()
    FormVersion.delete().where(FormVersion.checksum == "narrowed").execute()  # as it was for the other tests
    Form.update(current_version=form.current_version).where(Form.id == form.id).execute()
    versions.clear_cache()


def test_restoring_one_purged_record_continues_its_versions(archive, data):
    from formwarden.backup.single import restore_one

    rid = data[4]
    service.update_record(SYSTEM, "customer", rid, {"company": "改一"}, expected_version=1)
    service.update_record(SYSTEM, "customer", rid, {"company": "改二"}, expected_version=2)
    service.delete_record(SYSTEM, "customer", rid)
    service.purge_record(SYSTEM, "customer", rid, reason="误删")
    restore_one(SYSTEM, archive, "customer", rid, "找回")
    back = Record.get_by_id(rid)
    assert back.version == 4  # versions 1–3 were made before the purge
    entries = history(SYSTEM, "customer", rid, reveal_restricted=False)
    assert [e.version for e in entries if e.version] == [1, 2, 3, 4]


def test_a_restore_that_leaves_a_permission_without_holder_says_so(archive, make_user):
    """The archive's only administrator was deactivated since, by one made after the archive: the
    restore keeps the deactivation and the newer account is gone, so nobody holds backups, purge …
    any more. A restore is recovery and goes ahead, but says so (found by an outside attack)."""
    from formwarden.models import Alert

    write_archive(archive.with_name("p.fwb"))
    second = make_user(roles=("admin",))
    User.update(is_active=False).where(User.username == "admin").execute()
    try:
        summary = restore(archive.with_name("p.fwb"), SYSTEM)
        assert "backups" in summary["permissions_without_holder"]
        assert Alert.get(Alert.rule == "permission_orphaned").severity == "critical"
        assert User.get_or_none(User.id == second.id) is None
    finally:
        User.update(is_active=True).where(User.username == "admin").execute()
