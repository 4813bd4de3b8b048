"""Bring one record back from a backup into the live data, as a new audited change: the rest
of the live data stays as it is. Values arrive still sealed and are stored as they were."""
from __future__ import annotations

import json

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm, has_perm
from formwarden.audit import record_event
from formwarden.audit.events import versions_produced
from formwarden.db import write_transaction
from formwarden.errors import Forbidden, Invalid, NotFound
from formwarden.forms import versions
from formwarden.models import Record, User, utcnow
from formwarden.records import attachments, search
from formwarden.records.sealing import seal_diff, unseal_data


def bring_back(actor: Actor, form_key: str, archived: dict, *, archive: str, reason: str) -> tuple[int, str]:
    """Put `archived` (a record row from an archive: id, owner_id, form_version, version, data,
    deleted_at, and the rows of its files under "files") back, files included, so its links,
    their names in history and its exports read as before. Returns (record id, "recreated" |
    "replaced"). Needs Perm.BACKUPS."""
    if not has_perm(actor, Perm.BACKUPS):
        raise Forbidden("only backup administrators may restore from a backup", code="missing_permission")
    if not reason.strip():
        raise Invalid("say why this record is being restored", field="reason", code="reason_required")
    form, formdef = versions.current(form_key)
    data = archived["data"] if isinstance(archived["data"], dict) else json.loads(archived["data"])
    owner_id = archived["owner_id"]
    if User.get_or_none(User.id == owner_id) is None:
        raise Invalid("the record's owner no longer exists; restore the whole archive or recreate the account",
                      field="owner", code="unknown_owner")
    now = utcnow()
    with write_transaction():
        produced = versions_produced(form.key, archived["id"])  # a purged record's history goes on
        live = Record.get_or_none(Record.id == archived["id"])
        if live is not None and live.form_id != form.id:
            raise NotFound("that record id belongs to another form now", code="unknown_record")
        old = unseal_data(formdef, live.data) if live is not None and live.deleted_at is None else {}
        new = unseal_data(formdef, data)
        diff = {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
        stored = json.dumps(data, ensure_ascii=False)
        if live is None:
            db.execute("INSERT INTO record (id, form_id, form_version, version, owner_id, data, created_at,"
                       " created_by_id, updated_at, updated_by_id) VALUES (?, ?, ?, ?, ?, json(?), ?, ?, ?, ?)",
                       (archived["id"], form.id, archived["form_version"], produced + 1, owner_id, stored,
                        db.db_datetime(now), actor.user_id, db.db_datetime(now), actor.user_id))
            outcome = "recreated"
        else:
            Record.update(data=data, owner=owner_id, form_version=archived["form_version"], version=produced + 1,
                          deleted_at=None, deleted_by=None, updated_at=now, updated_by=actor.user_id).where(
                Record.id == live.id).execute()
            outcome = "replaced"
        search.index_record(formdef, archived["id"], data)
        attachments.restore_files(archived["id"], archived.get("files") or [])
        record_event(actor, "backup_restore_record", form_key=form.key, record_id=archived["id"],
                     diff=seal_diff(formdef, diff), reason=f"{reason.strip()} ({archive})")
    return archived["id"], outcome
