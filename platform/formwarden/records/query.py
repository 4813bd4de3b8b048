"""List queries over record data: typed filter values and JSON-path expressions per database."""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field

from formwarden import db
from formwarden.arguments import int_arg, page_arg, text_arg
from formwarden.crypto.fields import blind_index
from formwarden.errors import Invalid
from formwarden.forms.definition import FormDef
from formwarden.models import Record
from formwarden.records.indexes import field_expr

MAX_SEARCH = 100  # characters of a search box query
SORT_COLUMNS = {"updated_at": Record.updated_at, "created_at": Record.created_at, "id": Record.id}


@dataclass(frozen=True)
class ListQuery:
    filters: list[tuple[str, list[str]]] = field(default_factory=list)
    sort_field: str | None = None  # a form field; None sorts by a record column
    sort_column: str = "updated_at"
    descending: bool = True
    page: int = 1
    per_page: int = 50
    ranges: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # (field, from, to) as typed
    search: str = ""  # the search box: any readable text field (records.search)
    search_in: str = ""  # one field to search in ("text contains" on that field); "" = every field


def parse_sort(value: str | None) -> tuple[str | None, str, bool]:
    """`-field` sorts descending; the record columns updated_at/created_at/id are allowed too."""
    if not value:
        return None, "updated_at", True
    desc = value.startswith("-")
    name = value[1:] if desc else value
    if not name:
        raise Invalid("sort names a field, optionally after '-' (descending)", field="sort", code="invalid_sort")
    if name in SORT_COLUMNS:
        return None, name, desc
    return name, "updated_at", desc


def _typed(formdef: FormDef, name: str, raw: str):
    fd = formdef.fields[name]
    kind = fd.schema.get("items", {}).get("type", "string") if fd.type == "array" else fd.type
    try:
        if kind == "integer":
            if not raw.strip().lstrip("+-").isascii():
                raise ValueError  # int() would read other scripts' digits
            value = int(raw)
            if not -(2**63) <= value < 2**63:
                raise ValueError
            return value
        if kind == "number":
            num = float(raw)
            if not math.isfinite(num) or abs(num) >= 2**63:
                raise ValueError
            return int(num) if num.is_integer() else num
        if kind == "boolean":
            return raw.lower() in ("1", "true", "yes")
    except ValueError:
        raise Invalid(f"filter value for {name!r} must be {'an' if kind == 'integer' else 'a'} {kind} within 64 bits", field=name,
                      code="invalid_filter") from None
    return raw


def apply_filters(query, formdef: FormDef, filters):
    for name, raws in filters:
        fd = formdef.fields[name]
        values = [_typed(formdef, name, r) for r in raws]
        if fd.type == "array":
            path = Record.data[name]
            cond = None
            for v in values:
                c = path.contains([v])
                cond = c if cond is None else (cond | c)
            query = query.where(cond)
            continue
        if fd.sensitivity == "restricted":
            # Sealed values are found through their keyed blind index, never decrypted in SQL.
            digests = [blind_index(formdef.key, name, v) for v in values]
            expr = Record.data[name]["bi"]
            query = query.where(expr == digests[0]) if len(digests) == 1 else query.where(expr.in_(digests))
            continue
        expr = field_expr(name, fd.type)
        if fd.type == "boolean":
            values = [v if not db.is_postgres() else ("true" if v else "false") for v in values]
        elif fd.type not in ("number", "integer") and db.is_postgres():
            values = [str(v) for v in values]
        query = query.where(expr == values[0]) if len(values) == 1 else query.where(expr.in_(values))
    return query


RANGE_TYPES = ("number", "integer")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _real_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def range_bound(formdef: FormDef, name: str, raw: str):
    """A typed bound of a range filter: a number, or a date written YYYY-MM-DD."""
    fd = formdef.fields.get(name)
    if fd is None:
        raise Invalid(f"unknown field {name!r}", field=name, code="unknown_field")
    ft = fd.field_type
    if fd.type in RANGE_TYPES and ft is not None and ft.normalise is not None:  # e.g. money typed in yuan, kept in cents
        try:
            return ft.normalise(raw)
        except Exception:  # ValueError, or a plugin's normaliser that breaks
            raise Invalid(f"not a value of {name!r}: {raw[:40]!r}", field=name, code="invalid_filter") from None
    if fd.type in RANGE_TYPES:
        return _typed(formdef, name, raw)
    if fd.format == "date":
        if not _DATE.match(raw) or not _real_date(raw):
            raise Invalid(f"dates for {name!r} are written YYYY-MM-DD (a date that exists)", field=name,
                          code="invalid_filter")
        return raw
    raise Invalid(f"{name!r} cannot be filtered by a range", field=name, code="not_rangeable")


def apply_ranges(query, formdef: FormDef, ranges):
    for name, low, high in ranges:
        fd = formdef.fields[name]
        if fd.sensitivity == "restricted":
            raise Invalid(f"{name!r} is encrypted and cannot be filtered by a range", field=name, code="not_rangeable")
        expr = field_expr(name, fd.type)
        if low is not None:
            query = query.where(expr >= low)
        if high is not None:
            query = query.where(expr <= high)
    return query


def apply_sort(query, formdef: FormDef, sort_field: str | None, descending: bool, column: str = "updated_at"):
    if sort_field:
        fd = formdef.fields[sort_field]
        if fd.sensitivity == "restricted":
            raise Invalid(f"{sort_field!r} is encrypted and cannot be sorted", field=sort_field, code="not_sortable")
        expr = field_expr(sort_field, fd.type)
        order = [expr.desc(nulls="LAST") if descending else expr.asc(nulls="LAST")]
    else:
        col = SORT_COLUMNS[column]
        order = [col.desc() if descending else col.asc()]
    tie = Record.id.desc() if descending else Record.id.asc()
    return query.order_by(*order, tie)




def from_args(args, default_per_page: int = 50) -> ListQuery:
    """Build a ListQuery from `filter[FIELD]=V` (repeatable), `sort`, `page`, `per_page` arguments."""
    filters: dict[str, list[str]] = {}
    for key in args:
        if key.startswith("filter[") and key.endswith("]"):
            values = [v for v in args.getlist(key) if v != ""]
            if values:
                filters.setdefault(key[7:-1], []).extend(values)
    sort_field, column, desc = parse_sort(args.get("sort"))
    bounds: dict[str, list] = {}
    for key in args:
        for side, prefix in ((0, "from["), (1, "to[")):
            if key.startswith(prefix) and key.endswith("]") and (args.get(key) or "").strip():
                bounds.setdefault(key[len(prefix):-1], [None, None])[side] = args.get(key).strip()
    return ListQuery(
        filters=sorted(filters.items()), sort_field=sort_field, sort_column=column, descending=desc,
        ranges=[(name, low, high) for name, (low, high) in sorted(bounds.items())],
        page=page_arg(args), per_page=int_arg(args, "per_page", default_per_page) or 0,  # 0 is refused with the reason
        search=text_arg(args, "q", MAX_SEARCH), search_in=text_arg(args, "q_in", 64),
    )
