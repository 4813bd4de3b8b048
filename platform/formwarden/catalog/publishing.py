"""Publishing form definitions: each new version with its audit event and its field indexes,
in one transaction. The definitions themselves are checked by `forms` (pure); this service
writes them.

The access policy is versioned apart from the definition (see `catalog.policies`). A new
form's `x-access` becomes policy version 1. A new version of an existing form keeps the policy
in force unless the definition's `x-access` differs from the previous version's (the file
states a new policy, which then becomes the next policy version); either way a field the new
version adds is hidden for every role that does not name it, and listed as undecided."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from formwarden.access.actor import Actor
from formwarden.audit import record_event
from formwarden.auth.roles import seed_builtin_roles
from formwarden.auth.users import ensure_role
from formwarden.catalog import policies
from formwarden.db import write_transaction
from formwarden.errors import Invalid
from formwarden.forms import versions
from formwarden.forms.definition import parse_definition
from formwarden.models import Form, FormVersion, Role, utcnow
from formwarden.records import search
from formwarden.records.indexes import ensure_field_indexes


def number_switches(before: dict, after: dict) -> list[str]:
    """Fields both versions have that become, or stop being, an auto-number. Refused: numbers
    typed while a field was text (or given before it became one) could repeat, and a number
    nobody may change could no longer be set right."""
    old, new = before.get("properties") or {}, after.get("properties") or {}
    return [n for n in new if n in old and isinstance(old[n], dict) and isinstance(new[n], dict)
            and ("x-autonumber" in old[n]) != ("x-autonumber" in new[n])]


def _refuse_number_switch(before: dict, after: dict) -> None:
    switched = number_switches(before, after)
    if switched:
        raise Invalid(f"{switched[0]}: a published field cannot become an auto-number or stop being one; add a new "
                      "field instead", field=switched[0], code="autonumber_switch",
                      details=[{"field": n, "code": "autonumber_switch", "pointer": f"/properties/{n}",
                                "message": "A published field cannot become an auto-number or stop being one."}
                               for n in switched])


def publish(actor: Actor, doc: dict, *, reason: str = "", changes: dict | None = None,
            before_event=None, all_new: bool = False, keep_policy: bool = False) -> tuple[Form, int, bool]:
    """Publish `doc` as the next version of its form unless identical to the current one.

    `changes` (the builder's changelog) goes into the publish event; `before_event(form, version)`
    runs inside the transaction first (the builder's conversions of stored values). `all_new`: a
    new form from the builder, whose every field waits for a decision in the matrix. `keep_policy`:
    the policy in force carries over whatever `doc` says (the builder never decides access).
    Returns (form, version, changed). Raises Invalid listing every problem.
    """
    formdef = versions.checked_definition(doc)
    text = versions.canonical(doc)
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
        if current is not None:
            _refuse_number_switch(json.loads(current.definition), doc)
        version = form.current_version + 1
        # Stored in the author's order (the checksum uses the sorted form): without a layout, the
        # fields appear, export and show in history in the order the definition lists them.
        stored = {k: v for k, v in doc.items() if k != "$id"}
        stored["x-form"] = {**doc["x-form"], "version": version}
        stored["$id"] = f"urn:formwarden:form:{formdef.key}:v{version}"
        FormVersion.create(
            form=form, version=version, checksum=checksum,
            definition=json.dumps(stored, ensure_ascii=False),
            published_by=actor.user_id,
        )
        previous = json.loads(current.definition) if current is not None else None
        form.current_version = version
        form.save()
        versions.forget_forms()
        ensure_field_indexes(form.id, formdef)
        if previous is not None and search.searched_fields(parse_definition(previous)) != search.searched_fields(formdef):
            search.rebuild([(form.id, formdef)])  # a field now searched, or no longer
        if before_event is not None:
            before_event(form, version)
        record_event(actor, "form_publish", form_key=formdef.key, reason=reason,
                     diff={"version": [version - 1 or None, version],
                           **{k: [None, v] for k, v in (changes or {}).items() if v}})
        _carry_policy(actor, form, previous, doc, version, all_new, keep_policy)
    return form, version, True


def _carry_policy(actor: Actor, form: Form, previous: dict | None, doc: dict, version: int,
                  all_new: bool = False, keep_policy: bool = False) -> None:
    """The policy after publishing `doc` as `version` (see the module's docstring)."""
    if previous is None or not form.policy_version:
        access, added = doc["x-access"], (list(doc["properties"]) if all_new else [])
    else:
        stated = doc["x-access"] != previous["x-access"] and not keep_policy
        access = doc["x-access"] if stated else policies.current_access(form)
        added = [name for name in doc["properties"] if name not in previous["properties"]]
    access = {role: {**block, "fields": {n: lvl for n, lvl in block["fields"].items()
                                          if n == "*" or n in doc["properties"]}}
              for role, block in access.items()}  # a field the version removes leaves the policy with it
    access, undecided = policies.hide_new_fields(access, added)
    _arrive_retired(actor, access)
    try:
        policies.write_version(actor, form, access, reason=f"form version {version} published",
                               undecided_fields=undecided)
    except Invalid as exc:
        raise Invalid(f"version {version} would leave the access policy with problems: {exc.message}",
                      code="invalid_definition", details=exc.details) from None


def _arrive_retired(actor: Actor, access: dict) -> None:
    """A definition may name roles this installation does not have: they are created retired, so
    their column grants nothing until an administrator reinstates the role (whoever later made a
    role of that name would otherwise inherit the column's rights)."""
    for name in access:
        if not Role.select().where(Role.name == name).exists():
            ensure_role(name)
            Role.update(retired_at=utcnow()).where(Role.name == name).execute()
            record_event(actor, "role_create", diff={"role": [None, name], "retired": [None, True]},
                         reason="named by a published form definition")


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
            versions.checked_definition(doc)
        except Invalid as exc:
            problems.extend({"file": f.name, **d} for d in exc.details)
            continue
        docs.append(doc)
    if problems:
        raise Invalid(f"{len(problems)} problem(s) in form definitions", code="invalid_definition", details=problems)
    out = []
    with write_transaction():
        seed_builtin_roles()  # the roles the bundled definitions name, before anything names them
        for doc in docs:
            form, version, changed = publish(actor, doc)
            out.append((form.key, version, changed))
    return out
