"""Published form versions in the database: publish, load, list. Definitions are immutable
once published; a changed definition becomes version N+1 and old records keep theirs."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.audit import record_event
from formwarden.db import write_transaction
from formwarden.errors import Invalid, NotFound
from formwarden.forms.access_checks import access_problems
from formwarden.forms.definition import FormDef, parse_definition
from formwarden.models import Form, FormVersion
from formwarden.records.indexes import ensure_field_indexes

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


def publish(actor: Actor, doc: dict) -> tuple[Form, int, bool]:
    """Publish `doc` as the next version of its form unless identical to the current one.

    Returns (form, version, changed). Raises Invalid listing every problem.
    """
    formdef = checked_definition(doc)
    text = canonical(doc)
    checksum = hashlib.sha256(text.encode()).hexdigest()
    with write_transaction():
        form, _ = Form.get_or_create(key=formdef.key)
        current = (
            FormVersion.get_or_none(FormVersion.form == form, FormVersion.version == form.current_version)
            if form.current_version else None
        )
        if current is not None and current.checksum == checksum:
            ensure_field_indexes(form.id, formdef)  # idempotent; repairs a missing index
            return form, form.current_version, False
        version = form.current_version + 1
        stored = json.loads(text)
        stored["x-form"]["version"] = version
        stored["$id"] = f"urn:formwarden:form:{formdef.key}:v{version}"
        FormVersion.create(
            form=form, version=version, checksum=checksum,
            definition=json.dumps(stored, ensure_ascii=False, sort_keys=True),
            published_by=actor.user_id,
        )
        previous = json.loads(current.definition)["x-access"] if current is not None else {}
        form.current_version = version
        form.save()
        _forms.clear()
        ensure_field_indexes(form.id, formdef)
        record_event(actor, "form_publish", form_key=formdef.key,
                     diff={"version": [version - 1 or None, version], **access_changes(previous, doc["x-access"])})
    return form, version, True


def _flatten(access: dict) -> dict:
    out = {}
    for role, block in access.items():
        out[f"x-access.{role}.scope"] = block["scope"]
        out[f"x-access.{role}.actions"] = sorted(block["actions"])
        for name, level in block["fields"].items():
            out[f"x-access.{role}.fields.{name}"] = level
    return out


def access_changes(old: dict, new: dict) -> dict:
    """Permission changes between two access blocks, as `path: [old, new]` (for the audit trail)."""
    a, b = _flatten(old), _flatten(new)
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def load_directory(actor: Actor, path: Path) -> list[tuple[str, int, bool]]:
    """Check every *.json in `path` first; publish only when all are sound (nothing half-loaded)."""
    files = sorted(Path(path).glob("*.json"))
    if not files:
        raise Invalid(f"no form definitions (*.json) in {path}", code="no_definitions")
    docs, problems = [], []
    for f in files:
        try:
            doc = json.loads(f.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            problems.append({"file": f.name, "pointer": "", "reason": f"not readable JSON: {exc}"})
            continue
        try:
            checked_definition(doc)
        except Invalid as exc:
            problems.extend({"file": f.name, **d} for d in exc.details)
            continue
        docs.append(doc)
    if problems:
        raise Invalid(f"{len(problems)} problem(s) in form definitions", code="invalid_definition", details=problems)
    out = []
    with write_transaction():
        for doc in docs:
            form, version, changed = publish(actor, doc)
            out.append((form.key, version, changed))
    return out


_FORM_BY_KEY = "SELECT id, current_version FROM form WHERE key = ?"
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
