"""Small value rules shared by services that take request arguments or write files for people:
whole-number arguments, field names, spreadsheet-safe cells. No Flask, no database."""
from __future__ import annotations

import re

from formwarden.errors import Invalid

FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def int_arg(args, name: str, default: int | None) -> int | None:
    """A whole-number request argument (ASCII digits, optional "-", 64-bit), or `default` when
    absent; Invalid naming it and the reason otherwise."""
    raw = args.get(name)
    if raw in (None, ""):
        return default
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit()):
        raise Invalid(f"{name} must be a whole number", field=name, code="invalid_number")
    low, high = -(2**63), 2**63 - 1  # what the database can compare with
    if len(digits) > 19 or not low <= int(raw) <= high:
        raise Invalid(f"{name} must lie between {low} and {high}", field=name, code="out_of_range")
    return int(raw)


def spreadsheet_safe(text: str) -> str:
    """Defuse spreadsheet formula injection: a leading = + - @ would be executed by Excel/WPS."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


_BRACKET_OR_QUOTE = re.compile(r'["\[\]{}]')
_STRING_REST = re.compile(r'(?:[^"\\]|\\.)*"', re.S)


def json_too_deep(text: str, limit: int) -> bool:
    """Does the JSON text nest arrays/objects more than `limit` deep? One linear pass over the
    brackets outside strings, so a text of thousands of `[` neither recurses nor stalls (ask
    before parsing it)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, i = 0, 0
    while (m := _BRACKET_OR_QUOTE.search(text, i)) is not None:
        ch, i = m.group(), m.end()
        if ch == '"':
            rest = _STRING_REST.match(text, i)
            if rest is None:
                return False  # an unterminated string: the parser refuses it
            i = rest.end()
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
