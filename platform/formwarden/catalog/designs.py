"""Form designs: the builder's draft of a form's next version, its checks, and publishing it.

One draft per form, shared by its designers, kept in `setting` under `design.draft.<key>`
(`{"doc", "base", "by", "at", "rev"}`): edits name the revision they were made on, so two
designers never overwrite each other. Publishing runs every check the platform has, refuses
a change that would leave stored values invalid unless the designer picked a conversion for
the field (previewed first), and writes version N+1 with its changelog.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math

from formwarden import db
from formwarden.access import gate
from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm, has_perm
from formwarden.access.policy import rights_for
from formwarden.arguments import json_too_deep
from formwarden.audit import record_event
from formwarden.catalog import policies, publishing
from formwarden.config import REPO_ROOT
from formwarden.db import write_transaction
from formwarden.errors import Conflict, Forbidden, Invalid, NotFound
from formwarden.forms import builder, versions
from formwarden.forms.access_checks import access_problems
from formwarden.forms.definition import FormDef, Problem, check_definition
from formwarden.models import AuditEvent, Form, Record, Setting, utcnow
from formwarden.records import search
from formwarden.records.indexes import form_is
from formwarden.records.sealing import seal_data, seal_diff, unseal_data

DRAFT = "design.draft."
MAX_IMPORT = 1_000_000  # bytes of an imported definition file


def require_designer(actor: Actor) -> None:
    if not has_perm(actor, Perm.FORMS_MANAGE):
        raise Forbidden("you may not design forms", code="missing_permission")


def _published(form_key: str) -> tuple[Form | None, dict | None]:
    form = Form.get_or_none(Form.key == form_key)
    if form is None or not form.current_version:
        return form, None
    return form, copy.deepcopy(versions.definition(form).doc)


def _rev(value: dict) -> str:
    body = json.dumps([value.get("base"), value["doc"]], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:20]


def draft(form_key: str, *, lock: bool = False) -> dict:
    """The form's draft; a fresh copy of the published version when none is stored (not stored
    until edited). NotFound for a form neither published nor drafted."""
    form, doc = _published(form_key)
    query = Setting.select().where(Setting.key == DRAFT + form_key)
    if lock and db.is_postgres():
        query = query.for_update()
    row = query.first()
    base = form.current_version if form is not None else 0
    value = None
    if row is not None:
        stored = json.loads(row.value)
        if stored.get("base") == base:
            value = stored
    if value is None:
        if doc is None:
            raise NotFound(f"no form {form_key!r}", field="form", code="unknown_form")
        doc.pop("$id", None)
        doc["x-form"].pop("version", None)
        value = {"doc": doc, "base": base, "by": "", "at": "", "edited": False}
    value["rev"] = _rev(value)
    return value


def drafts() -> dict[str, dict]:
    """Every stored draft by form key (new forms not yet published included)."""
    out = {}
    for row in Setting.select().where(Setting.key.startswith(DRAFT)):
        value = json.loads(row.value)
        out[row.key.removeprefix(DRAFT)] = value
    return out


def _store(actor: Actor, form_key: str, value: dict) -> dict:
    value.update(by=actor.username or actor.name, at=utcnow().isoformat(timespec="seconds"), edited=True)
    value["rev"] = _rev(value)
    text = json.dumps(value, ensure_ascii=False)  # in the author's order: fields list as they were added
    if not Setting.update(value=text, updated_at=utcnow()).where(Setting.key == DRAFT + form_key).execute():
        Setting.create(key=DRAFT + form_key, value=text)
    return value


def edit(actor: Actor, form_key: str, rev: str, change) -> dict:
    """Apply `change(doc) -> doc` (a builder edit) to the draft seen at `rev`; Conflict when
    someone changed the draft since."""
    require_designer(actor)
    with write_transaction():
        value = draft(form_key, lock=True)
        if rev != value["rev"]:
            raise Conflict("someone changed this draft since you opened it: reload and try again",
                           code="stale_draft")
        value["doc"] = change(value["doc"])
        return _store(actor, form_key, value)


def _taken(key: str) -> bool:
    form = Form.get_or_none(Form.key == key)
    return (form is not None and bool(form.current_version)) or \
        Setting.select().where(Setting.key == DRAFT + key).exists()


def _exists(key: str) -> Invalid:
    return Invalid(f"a form {key!r} already exists", field="key", code="exists",
                   details=[{"field": "key", "code": "exists", "message": "A form with this key already exists."}])


def create(actor: Actor, key: str, title_zh: str, title_en: str = "") -> dict:
    """A new form's first draft. With no key given, one is made from its name (pinyin), made
    unique with _2, _3 … (a key given that is taken is refused)."""
    require_designer(actor)
    return _new_draft(actor, builder.new_form(key, title_zh, title_en), key_given=bool((key or "").strip()))


def _new_draft(actor: Actor, doc: dict, key_given: bool, template: str = "") -> dict:
    """Store a new form's first draft under its key, made unique with _2, _3 … unless the
    designer gave it (then a taken key is refused)."""
    with write_transaction():
        base = doc["x-form"]["key"]
        made, n = base, 2
        while _taken(made):
            if key_given:
                raise _exists(made)
            made, n = f"{base[:44]}_{n}", n + 1
        doc["x-form"]["key"] = made
        value = _store(actor, made, {"doc": doc, "base": 0})
        diff = {"title": [None, doc["x-form"]["title"]]}
        if template:
            diff["template"] = [None, template]
        record_event(actor, "form_draft_create", form_key=made, diff=diff)
        return value


def rename(actor: Actor, form_key: str, new_key: str, rev: str) -> str:
    """A form never published takes another key (it is part of every address and of the API, so
    it is fixed at the first publish). Returns the key."""
    require_designer(actor)
    new_key = (new_key or "").strip()
    if not builder.KEY.fullmatch(new_key):
        raise Invalid("a form key: lower-case letters, digits and _ (starting with a letter), up to 48", field="key",
                      code="invalid")
    with write_transaction():
        value = draft(form_key, lock=True)
        if rev != value["rev"]:
            raise Conflict("someone changed this draft since you opened it: reload and try again", code="stale_draft")
        if new_key == form_key:
            return form_key
        if value.get("base") or _published(form_key)[1] is not None:
            raise Invalid("a published form keeps its key", field="key", code="key_frozen")
        if _taken(new_key):
            raise _exists(new_key)
        value["doc"]["x-form"]["key"] = new_key
        Setting.delete().where(Setting.key.in_([DRAFT + form_key, REQUEST + form_key])).execute()
        _store(actor, new_key, value)
        record_event(actor, "form_draft_rename", form_key=new_key, diff={"key": [form_key, new_key]})
        return new_key


# --- handing a publish over ---------------------------------------------------------------------

REQUEST = "design.publish_request."


def request_publish(actor: Actor, form_key: str, rev: str, note: str) -> dict:
    """A designer who may not finish a publish (records outside their scope, checks over values
    they may not read) hands the draft seen at `rev` to the access managers, with a note. It
    waits on their home page until someone publishes or discards the draft."""
    require_designer(actor)
    with write_transaction():
        value = draft(form_key, lock=True)
        if rev != value["rev"]:
            raise Conflict("someone changed this draft since you checked it: check it again", code="stale_draft")
        request = {"by": actor.username or actor.name, "note": (note or "").strip()[:1000],
                   "at": utcnow().isoformat(timespec="seconds"), "rev": rev}
        text = json.dumps(request, ensure_ascii=False)
        if not Setting.update(value=text, updated_at=utcnow()).where(Setting.key == REQUEST + form_key).execute():
            Setting.create(key=REQUEST + form_key, value=text)
        record_event(actor, "form_publish_request", form_key=form_key, diff={"note": [None, request["note"]]})
    return request


def publish_requests(form_key: str | None = None) -> dict[str, dict]:
    """Every draft waiting for an access manager to publish it (or only `form_key`'s), by form key,
    with its title and the draft's revision now."""
    out = {}
    rows = Setting.select().where(Setting.key.startswith(REQUEST) if form_key is None else
                                  Setting.key == REQUEST + form_key)
    for row in rows:
        key = row.key.removeprefix(REQUEST)
        try:
            value = draft(key)
        except NotFound:
            continue
        out[key] = {**json.loads(row.value), "title": value["doc"]["x-form"]["title"], "current": value["rev"]}
    return out


# --- templates -----------------------------------------------------------------------------------

TEMPLATE_DIRS = (REPO_ROOT / "form_defs", REPO_ROOT / "form_defs" / "templates")


def templates() -> dict[str, dict]:
    """The shipped forms a designer may start from (customer, follow-up, contract, after-sales
    ticket, visit report), by file name."""
    out = {}
    for folder in TEMPLATE_DIRS:
        for path in sorted(folder.glob("*.json")):
            try:
                doc = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict) and isinstance(doc.get("x-form"), dict) and not check_definition(doc):
                out[path.stem] = doc
    return out


def create_from_template(actor: Actor, name: str) -> dict:
    """A new form's draft copied from a template: its fields, layout, rules and settings, under a
    key of its own (made unique), with no access granted (the matrix decides, as for any form)."""
    require_designer(actor)
    doc = templates().get(name)
    if doc is None:
        raise NotFound(f"no template {name!r}", field="template", code="unknown_template")
    doc = copy.deepcopy(doc)
    doc["x-access"] = copy.deepcopy(_DEFAULT_ACCESS)
    doc["x-form"].pop("version", None)
    doc.pop("$id", None)
    return _new_draft(actor, doc, key_given=False, template=name)


def _fields_of(form_key: str, this: FormDef) -> set[str]:
    """The fields of the published form `form_key` (or of the form being checked, if it links to
    itself)."""
    if form_key == this.key:
        return set(this.fields)
    try:
        return set(versions.current(form_key)[1].fields)
    except NotFound:
        return set()


def frozen_keys(form_key: str) -> set[str]:
    """Field keys that can no longer change: those of the published version and of earlier ones."""
    _form, doc = _published(form_key)
    return set((doc or {}).get("properties", {})) | retired_keys(form_key)


def discard(actor: Actor, form_key: str) -> None:
    require_designer(actor)
    with write_transaction():
        value = draft(form_key, lock=True)
        if not value.get("edited"):
            return
        Setting.delete().where(Setting.key.in_([DRAFT + form_key, REQUEST + form_key])).execute()
        record_event(actor, "form_draft_discard", form_key=form_key,
                     diff={"draft_by": [value.get("by"), None], "base": [value.get("base"), None]})


# --- checks ------------------------------------------------------------------------------------

_DEFAULT_ACCESS = builder.new_form("x", "x", "x")["x-access"]
SENSITIVITY_RANK = {"public": 0, "internal": 1, "confidential": 2, "restricted": 3}
MAX_DEPTH = 40  # of any JSON a definition file holds


def tidy(doc: dict) -> dict:
    """The draft as it is published: sections without fields left out (a new section waits
    empty in the draft until fields are moved into it)."""
    layout = doc.get("x-layout")
    if not isinstance(layout, dict) or not isinstance(layout.get("sections"), list):
        return doc
    kept = [s for s in layout["sections"] if not isinstance(s, dict) or s.get("fields")]
    out = {**doc, "x-layout": {**layout, "sections": kept}}
    if not kept:
        del out["x-layout"]
    return out


def problems(doc: dict, actor: Actor | None = None) -> list[Problem]:
    """Every publish-time problem of the draft: the meta-schema, pattern safety, references,
    unknown field types, access blocks that would leave a role unable to save, keys of removed
    fields used again, and (for someone without `access.manage`) access decisions made here."""
    doc = tidy(doc)
    form = Form.get_or_none(Form.key == doc.get("x-form", {}).get("key")) if isinstance(doc.get("x-form"), dict) else None
    if form is not None and form.current_version:
        doc = with_policy(doc, form)
    found = check_definition(doc)
    if found:
        return found
    formdef = FormDef(doc)
    out = list(access_problems(formdef))
    for name, fd in formdef.fields.items():
        if fd.ref and not Form.select().where(Form.key == fd.ref, Form.current_version > 0).exists() \
                and fd.ref != formdef.key:
            out.append(Problem(f"/properties/{name}/x-ref", f"links to the form {fd.ref!r}, which does not exist"))
        elif fd.ref and fd.ref_display and fd.ref_display not in _fields_of(fd.ref, formdef):
            out.append(Problem(f"/properties/{name}/x-ref-display",
                               f"shows linked records by {fd.ref_display!r}, which the form {fd.ref!r} does not have"))
    if form is not None and form.current_version:
        current = versions.definition(form)
        for name in publishing.number_switches(current.doc, doc):
            out.append(Problem(f"/properties/{name}", "a published field cannot become an auto-number or stop being "
                               "one (numbers could repeat): add a new field instead", "autonumber_switch"))
        for name, (_spec, version) in versions.removed_fields(form).items():
            if name in formdef.fields:
                out.append(Problem(f"/properties/{name}", f"the key {name!r} belonged to a field removed in version "
                                   f"{version}; its old values would come back under it: remove this field and add it "
                                   "again (it gets a new key)", "key_reused"))
        if actor is not None and not has_perm(actor, Perm.ACCESS_MANAGE):
            out += _access_decisions(current, formdef)
            out += _judged_over_unreadable_values(actor, form, current, formdef)
    return out


def _judged_over_unreadable_values(actor: Actor, form: Form, before: FormDef, after: FormDef) -> list[Problem]:
    """A change to how a field's values are checked (type, pattern, options, limits) is judged
    against every stored value: refusing it, or counting what it would refuse, would tell the
    designer about values they cannot read (a prefix pattern recovers an ID digit by digit). So
    unless they may read the field on every record of the form (recycle bin included), such a
    change is for someone who manages access. Decided from the definitions and who owns which
    record, never from the values."""
    changed = [n for n in after.fields if n in before.fields
               and builder.stored_shape_changed(before.fields[n].schema, after.fields[n].schema)]
    whole = builder.record_checks_changed(before.doc, after.doc)
    if not changed and not whole:
        return []
    owners = [r.owner_id for r in Record.select(Record.owner).where(form_is(form.id)).distinct()]  # type: ignore[attr-defined]
    rights = [gate.record_rights(actor, before, owner) for owner in owners]
    out = [Problem(f"/properties/{name}", "this change to how the field is checked would be judged over values you "
                   "may not read: ask an administrator who manages access to publish it", "access_decision",
                   (("what", "unreadable"),))
           for name in changed if any(r.level(name) not in ("read", "write") for r in rights)]
    if whole and any(r.level(n) not in ("read", "write") for r in rights for n in before.fields):
        out.append(Problem("/allOf", "this change to the checks of the record as a whole would be judged over values "
                           "you may not read: ask an administrator who manages access to publish it", "access_decision",
                           (("what", "unreadable"),)))
    return out


def with_policy(doc: dict, form: Form) -> dict:
    """`doc` with the access policy in force (minus fields the draft no longer has) in place of
    its own block: the builder never decides who sees what; the matrix does."""
    access = policies.current_access(form)
    props: dict = doc["properties"] if isinstance(doc.get("properties"), dict) else {}
    return {**doc, "x-access": {role: {**block, "fields": {n: lvl for n, lvl in block["fields"].items()
                                                          if n == "*" or n in props}}
                                for role, block in access.items()}}


def as_role(form_key: str, doc: dict, role: str) -> tuple[dict[str, str], bool]:
    """How people holding `role` would meet the draft under the policy in force: each field's
    level on a record they create ("write" where they may fill it; fields the matrix has not
    decided yet are hidden), and whether they may create records at all. Levels only, no data."""
    form = Form.get_or_none(Form.key == form_key)
    shown = with_policy(doc, form) if form is not None and form.current_version else doc
    formdef = FormDef(shown)
    rights = rights_for(formdef, frozenset({role}))
    levels = {n: "write" if rights.may_write(n, "create") else rights.level(n) for n in formdef.fields}
    return levels, rights.can("create")


def _access_decisions(before: FormDef, after: FormDef) -> list[Problem]:
    """How much of a field people see is decided in the permission matrix: a designer without
    `access.manage` may not change a field's mask (the one in effect: a field type's default mask
    counts, so giving a masked field another format is a mask change too), lower its sensitivity,
    or change whose records are whose (the owner setting and the owner field: scopes follow it)."""
    out = []
    owner = after.owner_field
    if before.owner_field != owner:
        out.append(Problem("/x-form/owner_field", "which field says whose record it is decides who sees it (record "
                           "scopes): ask an administrator who manages access", "access_decision", (("what", "owner"),)))
    elif owner and owner in before.fields and owner in after.fields \
            and before.fields[owner].schema != after.fields[owner].schema:
        out.append(Problem(f"/properties/{owner}", "the owner field decides who sees each record (record "
                           "scopes): ask an administrator who manages access", "access_decision", (("what", "owner"),)))
    for name, fd in after.fields.items():
        old = before.fields.get(name)
        if old is None:
            continue
        if fd.mask != old.mask:
            out.append(Problem(f"/properties/{name}/x-mask", "how this field is masked is an access decision: ask an "
                               "administrator who manages access", "access_decision", (("what", "mask"),)))
        if SENSITIVITY_RANK[fd.sensitivity] < SENSITIVITY_RANK[old.sensitivity]:
            out.append(Problem(f"/properties/{name}/x-sensitivity", "lowering a field's sensitivity is an access "
                               "decision: ask an administrator who manages access", "access_decision",
                               (("what", "sensitivity"),)))
    return out


def field_of(pointer: str) -> str:
    """The field a problem's JSON pointer concerns ("" for the form as a whole)."""
    parts = pointer.split("/")
    if len(parts) > 2 and parts[1] == "properties":
        return parts[2]
    if len(parts) > 4 and parts[1] == "x-access" and parts[3] == "fields":
        return parts[4]
    return ""


def affected_values(form: Form, before: FormDef, after: FormDef) -> dict[str, list[tuple[int, object, int]]]:
    """Fields whose stored values the new version would refuse: {field: [(record id, value,
    owner id), …]} over every record, the recycle bin's included (each needs a conversion)."""
    names = [n for n in after.fields if n in before.fields
             and builder.stored_shape_changed(before.fields[n].schema, after.fields[n].schema)]
    out: dict[str, list] = {}
    if not names:
        return out
    query = Record.select(Record.id, Record.owner, Record.data).where(form_is(form.id)).order_by(Record.id)
    for rec in query:
        data = unseal_data(after, rec.data, only=set(names))
        for name in names:
            value = data.get(name)
            if value is None:
                continue
            if any(True for _ in after.validator.iter_errors({name: value}) if _.validator != "required"):
                out.setdefault(name, []).append((rec.id, value, rec.owner_id))  # type: ignore[attr-defined]
    return out


KEEP = "__keep__"  # the publish page's "keep the old value" choice for a value a new option list drops


def _retire_kept(doc: dict, before: FormDef, mapping: dict) -> dict:
    """Values the designer chose to keep become retired options of the new version (x-retired,
    with their old labels): records keep them, valid and readable, and nobody chooses them anew.
    Returns the mapping without those choices. An option offered again is no longer retired."""
    for spec in doc["properties"].values():
        if isinstance(spec, dict) and spec.get("x-retired"):
            offered = spec.get("enum") or (spec.get("items") or {}).get("enum") or []
            spec["x-retired"] = [r for r in spec["x-retired"] if r.get("value") not in offered]
            if not spec["x-retired"]:
                del spec["x-retired"]
    out = {}
    for name, choices in mapping.items():
        kept = [old for old, new in choices.items() if new == KEEP]
        out[name] = {old: new for old, new in choices.items() if new != KEEP}
        spec = doc["properties"].get(name)
        if not kept or not isinstance(spec, dict) or name not in before.fields:
            continue
        retired = list(spec.get("x-retired") or [])
        have = {json.dumps(r["value"]) for r in retired}
        for value in kept:
            if json.dumps(value) not in have and value not in (FormDef(doc).fields[name].options or []):
                retired.append({"value": value, "label": {loc: before.fields[name].option_label(value, loc) or str(value)
                                                           for loc in ("zh-CN", "en")}})
        spec["x-retired"] = retired
    return out


def convert(value, fd, mapping: dict | None = None) -> object | None:
    """A stored value in the field's new kind, or None when it cannot become one (cleared).
    `mapping` (old option → new option, or None to empty) is the designer's choice per value."""
    target = fd.schema.get("type")
    options = fd.options
    if options is not None and mapping:
        if isinstance(value, list):
            value = [mapping.get(v, v) if _hashable(v) else v for v in value]
            value = [v for v in value if v is not None]
        elif _hashable(value) and value in mapping:
            value = mapping[value]
            if value is None:
                return None
    try:
        if isinstance(value, list) and target != "array":
            value = value[0] if value else None
        if target == "array" and not isinstance(value, list):
            value = [value]
        if target in ("integer", "number") and not isinstance(value, bool):
            text = str(value).replace(",", "").strip()
            if len(text) > 20:
                return None
            num = float(text)
            if not math.isfinite(num) or abs(num) > 1e15 or (target == "integer" and not num.is_integer()):
                return None
            value = int(num) if num.is_integer() else num
        elif target == "string" and not isinstance(value, str):
            value = str(value)
    except (TypeError, ValueError):
        return None
    if options is not None:
        if isinstance(value, list):
            value = [_option(v, fd) for v in value]
            value = [v for v in value if v is not None] or None
        else:
            value = _option(value, fd)
    return value


def _option(value, fd):
    """An option value of `fd` for a stored value: itself, or the option whose label it is, else None."""
    if value in (fd.options or []):
        return value
    labels = {label: opt for loc in ("zh-CN", "en") for opt, label in fd.option_labels(loc)}
    return labels.get(value) if _hashable(value) else None


def _hashable(value) -> bool:
    return isinstance(value, (str, int, float, bool))


def _stray_options(before, fd) -> list:
    """The options the published field has and the new option list drops (each value stored
    under one needs a new home). Taken from the definitions, not from records: the designer
    chooses for every record, the ones they may not see included."""
    old = before.options if before is not None else None
    return [v for v in (old or []) if _hashable(v) and v not in (fd.options or [])][:200]


def _labelled(fd, value, locale: str, fallback=None):
    """An option value (or list of them) as its label; a retired one by the label it had."""
    def one(v):
        label = fd.option_label(v, locale)
        return fallback.option_label(v, locale) if fallback is not None and label == str(v) else label
    if isinstance(value, list):
        return "、".join(one(v) for v in value)
    return one(value) if value not in (None, "") else value


def _may_convert(actor: Actor, current: FormDef, name: str, rows) -> bool:
    """A conversion changes stored values: the designer must be able to change the field on
    every affected record (or manage access, as administrators do)."""
    if has_perm(actor, Perm.ACCESS_MANAGE):
        return True
    return all(gate.record_rights(actor, current, owner).may_write(name, "update") for _id, _v, owner in rows)


def preview(actor: Actor, form_key: str, mapping: dict | None = None) -> dict:
    """What publishing the draft would do: problems, changelog, and per field whose stored values
    would no longer fit, the records affected. Values are shown as the designer may see them
    today (the policy, masks and sensitivity in force; never the draft's), and only of records
    and fields they may read; the others are only said to exist."""
    require_designer(actor)
    value = draft(form_key)
    doc = tidy(value["doc"])
    found = problems(doc, actor)
    form, before_doc = _published(form_key)
    log = builder.changelog(before_doc, doc)
    conversions: dict[str, dict] = {}
    if not found and form is not None and before_doc is not None:
        current, after = versions.definition(form), FormDef(with_policy(doc, form))
        for name, rows in affected_values(form, current, after).items():
            fd = after.fields[name]
            seen_rows = [(rid, old, owner) for rid, old, owner in rows
                         if gate.record_rights(actor, current, owner).level(name) in ("read", "write")]
            samples = []
            chosen = (mapping or {}).get(name) or {}

            def outcome(old, fd=fd, chosen=chosen):
                """What the choices made on the page do to a stored value (the automatic one where none was made)."""
                if _hashable(old) and chosen.get(old) == KEEP:
                    return old
                return convert(old, fd, {k: v for k, v in chosen.items() if v != KEEP} or None)
            for rid, old, owner in seen_rows[:20]:
                new = outcome(old)
                shown = gate.project(actor, current, {name: old}, owner).get(name, "")
                shown_new = gate.project(actor, current, {name: new}, owner).get(name, "") if new is not None else ""
                if fd.options is not None and current.fields[name].options is not None:  # options by their labels
                    locale = actor.locale or "zh-CN"
                    shown = _labelled(current.fields[name], shown, locale)
                    shown_new = _labelled(fd, shown_new, locale, current.fields[name])
                samples.append({"id": rid, "old": shown, "new": shown_new, "cleared": new is None})
            manager = has_perm(actor, Perm.ACCESS_MANAGE)
            before = current.fields.get(name)
            conversions[name] = {
                "count": len(rows) if manager else len(seen_rows), "unseen": len(seen_rows) < len(rows),
                "samples": samples, "cleared": sum(1 for _id, old, _o in seen_rows if outcome(old) is None),
                "allowed": _may_convert(actor, current, name, rows), "required": name in doc.get("required", []),
                "stray": [{"old": v, "label": before.option_label(v, actor.locale or "zh-CN") if before else str(v),
                           "auto": _option(v, fd)} for v in _stray_options(before, fd)]
                if fd.options is not None else [],
                "options": fd.option_labels(actor.locale or "zh-CN") if fd.options is not None else []}
    return {"draft": value, "problems": found, "changelog": log, "conversions": conversions,
            "next_version": (form.current_version if form is not None else 0) + 1}


def publish(actor: Actor, form_key: str, rev: str, *, note: str = "", convert_fields=(),
            mapping: dict | None = None) -> int:
    """Publish the draft seen at `rev` as the next version. A field whose stored values would no
    longer fit is refused unless it is in `convert_fields` (each such value is converted, or
    cleared where it cannot be: one audited change per record, in the same transaction). The
    access policy in force carries over (minus removed fields; new fields hidden and undecided):
    the builder never changes who sees what."""
    require_designer(actor)
    with write_transaction():
        value = draft(form_key, lock=True)
        if rev != value["rev"]:
            raise Conflict("someone changed this draft since you checked it: check it again", code="stale_draft")
        doc = tidy(copy.deepcopy(value["doc"]))
        found = problems(doc, actor)
        if found:
            raise Invalid(f"the form has {len(found)} problem(s)", code="invalid_definition",
                          details=[{**p.as_dict(), "field": field_of(p.pointer)} for p in found])
        form, before_doc = _published(form_key)
        log = builder.changelog(before_doc, doc)
        if before_doc is not None and not any(log[k] for k in ("added", "removed", "changed", "form")):
            raise Invalid("the draft is the same as the published version: nothing to publish", code="no_changes",
                          details=[{"field": "", "code": "no_changes", "message": "Nothing to publish."}])
        pending: dict = {}
        if form is not None and before_doc is not None:
            mapping = _retire_kept(doc, versions.definition(form), mapping or {})
            doc = with_policy(doc, form)
            current, after = versions.definition(form), FormDef(doc)
            pending = affected_values(form, current, after)
            refused = sorted(set(pending) - set(convert_fields))
            if refused:
                raise Invalid(f"stored values of {', '.join(refused)} would no longer be valid", code="needs_conversion",
                              details=[{"field": n, "code": "needs_conversion", "count": len(pending[n]),
                                        "message": f"{len(pending[n])} record(s) hold values this change makes invalid:"
                                                   " choose to convert them"} for n in refused])
            emptied = sorted(n for n, rows in pending.items() if n in doc.get("required", []) and any(
                convert(old, after.fields[n], (mapping or {}).get(n)) is None for _id, old, _o in rows))
            if emptied:
                raise Invalid(f"converting {', '.join(emptied)} would empty a required field", code="required_emptied",
                              details=[{"field": n, "code": "required_emptied",
                                        "message": "a required field cannot be emptied: choose an option for each value"}
                                       for n in emptied])
            beyond = sorted(n for n, rows in pending.items() if not _may_convert(actor, current, n, rows))
            if beyond:
                raise Forbidden(f"converting {', '.join(beyond)} would change records you may not change: ask an "
                                "administrator to publish", field=beyond[0], code="conversion_beyond_rights")
        elif not has_perm(actor, Perm.ACCESS_MANAGE):
            doc["x-access"] = _DEFAULT_ACCESS  # a designer's file grants nothing: access is decided in the matrix

        def _convert(form: Form, version: int) -> None:
            after = FormDef(doc)
            for name, rows in pending.items():
                for rid, old, _owner in rows:
                    _apply_conversion(actor, form, after, rid, name,
                                      convert(old, after.fields[name], (mapping or {}).get(name)), version)

        new_form = before_doc is None
        _form, version, _changed = publishing.publish(
            actor, doc, reason=note.strip()[:1000], keep_policy=not new_form,
            changes={"added": log["added"], "removed": log["removed"], "changed": log["changed"],
                     "form": log["form"], "converted": sorted(pending)},
            before_event=_convert, all_new=new_form and doc["x-access"] == _DEFAULT_ACCESS)
        Setting.delete().where(Setting.key.in_([DRAFT + form_key, REQUEST + form_key])).execute()
    versions.forget_forms()
    return version


def _apply_conversion(actor: Actor, form: Form, after: FormDef, record_id: int, name: str, new, version: int) -> None:
    rec = Record.get_by_id(record_id)
    data = unseal_data(after, rec.data)
    old = data.get(name)
    if new is None:
        data.pop(name, None)
    else:
        data[name] = new
    stored = seal_data(after, data)
    Record.update(data=stored, version=Record.version + 1, updated_at=utcnow(), updated_by=actor.user_id) \
        .where(Record.id == record_id).execute()
    search.index_record(after, record_id, stored)
    record_event(actor, "update", form_key=form.key, record_id=record_id,
                 diff=seal_diff(after, {name: [old, new]}),
                 reason=f"converted for form version {version}")


# --- files ---------------------------------------------------------------------------------------

def export(actor: Actor, form_key: str) -> dict:
    """The published definition with its access policy in force, as form_defs/ holds it."""
    require_designer(actor)
    form, doc = _published(form_key)
    if form is None or doc is None:
        raise NotFound(f"no published form {form_key!r}", code="unknown_form")
    doc.pop("$id", None)
    doc["x-form"].pop("version", None)
    with_policy = has_perm(actor, Perm.ACCESS_MANAGE)
    if not with_policy:  # who sees what is the access managers' to hand out
        doc["x-access"] = _DEFAULT_ACCESS
    with write_transaction():
        record_event(actor, "form_export", form_key=form_key,
                     diff={"version": [None, form.current_version], "with_policy": [None, with_policy]})
    return doc


def version_notes(form_key: str) -> dict[int, str]:
    """What each published version's designer said of it (the publish event's reason)."""
    out: dict[int, str] = {}
    query = (AuditEvent.select(AuditEvent.diff, AuditEvent.reason)
             .where(AuditEvent.action == "form_publish", AuditEvent.form_key == form_key))
    for event in query:
        try:
            version = json.loads(event.diff).get("version", [None, None])[1]
        except (ValueError, AttributeError, IndexError):
            continue
        if isinstance(version, int) and event.reason:
            out[version] = event.reason
    return out


def retired_keys(form_key: str) -> set[str]:
    """Keys of fields earlier versions had: a new field never takes one (old values would return)."""
    form = Form.get_or_none(Form.key == form_key)
    return set(versions.removed_fields(form)) if form is not None and form.current_version else set()


def import_file(actor: Actor, form_key: str, raw: bytes, rev: str | None = None) -> dict:
    """A definition file (as export writes it) becomes the form's draft, after its checks;
    `rev`: the draft the designer was looking at (a draft changed since is not overwritten)."""
    require_designer(actor)
    if len(raw) > MAX_IMPORT:
        raise Invalid("the file is larger than 1 MB", field="file", code="too_large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"not a JSON file: {exc}", field="file", code="invalid_json") from None
    if json_too_deep(text, MAX_DEPTH):
        raise Invalid(f"the file nests deeper than {MAX_DEPTH} levels", field="file", code="too_deep")
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except ValueError as exc:
        raise Invalid(f"not a JSON file: {str(exc)[:200]}", field="file", code="invalid_json") from None
    found = check_definition(doc)
    if found:
        raise Invalid(f"the file has {len(found)} problem(s)", field="file", code="invalid_definition",
                      details=[{**p.as_dict(), "field": field_of(p.pointer)} for p in found])
    if doc["x-form"]["key"] != form_key:
        raise Invalid(f"the file is the form {doc['x-form']['key']!r}, not {form_key!r}", field="file",
                      code="other_form")
    doc.pop("$id", None)
    doc["x-form"].pop("version", None)
    require_designer(actor)
    with write_transaction():
        try:
            value = draft(form_key, lock=True)
        except NotFound:
            value = {"base": 0}
        else:
            if rev is not None and rev != value["rev"]:
                raise Conflict("someone changed this draft since you opened it: reload and try again",
                               code="stale_draft")
        value["doc"] = doc
        stored = _store(actor, form_key, value)
        record_event(actor, "form_import", form_key=form_key, diff={"fields": [None, sorted(doc["properties"])]})
    return stored


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("a key appears twice in one object")
    return dict(pairs)
