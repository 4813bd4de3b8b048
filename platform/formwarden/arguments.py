"""Small value rules shared by services that take request arguments or write files for people:
whole-number arguments, field names, spreadsheet-safe cells. No Flask, no database."""
from __future__ import annotations

import csv
import re

from formwarden.errors import BadRequest, Invalid

FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
MAX_PAGE = 1_000_000  # far past any list's end; beyond it an offset only costs the database
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what Excel and WPS read as the start of a formula


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


def page_arg(args, name: str = "page") -> int:
    """A page number: 1 when absent, a whole number from 1 to MAX_PAGE, else 400 naming it."""
    raw = args.get(name)
    if raw in (None, ""):
        return 1
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 7 and 1 <= int(raw) <= MAX_PAGE):
        raise BadRequest(f"{name} must be a whole number from 1 to {MAX_PAGE}", field=name, code="out_of_range")
    return int(raw)


def text_arg(args, name: str, limit: int) -> str:
    """A text argument, stripped; longer than `limit` is refused (400 naming it), never cut: a
    search for a cut term would answer about a question nobody asked."""
    text = (args.get(name) or "").strip()
    if len(text) > limit:
        raise BadRequest(f"{name} may be at most {limit} characters long", field=name, code="too_long")
    return text


def spreadsheet_safe(text: str) -> str:
    """Defuse spreadsheet formula injection: a leading = + - @ would be executed by Excel/WPS."""
    return "'" + text if text[:1] in FORMULA_STARTS else text


def undefused(text: str) -> str:
    """The text a defused cell held: a header or value we wrote as "'=…" reads back as "=…"."""
    return text[1:] if text[:1] == "'" and text[1:2] in FORMULA_STARTS else text


class SafeCsvWriter:
    """csv.writer whose every text cell is defused, header rows included: labels, names and
    reasons are typed by people (a designer's label "=HYPERLINK(…)" is data, never a formula)."""

    def __init__(self, fh, **kwargs):
        self._writer = csv.writer(fh, **kwargs)

    def writerow(self, row) -> None:
        self._writer.writerow([spreadsheet_safe(c) if isinstance(c, str) else c for c in row])

    def writerows(self, rows) -> None:
        for row in rows:
            self.writerow(row)


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
