"""Swap a checked scratch copy in for the live data: one write transaction, so every process
sees the old data or the restored data, never a mix.

What a restore never does:
- rewrite history: when the live audit trail already holds the archive's chain (the usual
  rollback), the live trail stays as it is and grows: one `backup_restore` event, then one
  `backup_restore_record` event per record the restore changed (old → new, a new version, so a
  version number is never produced twice). Only when the archive comes from another history
  (a new machine, another installation) is the trail replaced, and then every live event is
  kept in `audit_event_abandoned`, never deleted;
- re-open access closed since the archive was made: accounts deactivated, passwords changed,
  expiry dates set or brought forward, roles revoked, tokens revoked, permissions taken from a
  role, team memberships ended, team managers replaced and teams deleted since then stay so
  (matched by username, role key, token hash and team id), and on a rollback the form
  definitions and their access policies stay as they are now;
- hand out an id twice (sequences keep their high-water mark).
"""
from __future__ import annotations

import json
import logging

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.audit import highwater
from formwarden.audit.alerts import raise_alert
from formwarden.audit.events import record_event, versions_produced
from formwarden.audit.verify import save_checkpoint
from formwarden.auth.users import held_permissions
from formwarden.backup.tables import LOCAL_SETTINGS, PARTS, table
from formwarden.config import instance_path
from formwarden.forms import versions
from formwarden.forms.messages import N_
from formwarden.models import Setting, utcnow
from formwarden.records import numbers, search

log = logging.getLogger(__name__)
TRAIL = ("audit_event", "audit_checkpoint", "alert", "alert_cursor")  # the trail and what points into it
# On a rollback the form definitions and access policies stay as they are now too: versions
# only ever grow, every version a restored record names is still there, and a newer version may
# have narrowed access (a rollback must not hand a role back a field it lost).
KEPT_ON_ROLLBACK = TRAIL + ("form", "form_version", "form_policy")
DERIVED = ("audit_event_field", "audit_field_cursor")
_EVENT_COLUMNS = ("seq, at, actor_kind, actor_id, actor_name, action, form_key, record_id, diff, reason, request_id,"
                  " ip, user_agent, prev_hash, hash, mac")


def _quoted_cols(model) -> str:
    return ", ".join(f'"{f.column_name}"' for f in model._meta.sorted_fields)


def swap(url: str, manifest: dict, actor: Actor, name: str, reason: str) -> dict:
    db.ensure_connection()
    pg = db.is_postgres()
    if pg:
        source = f'"{url.rsplit("search_path%3D", 1)[1]}".'
        target = f'"{db.fetchone("SELECT current_schema()")[0]}".'
    else:
        db.execute("ATTACH DATABASE ? AS scratch", (url[len("sqlite:///"):],))
        source, target = "scratch.", "main."
    held = held_permissions()
    try:
        with db.write_transaction():
            outcome = _swap(source, target, pg, manifest, actor, name, reason)
    finally:
        if not pg:
            db.execute("DETACH DATABASE scratch")
    head_seq, head_hash = outcome.pop("head_seq"), outcome.pop("head_hash")
    save_checkpoint(instance_path(), head_seq, head_hash)
    highwater.reset(head_seq, head_hash)  # a replaced trail moves the marks back: signed, and only here
    lost = sorted(p.value for p in held - held_permissions())
    if lost:  # a restore is recovery: it is not refused, but nobody may miss that no one holds these now
        outcome["permissions_without_holder"] = lost
        raise_alert("permission_orphaned", "permissions", N_("after the restore no active person holds "
                                                             "%(permissions)s: grant them back with `formwarden "
                                                             "access grant ROLE PERMISSION`"),
                    {"permissions": lost}, severity="critical", origin="restore")
    versions.clear_cache()
    log.info("restored archive %s: %s", manifest["archive_id"], outcome)
    return outcome


def _swap(source: str, target: str, pg: bool, manifest: dict, actor: Actor, name: str, reason: str) -> dict:
    head_seq, head_hash = manifest["audit"]["head_seq"], manifest["audit"]["head_hash"]
    at_head = db.fetchone("SELECT hash FROM audit_event WHERE seq = ?", (head_seq,)) if head_seq else None
    keep_trail = head_seq == 0 or (at_head is not None and at_head[0] == head_hash)
    before = db.fetchone("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1") or (0, "")
    high_water = _id_high_water(pg)
    numbered = numbers.counters()  # auto-numbers handed out since the archive are never handed out again
    access = _live_access()
    changed = _changed_records(source, target, pg) if keep_trail else []
    abandoned = 0 if keep_trail else _set_aside_live_events(before[0] + 1)

    # everyone signs in again, into the restored data (the server ended their sessions)
    db.execute("UPDATE user_session SET revoked_at = ?, end_reason = 'restore' WHERE revoked_at IS NULL",
               (db.db_datetime(utcnow()),))
    replaced = [m for m in PARTS if not (keep_trail and table(m) in KEPT_ON_ROLLBACK)]
    if not keep_trail:
        for extra in DERIVED:
            db.execute(f"DELETE FROM {target}{extra}")  # noqa: S608 - names from the models
    local = (LOCAL_SETTINGS + "%",)
    for model in reversed(replaced):
        where = " WHERE key NOT LIKE ?" if table(model) == "setting" else ""
        db.execute(f'DELETE FROM {target}"{table(model)}"{where}', local if where else ())  # noqa: S608 - names from the models
    for model in replaced:
        cols = _quoted_cols(model)
        copy = f'INSERT INTO {target}"{table(model)}" ({cols}) SELECT {cols} FROM {source}"{table(model)}"'  # noqa: S608 - names from the models
        if table(model) == "setting":  # this installation's backup settings stay; a new machine takes the archive's
            db.execute(copy + f' WHERE key NOT LIKE ? OR key NOT IN (SELECT key FROM {target}"setting")', local)  # noqa: S608 - names from the models
        else:
            db.execute(copy)
    if not keep_trail:
        db.execute(f"INSERT INTO {target}audit_event_field (field, at, seq) SELECT field, at, seq"  # noqa: S608 - names from the models
                   f" FROM {source}audit_event_field")
        db.execute(f"INSERT INTO {target}audit_field_cursor (last_seq) SELECT last_seq FROM {source}audit_field_cursor")  # noqa: S608 - names from the models
    _restore_high_water(pg, high_water)
    numbers.keep_ahead(numbered)
    closed = _keep_closed(access)
    versions.clear_cache()
    search.clear()  # derived from the records: made again from the restored ones
    search.rebuild((form.id, formdef) for form, formdef in versions.all_forms())
    epoch = f"{manifest['archive_id']}:{utcnow().isoformat()}"
    if not Setting.update(value=epoch, updated_at=utcnow()).where(Setting.key == versions.RESTORE_EPOCH).execute():
        Setting.create(key=versions.RESTORE_EPOCH, value=epoch)
    event = record_event(actor, "backup_restore", diff={
        "archive": [None, name], "archive_id": [None, manifest["archive_id"]],
        "archive_created_at": [None, manifest["created_at"]],
        "trail": [None, "kept" if keep_trail else "replaced"],
        "forms": [None, "kept" if keep_trail else "replaced"],
        "archive_head": [None, head_seq], "head_before": [before[0], None],
        "records_changed": [None, len(changed)], "events_set_aside": [None, abandoned],
        "access_kept_closed": [None, closed],
    }, reason=reason)
    if abandoned:
        db.execute("UPDATE audit_event_abandoned SET restore_seq = ? WHERE restore_seq = 0", (event.seq,))
    last = event
    for change in changed:
        last = _note_record_change(actor, change, name, reason)
    return {"head_seq": last.seq, "head_hash": last.hash, "trail": "kept" if keep_trail else "replaced",
            "records_changed": len(changed), "events_set_aside": abandoned, "access_kept_closed": closed}


# --- the audit trail --------------------------------------------------------------------------

def _set_aside_live_events(up_to: int) -> int:
    n = db.fetchone("SELECT COUNT(*) FROM audit_event WHERE seq < ?", (up_to,))[0]
    db.execute(f"INSERT INTO audit_event_abandoned (restore_seq, {_EVENT_COLUMNS})"  # noqa: S608 - constant columns
               f" SELECT 0, {_EVENT_COLUMNS} FROM audit_event")
    return n


def _record_sql(source: str, target: str, pg: bool) -> str:
    differs = "IS DISTINCT FROM" if pg else "IS NOT"
    data = "CAST(l.data AS text) <> CAST(s.data AS text)" if pg else "l.data <> s.data"
    return (f"SELECT COALESCE(l.id, s.id) FROM {target}record l FULL OUTER JOIN {source}record s ON s.id = l.id"  # noqa: S608 - names from the models
            f" WHERE l.id IS NULL OR s.id IS NULL OR l.version <> s.version OR l.owner_id <> s.owner_id"
            f" OR l.form_version <> s.form_version OR l.deleted_at {differs} s.deleted_at OR {data}")


def _changed_records(source: str, target: str, pg: bool) -> list[dict]:
    """Records the restore changes: (id, form, live data or None, archived data or None)."""
    ids = [r[0] for r in db.fetchall(_record_sql(source, target, pg))]
    out: list[dict] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" * len(chunk))
        rows: dict[int, dict] = {}
        for side, prefix in (("live", target), ("archived", source)):
            for rid, form_key, data in db.fetchall(
                    f"SELECT r.id, f.key, r.data FROM {prefix}record r JOIN {prefix}form f ON f.id = r.form_id"  # noqa: S608 - names from the models
                    f" WHERE r.id IN ({marks})", chunk):
                entry = rows.setdefault(rid, {"id": rid, "form": form_key, "live": None, "archived": None})
                entry[side] = json.loads(data) if isinstance(data, str) else data
                entry["form"] = form_key
        out.extend(rows[i] for i in chunk if i in rows)
    return out


def _note_record_change(actor: Actor, change: dict, name: str, reason: str):
    """One event per changed record (sealed values stay sealed in the diff); the record's
    version continues after every version its history has produced."""
    old, new = change["live"] or {}, change["archived"] or {}
    diff = {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
    produced = versions_produced(change["form"], change["id"])
    if change["archived"] is not None:
        db.execute("UPDATE record SET version = ? WHERE id = ?", (produced + 1, change["id"]))
    note = f"{reason.strip()} ({name})".strip()
    return record_event(actor, "backup_restore_record", form_key=change["form"], record_id=change["id"], diff=diff,
                        reason=note)


# --- access closed since the archive stays closed ---------------------------------------------

def _live_access() -> dict:
    users = {u: dict(active=bool(a), pw=p, changed=db.py_datetime(c), expires=db.py_datetime(e))
             for u, a, p, c, e in db.fetchall(
                 'SELECT username, is_active, password_hash, password_changed_at, expires_at FROM "user"')}
    roles = {(u, r) for u, r in db.fetchall(
        'SELECT u.username, r.name FROM user_role ur JOIN "user" u ON u.id = ur.user_id JOIN role r ON r.id = ur.role_id')}
    revoked = {h for (h,) in db.fetchall("SELECT token_hash FROM api_token WHERE revoked_at IS NOT NULL")}
    live_tokens = {h for (h,) in db.fetchall("SELECT token_hash FROM api_token")}
    grants = {name: (set(perms.split()), retired) for name, perms, retired in db.fetchall(
        "SELECT name, permissions, retired_at FROM role")}
    teams = {team_id: manager for team_id, manager in db.fetchall(  # by id: ids are never reused, names may change
        'SELECT t.id, u.username FROM team t LEFT JOIN "user" u ON u.id = t.manager_id')}
    members = {(u, t) for u, t in db.fetchall(
        'SELECT u.username, ut.team_id FROM user_team ut JOIN "user" u ON u.id = ut.user_id')}
    return {"users": users, "roles": roles, "revoked": revoked, "tokens": live_tokens, "grants": grants,
            "teams": teams, "members": members}


def _keep_closed(live: dict) -> dict[str, int]:
    """Re-apply, to accounts, roles and teams that exist on both sides, every closing of access
    made since the archive; returns how many of each kind: accounts deactivated, passwords
    changed, expiry dates set or brought forward, roles revoked, tokens revoked (or deleted),
    platform permissions taken from a role or a role retired, team memberships ended, team
    managers replaced or removed, teams deleted."""
    kept = dict.fromkeys(("deactivations", "passwords", "expiry_dates", "roles", "tokens", "role_permissions",
                          "team_memberships", "team_managers", "teams"), 0)
    now = db.db_datetime(utcnow())
    for role_id, name, perms, retired in db.fetchall("SELECT id, name, permissions, retired_at FROM role"):
        was = live["grants"].get(name)
        if was is None:
            continue
        still = " ".join(sorted(set(perms.split()) & was[0]))
        if still != " ".join(sorted(perms.split())) or (retired is None and was[1] is not None):
            db.execute("UPDATE role SET permissions = ?, retired_at = ? WHERE id = ?",
                       (still, retired if retired is not None else was[1], role_id))
            kept["role_permissions"] += 1
    for username, active, pw_hash, changed, expires in db.fetchall(
            'SELECT username, is_active, password_hash, password_changed_at, expires_at FROM "user"'):
        was = live["users"].get(username)
        if was is None:
            continue
        if active and not was["active"]:
            db.execute('UPDATE "user" SET is_active = ? WHERE username = ?', (False, username))
            kept["deactivations"] += 1
        if was["pw"] != pw_hash and was["changed"] and (db.py_datetime(changed) or was["changed"]) < was["changed"]:
            db.execute('UPDATE "user" SET password_hash = ?, password_changed_at = ? WHERE username = ?',
                       (was["pw"], db.db_datetime(was["changed"]), username))
            kept["passwords"] += 1
        archived = db.py_datetime(expires)
        if was["expires"] is not None and (archived is None or was["expires"] < archived):
            db.execute('UPDATE "user" SET expires_at = ? WHERE username = ?', (db.db_datetime(was["expires"]), username))
            kept["expiry_dates"] += 1
    live_users = set(live["users"])
    for username, role, link_id in db.fetchall(
            'SELECT u.username, r.name, ur.id FROM user_role ur JOIN "user" u ON u.id = ur.user_id'
            " JOIN role r ON r.id = ur.role_id"):
        if username in live_users and (username, role) not in live["roles"]:
            db.execute("DELETE FROM user_role WHERE id = ?", (link_id,))
            kept["roles"] += 1
    for token_id, token_hash, revoked_at in db.fetchall("SELECT id, token_hash, revoked_at FROM api_token"):
        if revoked_at is None and (token_hash in live["revoked"] or token_hash not in live["tokens"]):
            db.execute("UPDATE api_token SET revoked_at = ? WHERE id = ?", (now, token_id))
            kept["tokens"] += 1
    _keep_teams_closed(live, kept)
    return {kind: n for kind, n in kept.items() if n}


def _keep_teams_closed(live: dict, kept: dict[str, int]) -> None:
    """A team deleted since the archive stays deleted (with its memberships); a membership ended
    stays ended; a manager replaced or removed is not brought back (the live one, if their
    account exists in the restored data, takes the team again)."""
    for team_id, manager in db.fetchall(
            'SELECT t.id, u.username FROM team t LEFT JOIN "user" u ON u.id = t.manager_id'):
        if team_id not in live["teams"]:
            db.execute("DELETE FROM user_team WHERE team_id = ?", (team_id,))
            db.execute("DELETE FROM team WHERE id = ?", (team_id,))
            kept["teams"] += 1
            continue
        now_manager = live["teams"][team_id]
        if manager is not None and manager != now_manager:
            row = db.fetchone('SELECT id FROM "user" WHERE username = ?', (now_manager,)) if now_manager else None
            db.execute("UPDATE team SET manager_id = ? WHERE id = ?", (row[0] if row else None, team_id))
            kept["team_managers"] += 1
    live_users = set(live["users"])
    for link_id, username, team_id in db.fetchall(
            'SELECT ut.id, u.username, ut.team_id FROM user_team ut JOIN "user" u ON u.id = ut.user_id'):
        if username in live_users and team_id in live["teams"] and (username, team_id) not in live["members"]:
            db.execute("DELETE FROM user_team WHERE id = ?", (link_id,))
            kept["team_memberships"] += 1


# --- ids ----------------------------------------------------------------------------------------

def _id_high_water(pg: bool) -> dict:
    """The highest id each table has handed out: ids stay unique across a restore (a record,
    account or token id seen before the restore never names something else afterwards)."""
    out = {}
    if not pg:
        names = tuple(table(m) for m in PARTS)
        for name, seq in db.fetchall("SELECT name, seq FROM sqlite_sequence"):
            if name in names:
                out[name] = seq
        return out
    for model in PARTS:
        seq = db.fetchone(f"SELECT pg_get_serial_sequence('\"{table(model)}\"', 'id')")[0]
        out[table(model)] = db.fetchone(f"SELECT last_value FROM {seq}")[0] if seq else 0  # noqa: S608 - names from the models
    return out


def _restore_high_water(pg: bool, before: dict) -> None:
    for model in PARTS:
        name = table(model)
        if pg:
            seq = db.fetchone(f"SELECT pg_get_serial_sequence('\"{name}\"', 'id')")[0]
            if seq:
                db.execute(f'SELECT setval(\'{seq}\', GREATEST((SELECT COALESCE(MAX(id), 0) FROM "{name}"), ?, 1))',  # noqa: S608 - names from the models
                           (before.get(name, 0),))
        elif name in before or db.fetchone("SELECT 1 FROM sqlite_sequence WHERE name = ?", (name,)):
            top = max(before.get(name, 0), db.fetchone(f'SELECT COALESCE(MAX(id), 0) FROM "{name}"')[0])  # noqa: S608 - names from the models
            db.execute("DELETE FROM sqlite_sequence WHERE name = ?", (name,))
            db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (name, top))
