"""Field-type registry: named string formats with their checker, widget and default mask.

Plugins add types through the `formwarden_field_types` hook; a duplicate name is refused
so two plugins cannot silently redefine what a valid value is.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from jsonschema import FormatChecker


@dataclass(frozen=True)
class FieldType:
    name: str
    check: Callable[[str], bool]
    widget: str = "text"
    mask: str | None = None
    label: dict | None = None


class DuplicateFieldType(ValueError):
    pass


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


BUILTIN = (
    FieldType("date", _is_date, widget="date"),
    FieldType("email", lambda v: bool(_EMAIL.fullmatch(v)) and len(v) <= 254, widget="email"),
)


class FieldTypeRegistry:
    def __init__(self) -> None:
        self._types: dict[str, FieldType] = {}
        for ft in BUILTIN:
            self.register(ft)

    def register(self, ft: FieldType) -> None:
        if ft.name in self._types:
            raise DuplicateFieldType(f"field type {ft.name!r} is already registered")
        self._types[ft.name] = ft

    def get(self, name: str) -> FieldType | None:
        return self._types.get(name)

    def names(self) -> list[str]:
        return sorted(self._types)

    def format_checker(self) -> FormatChecker:
        checker = FormatChecker(formats=())
        for ft in self._types.values():
            checker.checks(ft.name)(_string_only(ft.check))
        return checker


def _string_only(check: Callable[[str], bool]) -> Callable[[object], bool]:
    # JSON Schema formats apply to strings only; other types are the `type` keyword's job.
    return lambda value: not isinstance(value, str) or check(value)


field_types = FieldTypeRegistry()
