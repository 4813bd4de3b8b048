"""Field-type registry: named value types with their checker, normaliser, messages, widget and
default mask.

Plugins add types through the `formwarden_field_types` hook; a duplicate name is refused so two
plugins cannot silently redefine what a valid value is. A field uses a type by naming it in
`format` (JSON Schema's own keyword: other tools still read the definition).
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from jsonschema import FormatChecker

_PY_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float)}


@dataclass(frozen=True)
class FieldType:
    """What a plugin declares for a field type.

    `check` says whether a stored value is valid; `normalise` turns what a person typed (or an
    API client sent as text) into the value stored, raising ValueError when it cannot (full-width
    digits, spaces, currency signs …); `message` is the invalid-value message per locale;
    `warn` returns a warning per locale for a value that is accepted but unusual; `schema` is the
    JSON Schema fragment a field of this type carries (the builder writes it); `widget` names a
    built-in widget, or `widget_macro` gives Jinja source defining `widget(fd, value, locale,
    attrs)`; `display` turns a stored value into its text on pages and exports, `as_text` into
    what an input shows for editing."""

    name: str
    check: Callable[[object], bool]
    widget: str = "text"
    mask: str | None = None
    label: dict | None = None
    schema: dict = field(default_factory=lambda: {"type": "string"})
    normalise: Callable[[str], object] | None = None
    message: dict | None = None
    warn: Callable[[object], dict | None] | None = None
    widget_macro: str | None = None
    display: Callable[[object], str] | None = None
    as_text: Callable[[object], str] | None = None  # the value as a person would type it again
    plugin: str = ""  # the plugin that registered it ("" for the built-in ones)

    @property
    def value_type(self) -> str:
        return self.schema.get("type", "string")

    def invalid_message(self, locale: str) -> str | None:
        return (self.message or {}).get(locale) or (self.message or {}).get("en")


class DuplicateFieldType(ValueError):
    pass


class BadFieldType(ValueError):
    pass


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _is_date(value) -> bool:
    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return len(value) == 10


def half_width(text: str) -> str:
    """Full-width digits, letters and signs as their ASCII forms (NFKC), without spaces."""
    return "".join(unicodedata.normalize("NFKC", text).split())


BUILTIN = (
    FieldType("date", _is_date, widget="date", label={"zh-CN": "日期", "en": "Date"},
              normalise=lambda s: half_width(s).replace("/", "-")),
)


class FieldTypeRegistry:
    def __init__(self) -> None:
        self._types: dict[str, FieldType] = {}
        for ft in BUILTIN:
            self.register(ft)

    def register(self, ft: FieldType) -> None:
        if not isinstance(ft, FieldType):
            raise BadFieldType(f"{ft!r} is not a FieldType")
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", ft.name):
            raise BadFieldType(f"field type name {ft.name!r}: lower-case letters, digits and '-' only")
        if ft.value_type not in _PY_TYPES or not callable(ft.check):
            raise BadFieldType(f"field type {ft.name!r}: schema type must be string, integer or number and check callable")
        if ft.name in self._types:
            raise DuplicateFieldType(f"field type {ft.name!r} is already registered")
        self._types[ft.name] = ft

    def unregister_plugin(self, plugin: str) -> None:
        """Drop every type a plugin registered (it failed after registering some)."""
        self._types = {k: v for k, v in self._types.items() if not plugin or v.plugin != plugin}

    def get(self, name: str | None) -> FieldType | None:
        return self._types.get(name) if name else None

    def names(self) -> list[str]:
        return sorted(self._types)

    def all(self) -> list[FieldType]:
        return [self._types[n] for n in self.names()]

    def format_checker(self) -> FormatChecker:
        checker = FormatChecker(formats=())
        for ft in self._types.values():
            checker.checks(ft.name)(_typed_only(ft))
        return checker


def _typed_only(ft: FieldType) -> Callable[[object], bool]:
    # A value of another JSON type is the `type` keyword's problem, not the format's.
    types = _PY_TYPES[ft.value_type]

    def check(value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, types):
            return True
        try:
            return bool(ft.check(value))
        except Exception:  # a plugin's checker that breaks on a value refuses it
            return False
    return check


field_types = FieldTypeRegistry()
