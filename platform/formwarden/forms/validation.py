"""Server-side validation of submissions: the form's JSON Schema plus its x-rules.

The same code serves full saves and the per-field HTMX check, so the browser never holds
a second rule engine.
"""
from __future__ import annotations

import math
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from formwarden.errors import Invalid, Unavailable
from formwarden.forms.definition import FormDef
from formwarden.forms.messages import render
from formwarden.forms.registry import field_types
from formwarden.forms.rules import describe, filled, matches, when_fields


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    params: dict

    def as_dict(self, translate=lambda s: s) -> dict:
        """With `params`, so a page can render the message again in its reader's language."""
        ft = field_types.get(self.params.get("format")) if self.code == "format" else None
        message = (ft.invalid_message("en") if ft else None) or render(self.code, self.params, translate)
        out: dict = {"field": self.field, "code": self.code, "message": message}
        if self.params:
            out["params"] = self.params
        return out


_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


_is_filled = filled
_matches = matches


def visible_fields(formdef: FormDef, data: dict) -> set[str]:
    """Fields shown for this data: a field named in any rule's `show` appears only while one matches."""
    gated = {f for rule in formdef.rules for f in rule.get("show", [])}
    shown = {f for rule in formdef.rules if _matches(rule["when"], data) for f in rule.get("show", [])}
    return {f for f in formdef.fields if f not in gated or f in shown}


def hidden_by_rules(formdef: FormDef, sent: dict, shown: set[str], stored: dict,
                    readable: AbstractSet[str] | None = None) -> list[FieldError]:
    """A value sent for a field the rules hide (and not what is stored already) would not be kept:
    it is a problem naming the field and, when the caller may read every field it reads, the rule;
    never a quiet drop behind a success."""
    out = []
    for name, value in sent.items():
        if name in formdef.fields and name not in shown and filled(value) and value != stored.get(name):
            rules = [r["when"] for r in formdef.rules if name in r.get("show", [])]
            nameable = readable is None or all(set(when_fields(w)) <= readable for w in rules)
            out.append(FieldError(name, "hidden_by_rule", {"rule": " or ".join(map(describe, rules))} if nameable else {}))
    return out


def retired_values(formdef: FormDef, sent: dict, stored: dict) -> list[FieldError]:
    """A retired option (x-retired) stays where a record kept it, but nobody chooses it anew."""
    out = []
    for name, value in sent.items():
        fd = formdef.fields.get(name)
        if fd is None or not fd.retired:
            continue
        before = stored.get(name)
        chosen = value if isinstance(value, list) else [value]
        kept = before if isinstance(before, list) else [before]
        if any(_hashable_in(v, fd.retired) and not _hashable_in(v, kept) for v in chosen):
            out.append(FieldError(name, "retired_option", {}))
    return out


def _hashable_in(value, values) -> bool:
    return any(value == v and type(value) is type(v) for v in values)


def required_fields(formdef: FormDef, data: dict, writable=None) -> set[str]:
    """Fields that must be filled. A rule's requirement binds only a user who may write the
    field (`writable`; None = everyone), so no one is asked for what they cannot give."""
    base = {f.name for f in formdef.fields.values() if f.required}
    extra = {f for rule in formdef.rules if _matches(rule["when"], data) for f in rule.get("require", [])}
    if writable is not None:
        extra &= set(writable)
    return base | (extra & visible_fields(formdef, data))


def waiting_fields(formdef: FormDef, data: dict, visible) -> list[str]:
    """Fields the form requires of this record (the schema or a rule, read on `data`: the viewer's
    own view) that are still empty: a writer who may not fill one saves without it, and the record
    waits for someone who may. Only fields in `visible` are named."""
    wanted = required_fields(formdef, data)
    return [n for n in formdef.layout_order if n in wanted and n in visible and not _is_filled(data.get(n))]


def writers_of(formdef: FormDef, name: str) -> list[str]:
    """The roles whose grant in the policy in force may write `name` (create or update)."""
    out = []
    for role, block in formdef.access.items():
        level = block["fields"].get(name, block["fields"].get("*", "hidden"))
        if level == "write" and {"create", "update"} & set(block["actions"]):
            out.append(role)
    return sorted(out)


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


def refuse_nul(data: dict) -> None:
    """A NUL anywhere is refused before the data reaches a query (PostgreSQL cannot take it)."""
    bad = [name for name, value in data.items() if _has_nul(name) or _has_nul(value)]
    if bad:
        field = bad[0].replace("\x00", "")
        raise Invalid("a NUL character is not allowed", field=field, code="validation_failed",
                      details=[FieldError(n.replace("\x00", ""), "invalid_character", {}).as_dict() for n in bad])


def validate(formdef: FormDef, data: dict, writable=None, rule_data: dict | None = None) -> list[FieldError]:
    """All problems with `data` as a complete record, at most one per field, in form order."""
    errors: dict[str, FieldError] = {
        name: FieldError(name, "invalid_character", {}) for name, value in data.items() if _has_nul(value)}
    for name, value in data.items():
        if isinstance(value, float) and not math.isfinite(value):
            errors.setdefault(name, FieldError(name, "type", {"expected": "number"}))
    for err in formdef.validator.iter_errors(data):
        for fe in _convert(formdef, err, data):
            errors.setdefault(fe.field, fe)
    for name in required_fields(formdef, data if rule_data is None else rule_data, writable):
        if not _is_filled(data.get(name)):
            errors.setdefault(name, FieldError(name, "required", {}))
    order = {name: i for i, name in enumerate(formdef.layout_order)}
    return sorted(errors.values(), key=lambda e: order.get(e.field, len(order)))


def _convert(formdef: FormDef, err, data: dict) -> list[FieldError]:
    path = list(err.absolute_path)
    if err.validator == "required":
        instance = err.instance if isinstance(err.instance, dict) else {}
        return [FieldError(n, "required", {}) for n in err.validator_value if n not in instance]
    if err.validator == "additionalProperties":
        extra = [k for k in (err.instance or {}) if k not in formdef.fields]
        return [FieldError(k, "unknown_field", {}) for k in extra]
    if err.validator == "type" and not path:
        return [FieldError("", "type", {"expected": "object"})]
    name = str(path[0]) if path else ""
    params = {"limit": err.validator_value, "format": err.validator_value, "expected": err.validator_value}
    code = err.validator if err.validator in _KNOWN else "invalid"
    return [FieldError(name, code, params)]


_KNOWN = {
    "type", "format", "pattern", "minLength", "maxLength", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "enum", "const",
    "maxItems", "minItems", "uniqueItems",
}


def require_field_types(formdef: FormDef) -> None:
    """Fail closed: a form whose field type is not registered (its plugin failed to load) takes
    no writes, since its values could not be checked."""
    for name, fd in formdef.fields.items():
        fmt = fd.format or (fd.schema.get("items") or {}).get("format")
        if fmt and field_types.get(fmt) is None:
            raise Unavailable(f"the field type {fmt!r} of {name!r} is not available (its plugin did not load);"
                              f" changes to {formdef.key} records are refused until it is", field=name,
                              code="field_type_unavailable")


def check(formdef: FormDef, data: dict, *, writable=None, visible=None, rule_data: dict | None = None,
          extra: tuple[FieldError, ...] | list[FieldError] = ()) -> None:
    """Raises Invalid whose details list {field, code, message} for each problem.

    With `visible`, problems in fields the caller cannot see are left out: an answer never
    names such a field nor tells whether it is filled (the caller could not change it anyway;
    only `writable` fields, a subset of the visible ones, can be written). `rule_data`: the
    values the rules are evaluated on (the caller's view of the record: a rule must not tell
    anyone about a field they cannot read). `extra`: problems of what was sent (a value for a
    field the rules hide, a retired option), reported with the rest (one for a field the rules
    hide only when no field its rules read has a problem)."""
    require_field_types(formdef)
    errors = validate(formdef, data, writable, rule_data)
    if visible is not None:
        errors = [e for e in errors if not e.field or e.field in visible]
    wrong = {e.field for e in errors}
    for problem in extra:
        reads = {f for r in formdef.rules if problem.field in r.get("show", []) for f in when_fields(r["when"])}
        if not reads & wrong:
            errors.append(problem)
    if errors:
        order = {name: i for i, name in enumerate(formdef.layout_order)}
        errors.sort(key=lambda e: order.get(e.field, len(order)))
        first = errors[0]
        rule = f" (shown only when {first.params['rule']})" if first.params.get("rule") else ""
        raise Invalid(
            f"{first.field!r} is hidden by the form's rules for this record{rule}; a value sent for it would not "
            "be kept" if first.code == "hidden_by_rule" and len(errors) == 1 else f"{len(errors)} field(s) need attention",
            field=first.field,
            code="validation_failed",
            details=[e.as_dict() for e in errors],
        )


def normalise_values(formdef: FormDef, data: dict) -> dict:
    """Text values of typed fields as their type stores them ('+86 138 1234 5678' → '13812345678',
    '¥1,234.5' → 123450 cents). A value its type cannot read is left for validation to refuse."""
    out = dict(data)
    for name, value in data.items():
        fd = formdef.fields.get(name)
        ft = fd.field_type if fd is not None else None
        if ft is None or ft.normalise is None:
            continue
        try:
            if isinstance(value, str):
                out[name] = ft.normalise(value) if value.strip() else None
            elif isinstance(value, list):
                out[name] = [ft.normalise(v) if isinstance(v, str) else v for v in value]
        except Exception:  # ValueError, or a plugin's normaliser that breaks: the check says why
            continue
    return out


def warnings(formdef: FormDef, data: dict, names) -> dict[str, dict]:
    """Warnings (per locale) for valid but unusual values among `names` (a type's `warn`)."""
    out = {}
    for name in names:
        fd = formdef.fields.get(name)
        ft = fd.field_type if fd is not None else None
        if ft is not None and ft.warn is not None and data.get(name) not in (None, ""):
            try:
                w = ft.warn(data[name])
            except Exception:
                w = None
            if w:
                out[name] = w
    return out


def coerce_form_input(formdef: FormDef, form, names) -> tuple[dict, list[FieldError]]:
    """Turn HTML form input (a MultiDict) into typed values for `names`.

    An empty input means "no value" and is returned as None so the caller can drop it.
    """
    out: dict = {}
    errors: list[FieldError] = []
    for name in names:
        fd = formdef.fields.get(name)
        if fd is None:
            continue
        if fd.type == "array":
            values = [v.strip() for v in form.getlist(name) if v.strip()]
            if fd.widget == "tags" and len(values) == 1 and "," in values[0]:
                values = [v.strip() for v in values[0].replace("，", ",").split(",") if v.strip()]
            out[name] = values
            continue
        raw = (form.get(name) or "").strip()
        if raw == "":
            out[name] = None
            continue
        ft = fd.field_type
        if ft is not None and ft.normalise is not None:
            try:
                out[name] = ft.normalise(raw)
            except Exception:
                errors.append(FieldError(name, "format", {"format": ft.name}))
            continue
        try:
            if fd.type == "integer":
                if not _INTEGER.fullmatch(raw):
                    raise ValueError(raw)  # int() also reads "1_000" and other scripts' digits
                out[name] = int(raw)
            elif fd.type == "number":
                plain = raw.replace(",", "")
                if not _NUMBER.fullmatch(plain):
                    raise ValueError(raw)  # float() also reads "NaN", "inf", "1_0" and full-width digits
                num = float(plain)
                if not math.isfinite(num):
                    raise ValueError(raw)
                out[name] = int(num) if num.is_integer() and "." not in raw else num
            elif fd.type == "boolean":
                out[name] = raw.lower() in ("1", "true", "on", "yes")
            else:
                out[name] = raw
        except ValueError:
            errors.append(FieldError(name, "type", {"expected": fd.type}))
    return out, errors
