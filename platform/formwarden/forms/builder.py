"""The form builder's edits to a definition draft, as pure functions on the document.

A business manager never writes JSON: each edit here takes what the builder's controls send
(labels, a kind of field, limits, options, rules) and returns the changed document. Keys are
made for the designer (from the English name when one is given, else from the Chinese name's
pinyin); they follow the name and may be edited until a version holding them is published, then
never change (renaming a label touches no stored data). Problems are raised as Invalid naming the
control.
"""
from __future__ import annotations

import copy
import math
import re
import unicodedata

from pypinyin import lazy_pinyin

from formwarden.errors import Invalid
from formwarden.forms.messages import N_
from formwarden.forms.patterns import pattern_problem
from formwarden.forms.registry import field_types
from formwarden.forms.rules import OPERATORS, conditions

SCHEMA = "https://json-schema.org/draft/2020-12/schema"
KEY = re.compile(r"[a-z][a-z0-9_]{0,47}")
MAX_FIELDS = 200
MAX_PATTERN = 200
MAX_OPTIONS = 200

# The kinds of field the builder offers, beside the registered field types (plugins).
BASIC_KINDS: dict[str, dict] = {
    "text": {"type": "string", "maxLength": 200},
    "textarea": {"type": "string", "maxLength": 2000, "x-widget": "textarea"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "money": {"type": "number", "minimum": 0, "x-widget": "money", "x-unit": "CNY"},
    "date": {"type": "string", "format": "date"},
    "select": {"type": "string", "enum": []},
    "multiselect": {"type": "array", "items": {"type": "string", "enum": []}, "uniqueItems": True},
    "tags": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 20}, "maxItems": 20,
             "uniqueItems": True, "x-widget": "tags"},
    "yesno": {"type": "boolean"},
    "member": {"type": "string", "x-widget": "member"},
    "reference": {"type": "integer", "x-ref": ""},
    "autonumber": {"type": "string", "x-widget": "autonumber", "x-autonumber": {"prefix": "", "date": "YYYYMMDD", "digits": 4}},
}
_TYPE_KEYS = ("type", "format", "enum", "items", "x-widget", "x-ref", "x-unit", "x-enum-labels", "uniqueItems",
              "maxItems", "minItems", "x-autonumber")
AUTONUMBER_DATES = ("", "YYYYMMDD", "YYMMDD", "YYYYMM")


def _bad(field: str, template: str, code: str = "invalid", **params) -> Invalid:
    """A problem with one control. `template` is an English message with %(name)s parameters
    (marked for translation: the builder's page shows it in the designer's language)."""
    message = template % params if params else template
    return Invalid(message, field=field, code=code,
                   details=[{"field": field, "code": code, "message": message, "template": template, "params": params}])


def new_form(key: str, title_zh: str, title_en: str = "") -> dict:
    """A new, empty form. The key is made from the title when none is given; the English title
    is optional (the Chinese one stands in)."""
    title_zh, title_en = (title_zh or "").strip(), (title_en or "").strip()
    if not title_zh and not title_en:
        raise _bad("title_zh", N_("a name is required"), "required")
    title_zh, title_en = title_zh or title_en, title_en or title_zh
    key = (key or "").strip() or key_for(title_zh, title_en, fallback="form")
    if not KEY.fullmatch(key):
        raise _bad("key", N_("a form key: lower-case letters, digits and _ (starting with a letter), up to 48"))
    return {
        "$schema": SCHEMA, "type": "object", "additionalProperties": False, "required": [],
        "x-form": {"key": key, "title": {"zh-CN": title_zh[:100], "en": title_en[:100]}},
        "properties": {},
        "x-layout": {"sections": []},
        "x-rules": [],
        "x-access": {"admin": {"scope": "all", "actions": ["read"], "fields": {}}},
    }


def _names(zh: str, en: str, field: str, limit: int = 100) -> dict:
    """{"zh-CN": …, "en": …} from what the designer typed: one name is enough (it stands in for
    the other language)."""
    zh, en = (zh or "").strip(), (en or "").strip()
    if not zh and not en:
        raise _bad(field, N_("a name is required"), "required")
    return {"zh-CN": (zh or en)[:limit], "en": (en or zh)[:limit]}


def kinds() -> list[str]:
    """What the builder offers for a new field: the basic kinds, then the registered types (the
    `cny` type, exact to the fen, replaces the basic number-shown-as-money when it is there)."""
    basic = [k for k in BASIC_KINDS if not (k == "money" and field_types.get("cny"))]
    return basic + [ft.name for ft in field_types.all() if ft.name != "date"]


def kind_of(spec: dict) -> str:
    """The builder kind a field's schema is (the reverse of `schema_for_kind`)."""
    fmt = spec.get("format") or (spec.get("items") or {}).get("format")
    if fmt and fmt != "date":
        return fmt
    if "x-ref" in spec:
        return "reference"
    widget = spec.get("x-widget")
    t = spec.get("type", "string")
    if t == "array":
        return "multiselect" if "enum" in (spec.get("items") or {}) else "tags"
    if "enum" in spec:
        return "select"
    if fmt == "date":
        return "date"
    if widget in ("textarea", "money", "member", "autonumber"):
        return widget
    return {"integer": "integer", "number": "number", "boolean": "yesno"}.get(t, "text")


def schema_for_kind(kind: str) -> dict:
    if kind in BASIC_KINDS:
        return copy.deepcopy(BASIC_KINDS[kind])
    ft = field_types.get(kind)
    if ft is None:
        raise _bad("kind", N_("unknown kind of field %(kind)s"), kind=kind)
    return {**copy.deepcopy(ft.schema), "format": ft.name}


def slug(text: str, fallback: str = "field") -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    out = re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")[:40].rstrip("_")
    return out if out and out[0].isalpha() else (f"{fallback}_" + out if out else fallback)


def key_for(label_zh: str, label_en: str = "", fallback: str = "field") -> str:
    """The key a name makes: from the English name when given, else the pinyin of the Chinese
    name (退款金额 → tui_kuan_jin_e), so nobody has to invent one."""
    if (label_en or "").strip() and (label_en or "").strip() != (label_zh or "").strip():
        return slug(label_en, fallback)
    return slug(" ".join(lazy_pinyin((label_zh or label_en or "").strip())), fallback)


def _unique_key(doc: dict, wanted: str, taken=frozenset()) -> str:
    key, n = wanted, 2
    while key in doc["properties"] or key in taken:
        key = f"{wanted[:44]}_{n}"
        n += 1
    return key


def _made_from(key: str, base: str) -> bool:
    """Whether `key` is the one `base` makes (itself, or made unique with _2, _3 …)."""
    return key == base or re.fullmatch(re.escape(base[:44]) + r"_[0-9]+", key) is not None


def rename_field(doc: dict, old: str, new: str) -> dict:
    """A field's key changed everywhere the definition names it (only for a field no published
    version holds: stored values are keyed by it)."""
    doc = copy.deepcopy(doc)
    _field(doc, old)
    if new == old:
        return doc
    if not KEY.fullmatch(new):
        raise _bad("key", N_("a key: lower-case letters, digits and _ (starting with a letter), up to 48"))
    if new in doc["properties"]:
        raise _bad("key", N_("another field already has the key %(key)s"), "exists", key=new)

    def swap(name):
        return new if name == old else name
    doc["properties"] = {swap(k): v for k, v in doc["properties"].items()}
    doc["required"] = [swap(n) for n in doc.get("required", [])]
    for section in doc.get("x-layout", {}).get("sections", []):
        section["fields"] = [swap(n) for n in section["fields"]]
    for rule in doc.get("x-rules", []):
        for c in conditions(rule["when"]):
            c["field"] = swap(c["field"])
        for k in ("show", "require"):
            if k in rule:
                rule[k] = [swap(n) for n in rule[k]]
    for block in doc.get("x-access", {}).values():
        if old in block.get("fields", {}):
            block["fields"][new] = block["fields"].pop(old)
    form = doc["x-form"]
    for key in ("owner_field", "title_field", "followup_field"):
        if form.get(key) == old:
            form[key] = new
    if "list_fields" in form:
        form["list_fields"] = [swap(n) for n in form["list_fields"]]
    return doc


def settle_key(doc: dict, name: str, wanted: str = "", frozen=frozenset(), before: dict | None = None) -> tuple[dict, str]:
    """After a field's settings changed: its key as the designer asked (`wanted`), or following
    its new name when the key was the one its old name made. Keys in `frozen` (published, or used
    by an earlier version) never change. Returns the document and the field's key."""
    if name in frozen:
        if wanted and wanted != name:
            raise _bad("key", N_("the key of a published field cannot change (records store their values under it)"),
                       "key_frozen")
        return doc, name
    spec = _field(doc, name)
    if wanted:
        key = wanted.strip()
        if key in frozen and key != name:
            raise _bad("key", N_("an earlier version used the key %(key)s: choose another"), "exists", key=key)
        return rename_field(doc, name, key), key
    old_labels = (before or spec).get("x-label", {})
    if not _made_from(name, key_for(old_labels.get("zh-CN", ""), old_labels.get("en", ""))):
        return doc, name  # a key the designer chose: it stays
    label = spec.get("x-label", {})
    wanted_key = key_for(label.get("zh-CN", ""), label.get("en", ""))
    if _made_from(name, wanted_key):
        return doc, name
    key = _unique_key({"properties": {k: v for k, v in doc["properties"].items() if k != name}}, wanted_key, frozen)
    return rename_field(doc, name, key), key


def add_field(doc: dict, kind: str, label_zh: str, label_en: str = "", section: str | None = None,
              taken=frozenset(), index: int | None = None) -> tuple[dict, str]:
    """A new field in `section` (the last one; a first section is made if none), at `index` or
    at its end. `taken`: keys earlier versions used (their old values must not come back under a
    new field)."""
    doc = copy.deepcopy(doc)
    if len(doc["properties"]) >= MAX_FIELDS:
        raise _bad("kind", N_("a form holds at most %(n)s fields"), n=MAX_FIELDS)
    spec = schema_for_kind(kind)
    spec["x-label"] = _names(label_zh, label_en, "label_zh")
    if kind in ("select", "multiselect"):
        _set_options(spec, [("option_1", "选项一", "Option 1"), ("option_2", "选项二", "Option 2")])
    key = _unique_key(doc, key_for(spec["x-label"]["zh-CN"], (label_en or "").strip()), taken)
    doc["properties"][key] = spec
    sections = doc.setdefault("x-layout", {"sections": []})["sections"]
    if not sections:
        sections.append({"key": "main", "title": copy.deepcopy(doc["x-form"]["title"]), "fields": []})
    target = next((s for s in sections if s["key"] == section), sections[-1])
    target["fields"].insert(len(target["fields"]) if index is None else max(0, min(index, len(target["fields"]))), key)
    if kind == "text" and "title_field" not in doc["x-form"]:
        doc["x-form"]["title_field"] = key  # the first text field names a record until someone chooses
    return doc, key


def remove_field(doc: dict, name: str) -> dict:
    """Leaves the form (and its rules, layout, list and required lists); stored values stay in
    the records and their history, shown read-only as "removed in version N"."""
    doc = copy.deepcopy(doc)
    _field(doc, name)
    del doc["properties"][name]
    doc["required"] = [n for n in doc.get("required", []) if n != name]
    for section in doc.get("x-layout", {}).get("sections", []):
        section["fields"] = [n for n in section["fields"] if n != name]
    doc.get("x-layout", {})["sections"] = [s for s in doc.get("x-layout", {}).get("sections", []) if s["fields"]] \
        if "x-layout" in doc else []
    rules = []
    for rule in doc.get("x-rules", []):
        if any(c["field"] == name for c in conditions(rule["when"])):
            continue
        rule = {k: ([n for n in v if n != name] if k in ("show", "require") else v) for k, v in rule.items()}
        if rule.get("show") or rule.get("require"):
            rules.append(rule)
    doc["x-rules"] = rules
    for block in doc.get("x-access", {}).values():
        block["fields"].pop(name, None)
    form = doc["x-form"]
    for key in ("owner_field", "title_field", "followup_field"):
        if form.get(key) == name:
            del form[key]
    if "list_fields" in form:
        form["list_fields"] = [n for n in form["list_fields"] if n != name]
        if not form["list_fields"]:
            del form["list_fields"]
    return doc


def _field(doc: dict, name: str) -> dict:
    spec = doc["properties"].get(name)
    if spec is None:
        raise _bad("field", N_("no field %(name)s in this form"), "unknown_field", name=name)
    return spec


def move_field(doc: dict, name: str, section: str, index: int) -> dict:
    """Put `name` at position `index` of `section` (drag and drop, or the up/down buttons)."""
    doc = copy.deepcopy(doc)
    _field(doc, name)
    sections = doc.get("x-layout", {}).get("sections", [])
    target = next((s for s in sections if s["key"] == section), None)
    if target is None:
        raise _bad("section", N_("no section %(name)s"), "unknown_section", name=section)
    for s in sections:
        if name in s["fields"]:
            s["fields"].remove(name)
    target["fields"].insert(max(0, min(index, len(target["fields"]))), name)
    return doc


def step_field(doc: dict, name: str, step: int) -> dict:
    """One place up (-1) or down (+1), crossing into the next section at its edge."""
    sections = doc.get("x-layout", {}).get("sections", [])
    for i, s in enumerate(sections):
        if name in s["fields"]:
            j = s["fields"].index(name) + step
            if 0 <= j < len(s["fields"]):
                return move_field(doc, name, s["key"], j)
            k = i + step
            if 0 <= k < len(sections):
                return move_field(doc, name, sections[k]["key"], len(sections[k]["fields"]) if step < 0 else 0)
            return copy.deepcopy(doc)
    raise _bad("field", N_("field %(name)s is in no section"), "unknown_field", name=name)


def add_section(doc: dict, title_zh: str, title_en: str) -> dict:
    doc = copy.deepcopy(doc)
    title = _names(title_zh, title_en, "section_zh", 60)
    sections = doc.setdefault("x-layout", {"sections": []})["sections"]
    keys = {s["key"] for s in sections}
    key, n = key_for(title["zh-CN"], (title_en or "").strip(), "section")[:30].rstrip("_"), 2
    base = key
    while key in keys:
        key, n = f"{base}_{n}", n + 1
    sections.append({"key": key, "title": title, "fields": []})
    return doc


def step_section(doc: dict, key: str, step: int) -> dict:
    """A section one place up (-1) or down (+1), its fields with it."""
    doc = copy.deepcopy(doc)
    sections = doc.get("x-layout", {}).get("sections", [])
    i = next((n for n, s in enumerate(sections) if s["key"] == key), None)
    if i is None:
        raise _bad("section", N_("no section %(name)s"), "unknown_section", name=key)
    j = i + step
    if 0 <= j < len(sections):
        sections[i], sections[j] = sections[j], sections[i]
    return doc


def remove_section(doc: dict, key: str) -> dict:
    """An empty section leaves the form (move its fields out first)."""
    doc = copy.deepcopy(doc)
    sections = doc.get("x-layout", {}).get("sections", [])
    target = next((s for s in sections if s["key"] == key), None)
    if target is None:
        raise _bad("section", N_("no section %(name)s"), "unknown_section", name=key)
    if target["fields"]:
        raise _bad("section", N_("move this section's fields to another section first"), "section_not_empty")
    doc["x-layout"]["sections"] = [s for s in sections if s is not target]
    return doc


def rename_section(doc: dict, key: str, title_zh: str, title_en: str) -> dict:
    doc = copy.deepcopy(doc)
    for s in doc.get("x-layout", {}).get("sections", []):
        if s["key"] == key:
            s["title"] = _names(title_zh, title_en, "section_zh", 60)
            return doc
    raise _bad("section", N_("no section %(name)s"), "unknown_section", name=key)


def _number(form, name: str, integer: bool = False):
    raw = (form.get(name) or "").strip()
    if raw == "":
        return None
    try:
        value = int(raw) if integer and len(raw) <= 16 else float(raw)
    except ValueError:
        raise _bad(name, N_("a number is expected here"), "type") from None
    if not math.isfinite(value) or abs(value) > 1e15 or (integer and not float(value).is_integer()):
        raise _bad(name, N_("a number from -10^15 to 10^15 is expected here"), "type")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value


def _set_options(spec: dict, options: list[tuple[str, str, str]]) -> None:
    target = spec["items"] if spec.get("type") == "array" else spec
    target["enum"] = [o[0] for o in options]
    spec["x-enum-labels"] = {"zh-CN": [o[1] for o in options], "en": [o[2] for o in options]}


def _option_value(label: str, index: int) -> str:
    """The stored value of a new option: from its English label, else option_N."""
    value = slug(label)
    return value if value.isascii() and not value.startswith("field") else f"option_{index + 1}"


def parse_options(text: str) -> list[tuple[str, str, str]]:
    """One option per line: `中文 | English` or `value | 中文 | English` (a value is made from
    the English label when not given; values are what records store and never change)."""
    out: list[tuple[str, str, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 1:  # one label for both languages
            value, zh, en = _option_value(parts[0], len(out)), parts[0], parts[0]
        elif len(parts) == 2:
            value, zh, en = _option_value(parts[1], len(out)), parts[0], parts[1]
        elif len(parts) == 3:
            value, zh, en = parts
        else:
            raise _bad("options", N_("line %(n)s: write '中文', '中文 | English' or 'value | 中文 | English'"), n=n)
        if not zh or not en or not value:
            raise _bad("options", N_("line %(n)s: each option needs a label"), n=n)
        if value in [o[0] for o in out]:
            raise _bad("options", N_("line %(n)s: the value %(value)s is used twice"), n=n, value=value)
        out.append((value[:60], zh[:60], en[:60]))
    if not out:
        raise _bad("options", N_("a choice field needs at least one option"), "required")
    if len(out) > MAX_OPTIONS:
        raise _bad("options", N_("at most %(n)s options"), n=MAX_OPTIONS)
    return out


def option_rows(spec: dict) -> list[tuple[str, str, str]]:
    """(stored value, 中文, English) of each option, in order."""
    target = spec["items"] if spec.get("type") == "array" else spec
    values = target.get("enum", [])
    labels = spec.get("x-enum-labels") or {}
    return list(zip(values, labels.get("zh-CN", values), labels.get("en", values)))


_DEFAULT_OPTION_ZH = re.compile(r"选项[一二三四五六七八九十0-9]+")
_DEFAULT_OPTION_EN = re.compile(r"Option [0-9]+")


def options_from_editor(form) -> list[tuple[str, str, str]] | None:
    """The options of the list editor: rows (`opt_value`, `opt_zh`, `opt_en`, in order; a row
    left empty is dropped), lines pasted into `opt_paste` (`中文` or `中文 | English`), and one
    `option_op` (add, up:N, down:N, remove:N). The stored value of a new option is made from its
    name and never shown; an existing option keeps its value whatever its names become. None when
    the form holds no list editor."""
    if "opt_zh" not in form and "opt_paste" not in form and "option_op" not in form:
        return None
    values, zhs, ens = form.getlist("opt_value"), form.getlist("opt_zh"), form.getlist("opt_en")
    rows: list[list[str]] = []
    for i, zh in enumerate(zhs):
        en = ens[i] if i < len(ens) else ""
        value = values[i] if i < len(values) else ""
        if _DEFAULT_OPTION_EN.fullmatch(en.strip()) and zh.strip() and not _DEFAULT_OPTION_ZH.fullmatch(zh.strip()):
            en = ""  # a new option's made-up English name goes once it is named: English readers see its name
        if zh.strip() or en.strip():
            rows.append([value.strip(), (zh.strip() or en.strip())[:60], (en.strip() or zh.strip())[:60]])
    for line in (form.get("opt_paste") or "").splitlines():
        parts = [p.strip() for p in line.replace("｜", "|").split("|")]
        parts = [p for p in parts if p]
        if parts:
            rows.append(["", parts[0][:60], (parts[1] if len(parts) > 1 else parts[0])[:60]])
    op, _sep, arg = (form.get("option_op") or "").partition(":")
    i = int(arg) if arg.isdigit() else -1
    if op == "add":
        n = len(rows) + 1
        rows.append(["", f"选项{n}", f"Option {n}"])
    elif op == "remove" and 0 <= i < len(rows):
        del rows[i]
    elif op in ("up", "down") and 0 <= i < len(rows):
        j = i - 1 if op == "up" else i + 1
        if 0 <= j < len(rows):
            rows[i], rows[j] = rows[j], rows[i]
    used = {r[0] for r in rows if r[0]}
    for row in rows:
        if not row[0]:
            base = key_for(row[1], row[2] if row[2] != row[1] else "", "option")
            value, n = base, 2
            while value in used:
                value, n = f"{base[:54]}_{n}", n + 1
            row[0] = value
            used.add(value)
    if not rows:
        raise _bad("options", N_("a choice field needs at least one option"), "required")
    if len(rows) > MAX_OPTIONS:
        raise _bad("options", N_("at most %(n)s options"), n=MAX_OPTIONS)
    if len({r[0] for r in rows}) != len(rows):
        raise _bad("options", N_("two options have the same stored value"))
    return [(r[0][:60], r[1], r[2]) for r in rows]


def options_text(spec: dict) -> str:
    target = spec["items"] if spec.get("type") == "array" else spec
    labels = spec.get("x-enum-labels") or {}
    return "\n".join(f"{v} | {zh} | {en}" for v, zh, en in
                     zip(target.get("enum", []), labels.get("zh-CN", target.get("enum", [])),
                         labels.get("en", target.get("enum", []))))


def update_field(doc: dict, name: str, form) -> dict:
    """The field's settings from the builder's field panel (a MultiDict-like `form`)."""
    doc = copy.deepcopy(doc)
    spec = _field(doc, name)
    label = _names(form.get("label_zh", ""), form.get("label_en", ""), "label_zh")
    kind = form.get("kind") or kind_of(spec)
    if kind != kind_of(spec):
        fresh = schema_for_kind(kind)
        spec = {k: v for k, v in spec.items() if k not in _TYPE_KEYS and k not in ("minimum", "maximum", "minLength",
                                                                                    "maxLength", "pattern", "default")}
        spec.update(fresh)
        if kind in ("select", "multiselect"):
            _set_options(spec, [("option_1", "选项一", "Option 1")])
    spec["x-label"] = label
    help_zh, help_en = (form.get("help_zh") or "").strip(), (form.get("help_en") or "").strip()
    if help_zh or help_en:
        spec["x-help"] = {"zh-CN": help_zh or help_en, "en": help_en or help_zh}
    else:
        spec.pop("x-help", None)
    t = spec.get("type")
    if t in ("integer", "number") and "x-ref" not in spec and spec.get("format") not in field_types.names():
        for key in ("minimum", "maximum"):
            value = _number(form, key, integer=t == "integer")
            if value is None:
                spec.pop(key, None)
            else:
                spec[key] = value
        if spec.get("minimum") is not None and spec.get("maximum") is not None and spec["minimum"] > spec["maximum"]:
            raise _bad("maximum", N_("the largest value is below the smallest"))
    if t == "string" and kind in ("text", "textarea"):
        for key in ("minLength", "maxLength"):
            value = _number(form, key, integer=True)
            if value is not None and not 0 <= value <= 10000:
                raise _bad(key, N_("a length from 0 to 10,000"))
            if value is None:
                spec.pop(key, None)
            else:
                spec[key] = value
        if spec.get("minLength", 0) > spec.get("maxLength", 10000):
            raise _bad("maxLength", N_("the longest is shorter than the shortest"))
        pattern = (form.get("pattern") or "").strip()
        if pattern:
            if len(pattern) > MAX_PATTERN:
                raise _bad("pattern", N_("a pattern of at most %(n)s characters"), n=MAX_PATTERN)
            reason = pattern_problem(pattern)
            if reason:
                raise _bad("pattern", N_("this pattern cannot be used: %(reason)s"), "unsafe_pattern", reason=reason)
            spec["pattern"] = pattern
        else:
            spec.pop("pattern", None)
    if kind in ("select", "multiselect"):
        edited = options_from_editor(form)
        if edited is not None:
            _set_options(spec, edited)
        elif "options" in form:
            _set_options(spec, parse_options(form.get("options") or ""))
    if kind == "select" and (form.get("default") or "").strip() and (form.get("default") or "").strip() \
            not in (spec.get("enum") or []):
        raise _bad("default", N_("the default must be one of the options (its value)"))
    if kind == "reference":
        target = (form.get("ref") or "").strip()
        display = (form.get("ref_display") or "").strip()
        if display and target == spec.get("x-ref"):  # a display field belongs to the form it was chosen in
            spec["x-ref-display"] = display
        else:
            spec.pop("x-ref-display", None)
        spec["x-ref"] = target
    default = (form.get("default") or "").strip()
    if default and t in ("string", "integer", "number") and kind not in ("member", "reference"):
        if t in ("integer", "number"):
            spec["default"] = _number(form, "default", integer=t == "integer")
        else:
            spec["default"] = default[:200]
    else:
        spec.pop("default", None)
    sensitivity = form.get("sensitivity") or "internal"
    if sensitivity not in ("public", "internal", "confidential", "restricted"):
        raise _bad("sensitivity", N_("unknown sensitivity"))
    if sensitivity == "internal":
        spec.pop("x-sensitivity", None)
    else:
        spec["x-sensitivity"] = sensitivity
    mask = (form.get("mask") or "").strip()
    if mask:
        if not re.fullmatch(r"keep:[0-9]{1,2},[0-9]{1,2}|all", mask):
            raise _bad("mask", N_("a mask is 'all' or 'keep:N,M' (first N and last M characters shown)"))
        spec["x-mask"] = mask
    else:
        spec.pop("x-mask", None)
    if form.get("reason_required"):
        spec["x-reason-required"] = True
    else:
        spec.pop("x-reason-required", None)
    if kind == "autonumber":
        spec["x-autonumber"] = _autonumber(form, spec["x-autonumber"])
    doc["properties"][name] = spec
    required = [n for n in doc.get("required", []) if n != name]
    if form.get("required") and kind != "autonumber":  # the system fills it: never asked of anyone
        required.append(name)
    doc["required"] = required
    section = (form.get("section") or "").strip()
    sections = doc.get("x-layout", {}).get("sections", [])
    if section and not any(s["key"] == section and name in s["fields"] for s in sections):
        target = next((s for s in sections if s["key"] == section), None)
        if target is None:
            raise _bad("section", N_("no section %(name)s"), "unknown_section", name=section)
        return move_field(doc, name, section, len(target["fields"]))
    return doc


def _autonumber(form, current: dict) -> dict:
    """An auto-number's prefix (letters, digits, -), date part and digits of its sequence."""
    prefix = (form.get("an_prefix", current.get("prefix", "")) or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9-]{0,10}", prefix):
        raise _bad("an_prefix", N_("a prefix of up to 10 letters, digits or -"))
    date = form.get("an_date", current.get("date", ""))
    if date not in AUTONUMBER_DATES:
        raise _bad("an_date", N_("unknown date part"))
    digits = _number(form, "an_digits", integer=True) if (form.get("an_digits") or "").strip() else current.get("digits", 4)
    if not isinstance(digits, int) or not 3 <= digits <= 8:
        raise _bad("an_digits", N_("from 3 to 8 digits"))
    return {"prefix": prefix, "date": date, "digits": digits}


def _parse_value(text: str, spec: dict):
    """A value typed in the rule panel as the field stores it: money in its type's unit (yuan
    typed, cents kept), dates as YYYY-MM-DD, numbers finite."""
    t = (spec.get("items") or {}).get("type") if spec.get("type") == "array" else spec.get("type")
    text = text.strip()
    ft = field_types.get(spec.get("format"))
    if spec.get("format") == "date":
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            raise ValueError(text)
        return text
    if ft is not None and ft.normalise is not None and ft.value_type in ("integer", "number"):
        return ft.normalise(text)
    if t in ("integer", "number"):
        num = float(text.replace(",", ""))
        if not math.isfinite(num) or abs(num) > 1e15 or (t == "integer" and not num.is_integer()):
            raise ValueError(text)
        return int(num) if num.is_integer() and "." not in text else num
    if t == "boolean":
        return text.lower() in ("1", "true", "yes", "是")
    return text


def condition(doc: dict, field: str, op: str, values: list[str]) -> dict:
    """One condition from the rule panel: a field, an operator and the values typed or chosen."""
    spec = _field(doc, field)
    if op not in OPERATORS:
        raise _bad("op", N_("unknown test %(op)s"), op=op)
    if op == "filled":
        return {"field": field, "filled": not values or values[0] not in ("0", "false", "no")}
    if op in ("in", "not_in"):
        values = [part for v in values for part in v.replace("，", ",").split(",")]
    values = [v.strip() for v in values if v.strip()]
    if not values:
        raise _bad("value", N_("choose or type the value the rule compares with"), "required")
    target = spec["items"] if spec.get("type") == "array" else spec
    if "enum" in target:  # an option may be typed as shown (either language) or by its value
        labels = {label: opt for loc in ("zh-CN", "en")
                  for opt, label in zip(target["enum"], (spec.get("x-enum-labels") or {}).get(loc, target["enum"]))}
        unknown = [v for v in values if v not in target["enum"] and v not in labels]
        if unknown:
            raise _bad("value", N_("not an option of this field: %(values)s"), values=", ".join(unknown))
        values = [v if v in target["enum"] else labels[v] for v in values]
    try:
        parsed = [_parse_value(v, spec) for v in values]
    except ValueError:
        raise _bad("value", N_("the value must be of the field's kind (a number, or a date as YYYY-MM-DD)"),
                   "type") from None
    if op in ("in", "not_in"):
        return {"field": field, op: parsed}
    if op in ("gt", "gte", "lt", "lte") and not all(isinstance(v, (int, float, str)) for v in parsed):
        raise _bad("value", N_("compare numbers or dates"), "type")
    return {"field": field, op: parsed[0]}


def add_rule(doc: dict, conds: list[dict], combine: str, show: list[str], require: list[str]) -> dict:
    doc = copy.deepcopy(doc)
    if not conds:
        raise _bad("field", N_("a rule needs a condition"), "required")
    if not show and not require:
        raise _bad("targets", N_("choose the fields the rule shows or requires"), "required")
    for name in [*show, *require]:
        _field(doc, name)
    if any(name in [c["field"] for c in conds] for name in show):
        raise _bad("targets", N_("a field cannot show itself"))
    when = conds[0] if len(conds) == 1 else {("any" if combine == "any" else "all"): conds}
    rule: dict = {"when": when}
    if show:
        rule["show"] = list(dict.fromkeys(show))
    if require:
        rule["require"] = list(dict.fromkeys(require))
    if rule in doc.get("x-rules", []):
        raise _bad("targets", N_("this rule is already there"))
    doc.setdefault("x-rules", []).append(rule)
    return doc


def replace_rule(doc: dict, index: int, conds: list[dict], combine: str, show: list[str], require: list[str]) -> dict:
    """An existing rule edited: the new one in its place."""
    rules = doc.get("x-rules", [])
    if not 0 <= index < len(rules):
        raise _bad("rule", N_("no such rule"), "unknown_rule")
    after = add_rule(remove_rule(doc, index), conds, combine, show, require)
    after["x-rules"].insert(index, after["x-rules"].pop())
    return after


def remove_rule(doc: dict, index: int) -> dict:
    doc = copy.deepcopy(doc)
    rules = doc.get("x-rules", [])
    if not 0 <= index < len(rules):
        raise _bad("rule", N_("no such rule"), "unknown_rule")
    del rules[index]
    return doc


def update_settings(doc: dict, form) -> dict:
    """Title, description, title / owner / follow-up field, list columns, place among the forms."""
    doc = copy.deepcopy(doc)
    x = doc["x-form"]
    x["title"] = _names(form.get("title_zh", ""), form.get("title_en", ""), "title_zh")
    dzh, den = (form.get("description_zh") or "").strip(), (form.get("description_en") or "").strip()
    if dzh or den:
        x["description"] = {"zh-CN": (dzh or den)[:300], "en": (den or dzh)[:300]}
    else:
        x.pop("description", None)
    for key in ("title_field", "owner_field", "followup_field"):
        value = (form.get(key) or "").strip()
        if value:
            _field(doc, value)
            x[key] = value
        else:
            x.pop(key, None)
    columns = [n for n in form.getlist("list_fields") if n]
    for n in columns:
        _field(doc, n)
    if columns:
        x["list_fields"] = columns
    else:
        x.pop("list_fields", None)
    order = _number(form, "order", integer=True)
    if order is not None and not 0 <= order <= 10000:
        raise _bad("order", N_("a place from 0 to 10,000"))
    if order is None:
        x.pop("order", None)
    else:
        x["order"] = order
    return doc


# --- what a version changes -----------------------------------------------------------------

def changelog(before: dict | None, after: dict) -> dict:
    """{"added": [...], "removed": [...], "changed": {field: [what, ...]}, "form": [what, ...]}."""
    old = (before or {}).get("properties", {})
    new = after.get("properties", {})
    added = [n for n in new if n not in old]
    removed = [n for n in old if n not in new]
    changed: dict[str, list[str]] = {}
    old_required, new_required = set((before or {}).get("required", [])), set(after.get("required", []))
    for name in new:
        if name not in old:
            continue
        a, b = old[name], new[name]
        what = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        if (name in old_required) != (name in new_required):
            what.append("required")
        if what:
            changed[name] = what
    form = []
    if before is not None:
        for key in ("x-form", "x-layout", "x-rules"):
            a = {k: v for k, v in (before.get(key) or {}).items() if k != "version"} if key == "x-form" \
                else before.get(key)
            b = {k: v for k, v in (after.get(key) or {}).items() if k != "version"} if key == "x-form" \
                else after.get(key)
            if (a or None) != (b or None):
                form.append(key)
        if record_checks_changed(before, after):
            form.append("checks")
    return {"added": added, "removed": removed, "changed": changed, "form": form}


# What does not decide whether a value is valid: labels, help, how it is shown and who sees it.
PRESENTATION = frozenset({"x-label", "x-help", "x-widget", "x-enum-labels", "x-mask", "x-sensitivity", "x-index",
                          "x-reason-required", "x-unit", "x-retired", "x-autonumber", "title", "description", "examples",
                          "default", "readOnly", "$comment"})


def stored_shape_changed(before: dict, after: dict) -> bool:
    """Whether a field's stored values may no longer fit: anything but its presentation changed
    (type, format, options, limits, and every other JSON Schema keyword: not, allOf, const …)."""
    def checks(spec: dict) -> dict:
        return {k: v for k, v in spec.items() if k not in PRESENTATION}
    return checks(before) != checks(after)


def record_checks_changed(before: dict, after: dict) -> bool:
    """Whether the checks of the record as a whole changed (top-level allOf, if/then, not,
    dependentRequired …): they may read any field, so they are judged like a field's checks."""
    def checks(doc: dict) -> dict:
        return {k: v for k, v in doc.items()
                if not k.startswith("x-") and k not in ("properties", "$schema", "$id", "required")}
    return checks(before) != checks(after)
