"""Re-seal restricted values under the current field key (after a key rotation, or when a
field became restricted) and open the values of fields no longer restricted, in small batches
that each commit on their own, so an interrupted run resumes where it stopped.

Values keep their meaning, so record versions do not change; each batch is one audit event.
Audit diffs are not re-sealed: they are part of the hash chain, and old keys stay available
to read them.
"""
from __future__ import annotations

import json

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.audit import record_event
from formwarden.crypto.fields import current_key_id, is_envelope, seal, unseal
from formwarden.forms import versions
from formwarden.records import search

_BATCH = "SELECT id, version, data FROM record WHERE form_id = ? AND id > ? ORDER BY id LIMIT ?"
# Only if the record is still the version that was read: a user's change in between is never overwritten.
_WRITE = "UPDATE record SET data = json(?) WHERE id = ? AND version = ?"


def pending_forms() -> list:
    """(form, formdef, restricted field names) for every form: one with no restricted field now
    may still hold values sealed while a field was restricted, which are opened."""
    return [(form, formdef, formdef.restricted_fields) for form, formdef in versions.all_forms()]


def reseal_batch(actor: Actor, form, formdef, names, after_id: int, limit: int = 500) -> tuple[int, int, int]:
    """Re-seal one batch of `form`'s records after `after_id`. Returns (last id, seen, changed);
    a record changed by someone meanwhile is left for the next batch, which starts before it."""
    kid = current_key_id()
    with db.write_transaction():
        rows = db.fetchall(_BATCH, (form.id, after_id, limit))
        if not rows:
            return after_id, 0, 0
        changed, skipped = [], []
        for rid, version, raw in rows:
            data = raw if isinstance(raw, dict) else json.loads(raw)
            dirty = False
            for name, value in list(data.items()):
                if value is None or (name in names and is_envelope(value) and value["kid"] == kid):
                    continue
                if name in names:  # restricted: sealed under the current key
                    clear = unseal(formdef.key, name, value) if is_envelope(value) else value
                    data[name] = seal(formdef.key, name, clear)
                    dirty = True
                elif is_envelope(value):  # no longer restricted: stored in clear again
                    data[name] = unseal(formdef.key, name, value)
                    dirty = True
            if dirty:
                if db.execute(_WRITE, (json.dumps(data, ensure_ascii=False), rid, version)).rowcount == 1:
                    search.index_record(formdef, rid, data)  # a field restricted or opened again
                    changed.append(rid)
                else:
                    skipped.append(rid)
        if changed:
            record_event(actor, "reseal", form_key=formdef.key,
                         diff={"key_id": [None, kid], "records": [None, [changed[0], changed[-1]]],
                               "count": [None, len(changed)]})
    if skipped:
        return skipped[0] - 1, len([r for r in rows if r[0] < skipped[0]]), len(changed)
    return rows[-1][0], len(rows), len(changed)
