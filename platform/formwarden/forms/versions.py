"""Published form versions in the database: publish, load, list. Definitions are immutable
once published; a changed definition becomes version N+1 and old records keep theirs."""
from __future__ import annotations

import json
import time

from formwarden import db
from formwarden.errors import Invalid, NotFound
from formwarden.forms.access_checks import access_problems
from formwarden.forms.definition import FormDef, parse_definition
from formwarden.models import Form, FormPolicy, FormVersion

_cache: dict[tuple[int, int, int, int], FormDef] = {}


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
_FORM_BY_KEY = ("SELECT id, current_version, policy_version,"
                " (SELECT value FROM setting WHERE key = 'backup.restore_epoch') FROM form WHERE key = ?")
_epoch: dict[int, str | None] = {}
# Seconds a process may keep using the previous form row (version and policy) after a change
# elsewhere; requests start with `forget_forms()`, so a page or API call always sees the newest.
_FORM_TTL = 2.0
_forms: dict[tuple[int, str], tuple[float, int, int, int]] = {}


def get_form(key: str) -> Form:
    """The form row, cached for two seconds per process (this process's publishes clear it)."""
    now = time.monotonic()
    cache_key = (id(db.database.obj), key)
    hit = _forms.get(cache_key)
    if hit is not None and now - hit[0] < _FORM_TTL:
        return Form(id=hit[1], key=key, current_version=hit[2], policy_version=hit[3])
    row = db.fetchone(_FORM_BY_KEY, (key,))
    if row is None or not row[1]:
        raise NotFound(f"no form {key!r}", field="form", code="unknown_form")
    if _epoch.get(id(db.database.obj), row[3]) != row[3]:
        clear_cache()
    _epoch[id(db.database.obj)] = row[3]
    _forms[cache_key] = (now, row[0], row[1], row[2])
    return Form(id=row[0], key=key, current_version=row[1], policy_version=row[2])


def policy_access(form: Form) -> dict | None:
    """The access block of the form's current policy version (None: version 0, the definition's own)."""
    if not form.policy_version:
        return None
    row = FormPolicy.get_or_none(FormPolicy.form == form.id, FormPolicy.version == form.policy_version)
    return json.loads(row.access) if row is not None else None


def definition(form: Form, version: int | None = None) -> FormDef:
    """The checked definition of `form` at `version` (default: current), cached per process,
    with the form's current access policy in place of the version's own `x-access` (a policy
    is versioned on its own, and applies to records of every form version)."""
    version = version or form.current_version
    policy = form.policy_version or 0
    key = (id(db.database.obj), form.id, version, policy)  # a process may open a second database (restore checks)
    cached = _cache.get(key)
    if cached is None:
        row = FormVersion.get_or_none(FormVersion.form == form, FormVersion.version == version)
        if row is None:
            raise NotFound(f"form {form.key!r} has no version {version}", code="unknown_form_version")
        doc = json.loads(row.definition)
        access = policy_access(form)
        if access is not None:
            doc["x-access"] = access
        cached = _cache[key] = FormDef(doc)
    return cached


def removed_fields(form: Form) -> dict[str, tuple[dict, int]]:
    """Fields earlier versions had and the current one does not: {name: (its last schema, the
    version that removed it)}. Their values stay in older records and in history, read-only."""
    out: dict[str, tuple[dict, int]] = {}
    previous: dict = {}
    rows = (FormVersion.select(FormVersion.version, FormVersion.definition)
            .where(FormVersion.form == form.id, FormVersion.version <= form.current_version)
            .order_by(FormVersion.version))
    for row in rows:
        props = json.loads(row.definition)["properties"]
        for name, spec in previous.items():
            if name not in props and name not in out:
                out[name] = (spec, row.version)
        for name in props:
            out.pop(name, None)  # a field added back is no longer removed
        previous = {**previous, **props}
    return out


def retired_options(form: Form, formdef: FormDef) -> dict[str, dict[str, list]]:
    """Options earlier versions offered that the current field no longer has, with their labels:
    {field: {locale: [[value, label], …]}}. Records and history that hold such a value show its
    label (a retired option), never its raw key."""
    out: dict[str, dict[str, list]] = {}
    seen: set[tuple[str, str]] = set()
    rows = (FormVersion.select(FormVersion.definition)
            .where(FormVersion.form == form.id, FormVersion.version < form.current_version)
            .order_by(FormVersion.version.desc()))
    for row in rows:
        old = FormDef(json.loads(row.definition))
        for name, fd in old.fields.items():
            now = formdef.fields.get(name)
            if now is None or fd.options is None:
                continue
            for value in fd.options:
                marker = (name, json.dumps(value))
                if (now.options is not None and value in now.options) or marker in seen:
                    continue
                seen.add(marker)
                for locale in ("zh-CN", "en"):
                    out.setdefault(name, {}).setdefault(locale, []).append([value, fd.option_label(value, locale)])
    return out


_with_removed: dict[tuple[int, int, int, int], FormDef] = {}


def _removed_levels(form: Form, names: set[str]) -> dict[str, dict[str, str]]:
    """Each role's level on each removed field, as the last policy that named the field set it,
    never above read (a removed field is read-only): the people who saw a value before it was
    removed still see it in their records' history; nobody else does."""
    out: dict[str, dict[str, str]] = {}
    pending = set(names)
    rows = FormPolicy.select(FormPolicy.access).where(FormPolicy.form == form.id).order_by(FormPolicy.version.desc())
    newest = None
    for row in rows:
        if not pending:
            break
        access = json.loads(row.access)
        newest = newest or access
        for name in [n for n in pending if any(n in block["fields"] for block in access.values())]:
            _levels_from(access, name, out)
            pending.discard(name)
    for name in pending:  # never named by any policy: each role's default level decided
        _levels_from(newest or {}, name, out)
    return out


def _levels_from(access: dict, name: str, out: dict) -> None:
    for role, block in access.items():
        level = block["fields"].get(name, block["fields"].get("*", "hidden"))
        out.setdefault(role, {})[name] = "read" if level == "write" else level


def with_removed(form: Form, formdef: FormDef) -> FormDef:
    """The current definition plus every field removed since an earlier version (after the
    current fields), for history and older records: their values stay readable under the
    current policy (a removed field is hidden unless the role's default level shows it)."""
    key = (id(db.database.obj), form.id, form.current_version, form.policy_version or 0)
    cached = _with_removed.get(key)
    if cached is None:
        removed = removed_fields(form)
        retired = retired_options(form, formdef)
        if not removed and not retired:
            _with_removed[key] = formdef  # nothing removed: the current definition itself (asked per record)
            return formdef
        doc = json.loads(json.dumps(formdef.doc))
        for name, labels in retired.items():
            doc["properties"][name]["x-retired-labels"] = labels
        for name, (spec, version) in removed.items():
            doc["properties"][name] = {**spec, "x-removed-in": version}
        for role, levels in _removed_levels(form, set(removed)).items():
            if role in doc["x-access"]:
                doc["x-access"][role]["fields"].update(levels)
        cached = _with_removed[key] = FormDef(doc)
    return cached


def current(key: str) -> tuple[Form, FormDef]:
    form = get_form(key)
    return form, definition(form)


def all_forms() -> list[tuple[Form, FormDef]]:
    return [(f, definition(f)) for f in Form.select().where(Form.current_version > 0).order_by(Form.key)]


def clear_cache() -> None:
    _cache.clear()
    _with_removed.clear()
    _forms.clear()


def forget_forms() -> None:
    """Drop the cached form rows (after a publish in this process; other processes follow
    within _FORM_TTL)."""
    _forms.clear()
