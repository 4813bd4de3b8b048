"""Checks of a definition's access blocks, run when a form is published and when its policy is
saved: `access_problems` block (a role left unable to save: the schema requiring a field the
role cannot create with); `access_warnings` are shown before saving (exposure: restricted values
a role may export, fields a role may write but never see again, a rule requiring a field of a
role that cannot write it: such records save and wait for someone who may fill the field)."""
from __future__ import annotations

from formwarden.forms.definition import FormDef, Problem
from formwarden.forms.rules import when_fields

WRITE_ACTIONS = {"create", "update"}


def _level(block: dict, name: str) -> str:
    return block["fields"].get(name, block["fields"].get("*", "hidden"))


def access_problems(formdef: FormDef) -> list[Problem]:
    """Every role × rule (and role × required field) combination that would leave a user of the
    role unable to save, each with the JSON pointer of the role's field level and the reason."""
    problems = []
    for role, block in formdef.access.items():
        actions = set(block["actions"])
        if not actions & WRITE_ACTIONS:
            continue
        if "create" in actions:
            for name, fd in formdef.fields.items():
                if fd.required and _level(block, name) != "write":
                    problems.append(Problem(
                        f"/x-access/{role}/fields/{name}",
                        f"role {role!r} may create records but cannot write the required field {name!r}",
                        "required_not_writable", (("role", role), ("field", name))))
    return problems


def access_warnings(formdef: FormDef) -> list[Problem]:
    """Combinations that are allowed but worth a second look before saving."""
    out = []
    for role, block in formdef.access.items():
        actions = set(block["actions"])
        for name, fd in formdef.fields.items():
            level = _level(block, name)
            pointer = f"/x-access/{role}/fields/{name}"
            if fd.sensitivity == "restricted" and level in ("read", "write") and {"read", "export"} <= actions:
                out.append(Problem(pointer, f"role {role!r} may read the restricted field {name!r} and export records",
                                   "restricted_export", (("role", role), ("field", name))))
            if level == "write" and actions & WRITE_ACTIONS and "read" not in actions:
                out.append(Problem(pointer, f"role {role!r} may write {name!r} but cannot read records afterwards",
                                   "write_without_read", (("role", role), ("field", name))))
        for r, rule in enumerate(formdef.rules):
            triggers = [t for t in when_fields(rule["when"]) if _level(block, t) == "write"]
            if triggers and actions & WRITE_ACTIONS:
                for name in rule.get("require", []):
                    if _level(block, name) != "write":
                        out.append(Problem(
                            f"/x-access/{role}/fields/{name}",
                            f"role {role!r} may set {triggers[0]!r} so that rule /x-rules/{r} requires {name!r}, which"
                            " the role cannot write: its records save without it and wait for someone who may",
                            "rule_not_writable", (("role", role), ("field", name), ("trigger", triggers[0]))))
        for rule in formdef.rules:
            unseen = [t for t in when_fields(rule["when"]) if _level(block, t) in ("hidden", "masked")]
            for name in rule.get("show", []):
                if unseen and _level(block, name) == "write":
                    out.append(Problem(f"/x-access/{role}/fields/{unseen[0]}",
                                       f"role {role!r} may write {name!r}, but the rule that shows it reads {unseen[0]!r},"
                                       " which the role cannot see: for them the field stays hidden",
                                       "rule_trigger_hidden", (("role", role), ("field", name), ("trigger", unseen[0]))))
        shown = any(_level(block, n) != "hidden" for n in formdef.fields)
        if shown and "read" not in actions and not actions & WRITE_ACTIONS:
            out.append(Problem(f"/x-access/{role}/actions", f"role {role!r} is given fields but may not view records",
                               "fields_without_view", (("role", role),)))
        if "read" in actions and block["scope"] == "own" and "create" not in actions:
            out.append(Problem(f"/x-access/{role}/scope", f"role {role!r} sees only records it owns but may not"
                               " create any: it sees only records handed to it", "own_without_create",
                               (("role", role),)))
    return out
