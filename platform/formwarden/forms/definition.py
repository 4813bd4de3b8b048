"""Form definitions: check a JSON Schema 2020-12 document with Formwarden's extensions and
wrap it in a read-only FormDef that the rest of the engine uses.

`check_definition` lists every problem as (JSON pointer, reason); nothing is loaded unless
the list is empty.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from formwarden.errors import Invalid
from formwarden.forms.patterns import (
    MAX_DEPTH,
    pattern_problem,
    ref_problem,
    safe_validator,
    schema_patterns,
    subschemas,
)
from formwarden.forms.registry import field_types
from formwarden.forms.rules import conditions, when_fields

LOCALES = ("zh-CN", "en")
LEVELS = ("hidden", "masked", "read", "write")
ACTIONS = ("create", "read", "update", "delete", "export")
WIDGETS_BY_TYPE = {"number": "number", "integer": "number", "boolean": "select"}


def _metaschema() -> dict:
    return json.loads(resources.files("formwarden.forms").joinpath("metaschema.json").read_text("utf-8"))


_META_VALIDATOR = Draft202012Validator(_metaschema())


@dataclass(frozen=True)
class Problem:
    pointer: str
    reason: str
    code: str = ""  # for a message in the reader's language (see the console's access checks)
    params: tuple = ()  # (name, value) pairs for that message

    def as_dict(self) -> dict:
        return {"pointer": self.pointer, "reason": self.reason}


def _pointer(path) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path) if path else ""


def check_definition(doc: object) -> list[Problem]:
    """Every problem with a definition, as JSON pointer + reason; empty when it is sound."""
    if not isinstance(doc, dict):
        return [Problem("", "a form definition must be a JSON object")]
    problems = [Problem(_pointer(e.absolute_path), e.message) for e in _META_VALIDATOR.iter_errors(doc)]
    unsafe = _unsafe_parts(doc)
    if not unsafe:  # Python would compile the refused patterns here
        try:
            Draft202012Validator.check_schema(doc)
        except SchemaError as exc:
            problems.append(Problem(_pointer(exc.absolute_path), f"not a valid JSON Schema: {exc.message}"))
    problems += unsafe
    if problems:
        return _dedupe(problems)
    props = doc["properties"]
    names = set(props)
    for i, name in enumerate(doc.get("required", [])):
        if name not in names:
            problems.append(Problem(f"/required/{i}", f"names unknown field {name!r}"))
    for name, spec in props.items():
        base = f"/properties/{name}"
        fmt = spec.get("format") or (spec.get("items") or {}).get("format")
        if fmt and field_types.get(fmt) is None:
            problems.append(Problem(f"{base}/format", f"unknown field type {fmt!r} (known: {', '.join(field_types.names())})"))
        if "x-ref" in spec and spec.get("type") != "integer":
            problems.append(Problem(f"{base}/x-ref", "a reference to another form's record must be an integer field"))
        labels = spec.get("x-enum-labels")
        if labels is not None:
            options = spec.get("enum") or (spec.get("items") or {}).get("enum")
            if options is None:
                problems.append(Problem(f"{base}/x-enum-labels", "labels given for a field without enum"))
            else:
                for loc in LOCALES:
                    if len(labels[loc]) != len(options):
                        problems.append(Problem(f"{base}/x-enum-labels/{loc}", f"has {len(labels[loc])} labels for {len(options)} options"))
    form = doc["x-form"]
    for key in ("owner_field", "title_field", "followup_field"):
        if key in form and form[key] not in names:
            problems.append(Problem(f"/x-form/{key}", f"names unknown field {form[key]!r}"))
    followup = form.get("followup_field")
    if followup in names and doc["properties"][followup].get("format") != "date":
        problems.append(Problem("/x-form/followup_field", "the follow-up field must be a date field"))
    for i, name in enumerate(form.get("list_fields", [])):
        if name not in names:
            problems.append(Problem(f"/x-form/list_fields/{i}", f"names unknown field {name!r}"))
    placed: dict[str, str] = {}
    for s, section in enumerate(doc.get("x-layout", {}).get("sections", [])):
        for f, name in enumerate(section["fields"]):
            ptr = f"/x-layout/sections/{s}/fields/{f}"
            if name not in names:
                problems.append(Problem(ptr, f"names unknown field {name!r}"))
            elif name in placed:
                problems.append(Problem(ptr, f"field {name!r} is already placed at {placed[name]}"))
            else:
                placed[name] = ptr
    for r, rule in enumerate(doc.get("x-rules", [])):
        when = rule["when"]
        for c, cond in enumerate(conditions(when)):
            ptr = f"/x-rules/{r}/when" + (f"/{'all' if 'all' in when else 'any'}/{c}" if cond is not when else "")
            if cond["field"] not in names:
                problems.append(Problem(f"{ptr}/field", f"names unknown field {cond['field']!r}"))
            elif any(op in cond for op in ("gt", "gte", "lt", "lte")) and \
                    doc["properties"][cond["field"]].get("type") not in ("integer", "number", "string"):
                problems.append(Problem(ptr, "greater / less than compares numbers or dates only"))
        for key in ("show", "require"):
            for i, name in enumerate(rule.get(key, [])):
                if name not in names:
                    problems.append(Problem(f"/x-rules/{r}/{key}/{i}", f"names unknown field {name!r}"))
    for role, block in doc["x-access"].items():
        for name in block["fields"]:
            if name != "*" and name not in names:
                problems.append(Problem(f"/x-access/{role}/fields/{name}", f"names unknown field {name!r}"))
    return problems


def _unsafe_parts(doc: dict) -> list[Problem]:
    """Patterns that RE2 cannot run or that nest repetition, references that point outside the
    definition, and anything else that would let validation hang or reach out."""
    problems = []
    pattern_keyed = False
    for path, sub in subschemas(doc):
        if len(path) > MAX_DEPTH * 2:  # each level is a keyword and a name or index
            problems.append(Problem(_pointer(path), f"schema objects are nested more than {MAX_DEPTH} deep"))
            break
        for key in ("$ref", "$dynamicRef"):
            if key in sub and (reason := ref_problem(sub[key])):
                problems.append(Problem(_pointer((*path, key)), reason))
        if path and "$schema" in sub:
            problems.append(Problem(_pointer((*path, "$schema")), "only the definition itself names its $schema"))
        pattern_keyed = pattern_keyed or "patternProperties" in sub
    for path, pattern in schema_patterns(doc):
        if reason := pattern_problem(pattern):
            problems.append(Problem(_pointer(path), reason))
    if pattern_keyed:
        for path, sub in subschemas(doc):
            if "unevaluatedProperties" in sub:
                problems.append(Problem(_pointer((*path, "unevaluatedProperties")),
                                        "unevaluatedProperties cannot be combined with patternProperties"))
    return problems


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if (p.pointer, p.reason) not in seen:
            seen.add((p.pointer, p.reason))
            out.append(p)
    return out


def parse_definition(doc: object) -> FormDef:
    """Check and wrap a definition; raises Invalid listing every problem."""
    problems = check_definition(doc)
    if problems:
        raise Invalid(
            f"form definition has {len(problems)} problem(s)",
            code="invalid_definition",
            details=[p.as_dict() for p in problems],
        )
    return FormDef(doc)  # type: ignore[arg-type]


@dataclass(frozen=True)
class FieldDef:
    name: str
    schema: dict
    required: bool

    def label(self, locale: str) -> str:
        return self.schema["x-label"].get(locale) or self.schema["x-label"]["en"]

    def help(self, locale: str) -> str:
        return (self.schema.get("x-help") or {}).get(locale, "")

    @property
    def type(self) -> str:
        return self.schema.get("type", "string")

    @property
    def format(self) -> str | None:
        return self.schema.get("format")

    @property
    def options(self) -> list | None:
        if "enum" in self.schema:
            return list(self.schema["enum"])
        items = self.schema.get("items") or {}
        return list(items["enum"]) if "enum" in items else None

    @property
    def retired(self) -> list:
        """Options a publish retired while records kept them ("keep the old value"): valid where
        stored, never offered or accepted anew, shown by their labels."""
        offered = self.options or []
        return [r["value"] for r in self.schema.get("x-retired") or [] if r["value"] not in offered]

    def option_labels(self, locale: str) -> list[tuple[object, str]]:
        opts = self.options or []
        labels = (self.schema.get("x-enum-labels") or {}).get(locale) or [str(o) for o in opts]
        return list(zip(opts, labels))

    def option_label(self, value, locale: str) -> str:
        for opt, label in self.option_labels(locale):
            if opt == value:
                return label
        for opt, label in (self.schema.get("x-retired-labels") or {}).get(locale, []):  # an option since retired
            if opt == value:
                return label
        for retired in self.schema.get("x-retired") or []:
            if retired["value"] == value:
                return retired["label"].get(locale) or retired["label"].get("en") or str(value)
        return "" if value is None else str(value)

    @property
    def field_type(self):
        """The registered type named by `format` (a plugin's), if any."""
        return field_types.get(self.format or (self.schema.get("items") or {}).get("format"))

    @property
    def assigned(self) -> bool:
        """Whether the system assigns the value (an auto-number): nobody types or changes it."""
        return "x-autonumber" in self.schema

    @property
    def widget(self) -> str:
        if "x-widget" in self.schema:
            return self.schema["x-widget"]
        if self.ref:
            return "ref"
        ft = field_types.get(self.format) if self.format else None
        if ft:
            return ft.widget
        if self.type == "array":
            return "multiselect" if self.options else "tags"
        if self.options:
            return "select"
        if self.type == "string" and self.schema.get("maxLength", 0) > 200:
            return "textarea"
        return WIDGETS_BY_TYPE.get(self.type, "text")

    @property
    def mask(self) -> str:
        if "x-mask" in self.schema:
            return self.schema["x-mask"]
        ft = field_types.get(self.format) if self.format else None
        return (ft.mask if ft and ft.mask else "all")

    @property
    def sensitivity(self) -> str:
        return self.schema.get("x-sensitivity", "internal")

    @property
    def indexed(self) -> bool:
        return bool(self.schema.get("x-index"))

    @property
    def reason_required(self) -> bool:
        """Changing this field needs a reason (`x-reason-required`), asked inline and required by the API."""
        return bool(self.schema.get("x-reason-required"))

    @property
    def removed_in(self) -> int | None:
        """The form version that removed this field (history and older records show it read-only)."""
        return self.schema.get("x-removed-in")

    @property
    def ref(self) -> str | None:
        """The form whose record id this field holds (`x-ref`), if any."""
        return self.schema.get("x-ref")

    @property
    def ref_display(self) -> str | None:
        """The field of the linked form that names a linked record (`x-ref-display`); None: its
        title field."""
        return self.schema.get("x-ref-display")


@dataclass(frozen=True)
class Section:
    key: str
    title: dict
    fields: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class FormDef:
    """A checked definition. Construct through parse_definition()."""

    doc: dict = field(repr=False)

    @property
    def key(self) -> str:
        return self.doc["x-form"]["key"]

    def title(self, locale: str) -> str:
        return self.doc["x-form"]["title"].get(locale) or self.doc["x-form"]["title"]["en"]

    @cached_property
    def fields(self) -> dict[str, FieldDef]:
        required = set(self.doc.get("required", []))
        return {n: FieldDef(n, s, n in required) for n, s in self.doc["properties"].items()}

    @cached_property
    def restricted_fields(self) -> frozenset[str]:
        """Fields sealed at rest (`x-sensitivity: restricted`)."""
        return frozenset(n for n, f in self.fields.items() if f.sensitivity == "restricted")

    @property
    def owner_field(self) -> str | None:
        return self.doc["x-form"].get("owner_field")

    @property
    def title_field(self) -> str:
        return self.doc["x-form"].get("title_field") or next(iter(self.fields))

    @property
    def followup_field(self) -> str | None:
        """A date field whose date, once reached, means "follow up now" (home page, `x-form.followup_field`)."""
        return self.doc["x-form"].get("followup_field")

    @property
    def order(self) -> int:
        """Where the form sits among the forms (home page, switcher): `x-form.order`, then by key."""
        return int(self.doc["x-form"].get("order", 1000))

    @property
    def list_fields(self) -> list[str]:
        return list(self.doc["x-form"].get("list_fields") or list(self.fields)[:5])

    @cached_property
    def sections(self) -> tuple[Section, ...]:
        layout = self.doc.get("x-layout")
        if not layout:
            return (Section("main", self.doc["x-form"]["title"], tuple(self.fields)),)
        out = [Section(s["key"], s["title"], tuple(s["fields"])) for s in layout["sections"]]
        placed = {f for s in out for f in s.fields}
        rest = tuple(f for f in self.fields if f not in placed)
        if rest:
            out.append(Section("other", {"zh-CN": "其他", "en": "Other"}, rest))
        return tuple(out)

    @cached_property
    def layout_order(self) -> tuple[str, ...]:
        """Every field in the order a person sees them: section by section, then the fields no
        section places in the order the definition lists them."""
        return tuple(f for s in self.sections for f in s.fields if f in self.fields)

    @property
    def rules(self) -> list[dict]:
        return self.doc.get("x-rules", [])

    @cached_property
    def rule_triggers(self) -> frozenset[str]:
        """Fields whose value a rule reads (a change to one re-renders the fields rules govern)."""
        return frozenset(f for rule in self.rules for f in when_fields(rule["when"]))

    def ruled_by(self, trigger: str) -> set[str]:
        """Fields some rule triggered by `trigger` shows or requires."""
        return {f for rule in self.rules if trigger in when_fields(rule["when"])
                for f in rule.get("show", []) + rule.get("require", [])}

    @property
    def access(self) -> dict:
        return self.doc["x-access"]

    @property
    def roles(self) -> list[str]:
        return list(self.doc["x-access"])

    @cached_property
    def validator(self) -> Draft202012Validator:
        """Patterns run on RE2 and `$ref` never fetches anything (see forms/patterns.py)."""
        return safe_validator(_with_retired(self.doc), format_checker=field_types.format_checker())


def _with_retired(doc: dict) -> dict:
    """The schema that validates stored records: each field's retired options (x-retired) count
    as valid values, so records that keep one stay valid; the service refuses them as new input."""
    if not any(isinstance(p, dict) and p.get("x-retired") for p in (doc.get("properties") or {}).values()):
        return doc
    out = {**doc, "properties": dict(doc["properties"])}
    for name, prop in doc["properties"].items():
        kept = [r["value"] for r in prop.get("x-retired") or []] if isinstance(prop, dict) else []
        if not kept:
            continue
        prop = dict(prop)
        if "enum" in prop:
            prop["enum"] = list(prop["enum"]) + [v for v in kept if v not in prop["enum"]]
        elif isinstance(prop.get("items"), dict) and "enum" in prop["items"]:
            prop["items"] = {**prop["items"], "enum": list(prop["items"]["enum"]) + [v for v in kept
                                                                                    if v not in prop["items"]["enum"]]}
        out["properties"][name] = prop
    return out
