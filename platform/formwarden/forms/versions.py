"""Published form versions in the database: publish, load, list. Definitions are immutable
once published; a changed definition becomes version N+1 and old records keep theirs."""
from __future__ import annotations

import json
import time

from formwarden import db
from formwarden.errors import Invalid, NotFound
from formwarden.forms.access_checks import access_problems
from formwarden.forms.definition import FormDef, parse_definition
from formwarden.models import Form, FormVersion

_cache: dict[tuple[int, int, int], FormDef] = {}


def canonical(doc: dict) -> str:
    body = {k: v for k, v in doc.items() if k != "$id"}
    body["x-form"] = {k: v for k, v in doc["x-form"].items() if k != "version"}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def checked_definition(doc: object) -> FormDef:
    """A definition checked in itself and for access blocks that would leave a role unable to
    save; raises Invalid listing every problem."""
    formdef = parse_definition(doc)
    problems = access_problems(formdef)
    if problems:
        raise Invalid(f"form definition has {len(problems)} problem(s)", code="invalid_definition",
                      details=[p.as_dict() for p in problems])
    return formdef


# The restore epoch changes when a backup is restored: a version number abandoned by the
# restore may be published again with other content, so every process drops its cached
# definitions when it sees a new epoch (within _FORM_TTL).
RESTORE_EPOCH = "backup.restore_epoch"
_FORM_BY_KEY = ("SELECT id, current_version, (SELECT value FROM setting WHERE key = 'backup.restore_epoch')"
                " FROM form WHERE key = ?")
_epoch: dict[int, str | None] = {}
_FORM_TTL = 2.0  # seconds another process may keep using the previous version after a publish
_forms: dict[tuple[int, str], tuple[float, int, int]] = {}


def get_form(key: str) -> Form:
    """The form row, cached for two seconds per process (this process's publishes clear it)."""
    now = time.monotonic()
    cache_key = (id(db.database.obj), key)
    hit = _forms.get(cache_key)
    if hit is not None and now - hit[0] < _FORM_TTL:
        return Form(id=hit[1], key=key, current_version=hit[2])
    row = db.fetchone(_FORM_BY_KEY, (key,))
    if row is None or not row[1]:
        raise NotFound(f"no form {key!r}", field="form", code="unknown_form")
    if _epoch.get(id(db.database.obj), row[2]) != row[2]:
        clear_cache()
    _epoch[id(db.database.obj)] = row[2]
    _forms[cache_key] = (now, row[0], row[1])
    return Form(id=row[0], key=key, current_version=row[1])


def definition(form: Form, version: int | None = None) -> FormDef:
    """The checked definition of `form` at `version` (default: current), cached per process."""
    version = version or form.current_version
    key = (id(db.database.obj), form.id, version)  # a process may open a second database (restore checks)
    cached = _cache.get(key)
    if cached is None:
        row = FormVersion.get_or_none(FormVersion.form == form, FormVersion.version == version)
        if row is None:
            raise NotFound(f"form {form.key!r} has no version {version}", code="unknown_form_version")
        cached = _cache[key] = FormDef(json.loads(row.definition))
    return cached


def current(key: str) -> tuple[Form, FormDef]:
    form = get_form(key)
    return form, definition(form)


def all_forms() -> list[tuple[Form, FormDef]]:
    return [(f, definition(f)) for f in Form.select().where(Form.current_version > 0).order_by(Form.key)]


def clear_cache() -> None:
    _cache.clear()
    _forms.clear()


def forget_forms() -> None:
    """Drop the cached form rows (after a publish in this process; other processes follow
    within _FORM_TTL)."""
    _forms.clear()
