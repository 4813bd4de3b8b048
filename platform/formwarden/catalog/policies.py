"""Each form's access policy (its `x-access` block), versioned on its own.

A policy version is written whole and never changed: who, when, why and the old → new diff,
with one `policy_change` audit event. Admins edit a *draft* (one per form, shared) cell by
cell in the matrix; the draft does nothing until it is saved as the next version, after the
same checks publishing runs. A rollback saves an older version's block as a new version. The
gate reads the current version on the next request (see `forms.versions.definition`).
"""
from __future__ import annotations

import copy
import hashlib
import json

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm, has_perm
from formwarden.audit import record_event
from formwarden.db import write_transaction
from formwarden.errors import Conflict, Forbidden, Invalid, NotFound
from formwarden.forms import versions
from formwarden.forms.access_checks import access_problems, access_warnings
from formwarden.forms.definition import ACTIONS, LEVELS, FormDef, Problem, check_definition
from formwarden.models import Form, FormPolicy, FormVersion, Setting, utcnow

SCOPES = ("own", "team", "all")
DRAFT = "access.draft."  # Setting key prefix: the draft of one form's next policy version
MAX_REASON = 500


def require_manager(actor: Actor) -> None:
    if not has_perm(actor, Perm.ACCESS_MANAGE):
        raise Forbidden("you may not change access policies", code="missing_permission")


# --- reading ----------------------------------------------------------------------------------

def _form(form_key: str) -> Form:
    form = Form.get_or_none(Form.key == form_key, Form.current_version > 0)
    if form is None:
        raise NotFound(f"no form {form_key!r}", field="form", code="unknown_form")
    return form


def _published_doc(form: Form) -> dict:
    row = FormVersion.get(FormVersion.form == form.id, FormVersion.version == form.current_version)
    return json.loads(row.definition)


def current_access(form: Form) -> dict:
    """The block in force: the current policy version's, or the definition's own (version 0)."""
    access = versions.policy_access(form)
    return access if access is not None else _published_doc(form)["x-access"]


def current_version(form: Form) -> FormPolicy | None:
    return FormPolicy.get_or_none(FormPolicy.form == form.id, FormPolicy.version == form.policy_version)


def history(form_key: str) -> list[FormPolicy]:
    form = _form(form_key)
    return list(FormPolicy.select().where(FormPolicy.form == form.id).order_by(FormPolicy.version.desc()))


def export_access(form_key: str) -> dict:
    """The policy in force, as the `x-access` block of a form_defs/ file."""
    return copy.deepcopy(current_access(_form(form_key)))


def download(actor: Actor, form_key: str) -> dict:
    """The policy in force for a download, recorded (who knows who may see what is worth knowing)."""
    require_manager(actor)
    form = _form(form_key)
    with write_transaction():
        record_event(actor, "policy_export", form_key=form.key, diff={"policy_version": [None, form.policy_version]})
    return export_access(form_key)


def undecided(form: Form) -> list[str]:
    row = current_version(form)
    return json.loads(row.undecided) if row is not None else []


def undecided_by_form() -> dict[int, list[str]]:
    """Fields waiting for a decision, by form id, for every form at once (one query: the header
    counts them on every page an access manager opens)."""
    rows = (FormPolicy.select(FormPolicy.form, FormPolicy.undecided)
            .join(Form, on=(FormPolicy.form == Form.id) & (FormPolicy.version == Form.policy_version))
            .where(FormPolicy.undecided != "[]"))
    return {row.form_id: json.loads(row.undecided) for row in rows}


# --- checking ---------------------------------------------------------------------------------

def check(form: Form, access: dict) -> tuple[FormDef | None, list[Problem], list[Problem]]:
    """The form's current definition with `access` in place, the problems that block saving it
    (the same checks publishing runs) and the warnings to show before saving."""
    doc = _published_doc(form)
    doc["x-access"] = access
    try:
        problems = check_definition(doc)
    except RecursionError:
        return None, [Problem("/x-access", "nested too deep")], []
    if problems:
        return None, problems, []
    formdef = FormDef(doc)
    return formdef, access_problems(formdef), access_warnings(formdef)


def _diff(old: dict, new: dict) -> dict:
    """Permission changes between two blocks, as `role.part: [old, new]`."""
    def flat(access: dict) -> dict:
        out: dict = {}
        for role, block in access.items():
            out[f"{role}.scope"] = block["scope"]
            out[f"{role}.actions"] = sorted(block["actions"])
            for name, level in block["fields"].items():
                out[f"{role}.fields.{name}"] = level
        return out
    a, b = flat(old), flat(new)
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not any(ch.isalnum() for ch in reason):
        raise Invalid("say why the policy changes", field="reason", code="reason_required")
    if len(reason) > MAX_REASON:
        raise Invalid(f"at most {MAX_REASON} characters", field="reason", code="too_long")
    return reason


# --- writing ----------------------------------------------------------------------------------

def write_version(actor: Actor, form: Form, access: dict, *, reason: str, undecided_fields=(),
                  base_version: int | None = None, editors=()) -> FormPolicy | None:
    """Save `access` as the form's next policy version (inside the caller's transaction or its
    own); None when nothing would change. Raises Invalid listing every problem, Conflict when
    the policy moved on since `base_version`."""
    form = Form.get_by_id(form.id)  # the newest policy version, read inside the transaction
    if base_version is not None and base_version != form.policy_version:
        raise Conflict(f"the policy is at version {form.policy_version} now, not {base_version}; reload",
                       code="stale_version")
    _, problems, _ = check(form, access)
    if problems:
        raise Invalid(f"the policy has {len(problems)} problem(s)", code="invalid_policy",
                      details=[p.as_dict() for p in problems])
    old = current_access(form)
    diff = _diff(old, access)
    if form.policy_version and not diff and sorted(undecided_fields) == sorted(undecided(form)):
        return None
    version = form.policy_version + 1
    row = FormPolicy.create(
        form=form.id, version=version, access=json.dumps(access, ensure_ascii=False, sort_keys=True),
        undecided=json.dumps(sorted(undecided_fields)), diff=json.dumps(diff, ensure_ascii=False), reason=reason,
        created_at=utcnow(), created_by_id=actor.user_id, created_by_name=actor.username or actor.name)
    Form.update(policy_version=version).where(Form.id == form.id).execute()
    versions.forget_forms()
    extra = {"draft_by": [None, list(editors)]} if editors else {}
    record_event(actor, "policy_change", form_key=form.key,
                 diff={"policy_version": [form.policy_version or None, version], **extra, **diff}, reason=reason)
    return row


MAX_ROLES = 100


def _check_roles(access) -> None:
    """A policy saved by a person names only existing, active roles (a column for a role that
    does not exist would hand its rights to whoever later creates a role by that name)."""
    if not isinstance(access, dict):
        raise Invalid("the x-access block must be an object", field="file", code="no_access_block")
    if len(access) > MAX_ROLES:
        raise Invalid(f"at most {MAX_ROLES} roles in a policy", field="file", code="too_many")
    for block in access.values():  # the shape first: nothing deeper than a block is ever walked
        ok = (isinstance(block, dict) and set(block) == {"scope", "actions", "fields"}
              and isinstance(block.get("fields"), dict)
              and isinstance(block.get("actions"), list) and isinstance(block.get("scope"), str)
              and all(isinstance(a, str) for a in block["actions"])
              and all(isinstance(k, str) and isinstance(v, str) for k, v in block["fields"].items()))
        if not ok:
            raise Invalid("each role needs scope, actions and fields, written as in form_defs/", field="file",
                          code="no_access_block")
    unknown = sorted(str(r) for r in access if r not in _role_names())
    if unknown:
        raise Invalid(f"no active role named {', '.join(unknown[:10])}", field="role", code="unknown_role",
                      details=[{"field": "role", "code": "unknown_role", "message": ", ".join(unknown[:10])}])


def _carry(form: Form, access: dict, fields, *, effective: bool) -> tuple[dict, list[str]]:
    """`access` where a block that has no say about a field in `fields` does not change it (a
    rollback to before the field existed, or an old export, cannot hand out through a wildcard
    a field hidden since), and the fields among them still undecided. `effective`: keep the
    level in force even where it comes from a wildcard; otherwise only the entries in force
    that name the field."""
    now = current_access(form)
    out = copy.deepcopy(access)
    for role, block in out.items():
        if not isinstance(block, dict) or not isinstance(block.get("fields"), dict):
            continue
        in_force = (now.get(role) or {}).get("fields", {})
        for name in fields:
            if name in block["fields"]:
                continue
            if name in in_force:
                block["fields"][name] = in_force[name]
            elif effective and block["fields"].get("*", "hidden") != in_force.get("*", "hidden"):
                block["fields"][name] = in_force.get("*", "hidden")
    return out, [n for n in undecided(form) if n in set(fields)]


def _fields_since(form: Form, moment) -> list[str]:
    """Fields of the current form version that the version in force at `moment` did not have."""
    row = (FormVersion.select().where(FormVersion.form == form.id, FormVersion.published_at <= moment)
           .order_by(FormVersion.version.desc()).first())
    before = set(json.loads(row.definition)["properties"]) if row is not None else set()
    return [n for n in _published_doc(form)["properties"] if n not in before]


def save(actor: Actor, form_key: str, access: dict, *, reason: str, base_version: int | None = None,
         undecided_fields=(), editors=(), carry=(), effective: bool = False) -> FormPolicy | None:
    """Save `access` as the next version; the fields in `carry` keep what is in force (see `_carry`)."""
    require_manager(actor)
    reason = _reason(reason)
    _check_roles(access)
    with write_transaction():
        form = _form(form_key)
        if carry:
            access, undecided_fields = _carry(form, access, carry, effective=effective)
        return write_version(actor, form, access, reason=reason, base_version=base_version,
                             undecided_fields=undecided_fields, editors=editors)


def rollback(actor: Actor, form_key: str, version: int, reason: str) -> FormPolicy | None:
    """Put an older version's block back in force, as a new version."""
    require_manager(actor)
    form = _form(form_key)
    old = FormPolicy.get_or_none(FormPolicy.form == form.id, FormPolicy.version == version)
    if old is None:
        raise NotFound(f"the policy has no version {version}", field="version", code="unknown_version")
    return save(actor, form_key, json.loads(old.access), reason=f"{_reason(reason)} (rollback to version {version})",
                carry=_fields_since(form, old.created_at), effective=True)


MAX_IMPORT = 512 * 1024


def _no_duplicates(pairs):
    keys = [k for k, _v in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def import_access(actor: Actor, form_key: str, text: str, reason: str) -> FormPolicy | None:
    """Import the `x-access` block of a form_defs/ file (the whole file, or the block alone)."""
    require_manager(actor)
    if len(text) > MAX_IMPORT:
        raise Invalid("the file is larger than a form definition can be", field="file", code="too_large")
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        raise Invalid("not readable JSON (or a key given twice)", field="file", code="invalid_json") from None
    access = doc.get("x-access", doc) if isinstance(doc, dict) else None
    meta = doc.get("x-form") if isinstance(doc, dict) else None
    if meta is not None and (not isinstance(meta, dict) or meta.get("key") not in (None, form_key)):
        raise Invalid("the file is for another form", field="file", code="wrong_form")
    if not isinstance(access, dict):
        raise Invalid("the file holds no x-access block", field="file", code="no_access_block")
    _check_roles(access)
    named = {n for block in access.values() if isinstance(block, dict) and isinstance(block.get("fields"), dict)
             for n in block["fields"]}
    form = _form(form_key)
    return save(actor, form_key, access, reason=reason, effective=True,
                carry=[n for n in _published_doc(form)["properties"] if n not in named])


# --- new fields of a new form version --------------------------------------------------------

def hide_new_fields(access: dict, added) -> tuple[dict, list[str]]:
    """`access` with every field in `added` that a block does not name explicitly set to hidden
    for that block (a wildcard never hands a new field out), and the fields no block names (to
    be decided by someone in the matrix)."""
    out = copy.deepcopy(access)
    undecided_fields = []
    for name in added:
        named = False
        for block in out.values():
            if name in block["fields"]:
                named = True
            elif block["fields"].get("*", "hidden") != "hidden":
                block["fields"][name] = "hidden"
        if not named:
            undecided_fields.append(name)
    return out, undecided_fields


# --- the draft the matrix edits --------------------------------------------------------------

def revision(value: dict) -> str:
    """What a draft says, as a digest: a save names the revision its saver looked at, so a draft
    changed since (by anyone, even back and forth) is never saved in their name."""
    body = json.dumps([value.get("base"), value["access"], sorted(value.get("undecided") or []),
                       value.get("editors") or []], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:20]


def draft(form_key: str, *, lock: bool = False) -> dict:
    """The form's draft: {"access", "base", "undecided", "by", "at", "editors", "rev"}; a fresh
    copy of the version in force when there is none (not stored until edited). `lock` (inside a
    write transaction) holds the draft until the transaction ends, so edits never overwrite
    each other."""
    form = _form(form_key)
    query = Setting.select().where(Setting.key == DRAFT + form_key)
    if lock and db.is_postgres():
        query = query.for_update()
    row = query.first()
    value = None
    if row is not None:
        stored = json.loads(row.value)
        if stored.get("base") == form.policy_version:
            value = stored
    if value is None:
        value = {"access": current_access(form), "base": form.policy_version, "undecided": undecided(form),
                 "by": "", "at": "", "edited": False, "editors": []}
    value["rev"] = revision(value)
    return value


def _store_draft(actor: Actor, form_key: str, value: dict) -> dict:
    """Store an edited draft (inside the transaction that read it with `lock`)."""
    who = actor.username or actor.name
    editors = value.get("editors") or []
    value.update(by=who, at=utcnow().isoformat(timespec="seconds"), edited=True,
                 editors=editors if who in editors else [*editors, who])
    value["rev"] = revision(value)
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    n = Setting.update(value=text, updated_at=utcnow()).where(Setting.key == DRAFT + form_key).execute()
    if not n:
        Setting.create(key=DRAFT + form_key, value=text)
    return value


def discard_draft(actor: Actor, form_key: str) -> None:
    require_manager(actor)
    form = _form(form_key)
    with write_transaction():
        value = draft(form_key, lock=True)
        if not value.get("edited"):
            return
        Setting.delete().where(Setting.key == DRAFT + form_key).execute()
        record_event(actor, "policy_draft_discard", form_key=form.key,
                     diff={"draft_by": [value.get("editors") or [], None],
                           **{k: [v[1], None] for k, v in _diff(current_access(form), value["access"]).items()}})


def _role_names() -> set[str]:
    return {row[0] for row in db.fetchall("SELECT name FROM role WHERE retired_at IS NULL")}


def edit_draft(actor: Actor, form_key: str, change: dict) -> dict:
    """Apply one matrix edit to the draft and store it. `change`:
    {"op": "level", "role", "field", "level"} — one cell ("*" is the role's default);
    {"op": "row", "field", "level"} — every role; {"op": "column", "role", "level"} — every field;
    {"op": "scope", "role", "scope"}; {"op": "action", "role", "action", "on": bool};
    {"op": "copy", "role", "from"}; {"op": "add_role", "role"}; {"op": "remove_role", "role"};
    {"op": "decide", "field"} — keep a new field as it is (hidden unless set)."""
    require_manager(actor)
    with write_transaction():
        return _edit(actor, form_key, change)


def _edit(actor: Actor, form_key: str, change: dict) -> dict:
    form = _form(form_key)
    formdef = versions.definition(form)
    value = draft(form_key, lock=True)
    access = value["access"]
    op = change.get("op")
    role = change.get("role")
    fields = list(formdef.fields)

    def block(name) -> dict:
        if name not in access:
            raise Invalid(f"the policy has no column for role {name!r}", field="role", code="unknown_role")
        return access[name]

    def level_of(raw) -> str:
        if raw not in LEVELS:
            raise Invalid(f"{raw!r} is not a level ({', '.join(LEVELS)})", field="level", code="invalid_level")
        return raw

    def field_of(raw) -> str:
        if raw != "*" and raw not in formdef.fields:
            raise Invalid(f"unknown field {raw!r}", field="field", code="unknown_field")
        return raw

    decided = value.setdefault("undecided", [])
    if op == "level":
        name = field_of(change.get("field"))
        block(role)["fields"][name] = level_of(change.get("level"))
        if name in decided:
            decided.remove(name)
    elif op == "row":
        name = field_of(change.get("field"))
        level = level_of(change.get("level"))
        for b in access.values():
            b["fields"][name] = level
        if name in decided:
            decided.remove(name)
    elif op == "column":
        level = level_of(change.get("level"))
        b = block(role)
        b["fields"] = {"*": "hidden", **{n: level for n in fields}}
        decided.clear()  # every field now has a level someone chose
    elif op == "scope":
        if change.get("scope") not in SCOPES:
            raise Invalid("scope must be own, team or all", field="scope", code="invalid_scope")
        block(role)["scope"] = change["scope"]
    elif op == "action":
        action = change.get("action")
        if action not in ACTIONS:
            raise Invalid(f"{action!r} is not an action", field="action", code="invalid_action")
        acts = set(block(role)["actions"])
        acts = acts | {action} if change.get("on") else acts - {action}
        block(role)["actions"] = [a for a in ACTIONS if a in acts]
    elif op == "copy":
        source = block(change.get("from"))
        block(role)
        access[role] = copy.deepcopy(source)
    elif op == "add_role":
        if role not in _role_names():
            raise Invalid(f"no active role {role!r}", field="role", code="unknown_role")
        access.setdefault(role, {"scope": "own", "actions": [], "fields": {"*": "hidden"}})
    elif op == "remove_role":
        block(role)
        if len(access) == 1:
            raise Invalid("a policy keeps at least one role", field="role", code="last_role")
        del access[role]
    elif op == "decide":
        name = field_of(change.get("field"))
        if name in decided:
            decided.remove(name)
    else:
        raise Invalid("unknown change", field="op", code="invalid_op")
    return _store_draft(actor, form_key, value)


def save_draft(actor: Actor, form_key: str, reason: str, rev: str) -> FormPolicy | None:
    """Save the draft as the next policy version and drop it, in one transaction. `rev` is the
    revision the saver looked at (see `revision`): any other draft is refused."""
    require_manager(actor)
    with write_transaction():
        value = draft(form_key, lock=True)
        if rev != value["rev"]:
            raise Conflict("the draft changed since you looked at it; review it again", code="draft_changed")
        row = save(actor, form_key, value["access"], reason=reason, base_version=value["base"],
                   undecided_fields=value.get("undecided", []), editors=value.get("editors") or [])
        Setting.delete().where(Setting.key == DRAFT + form_key).execute()
    return row
