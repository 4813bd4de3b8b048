"""Expression indexes for form fields marked `x-index`, so lists filter and count quickly.

Field names are inlined into the DDL and into the matching query expressions (an index on an
expression is only used when the query spells the same expression); they are checked against
the meta-schema's name pattern first, so no user text ever reaches SQL.
"""
from __future__ import annotations

import re

import peewee as pw

from formwarden import db
from formwarden.forms.definition import FormDef
from formwarden.models import Record

NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def _checked(name: str) -> str:
    if not NAME.match(name):
        raise ValueError(f"not a field name: {name!r}")
    return name


def field_expr(name: str, kind: str = "string"):
    """The typed value of data.<name> as SQL, written the way the indexes are."""
    name = _checked(name)
    if db.is_postgres():
        text = pw.Expression(Record.data, "->>", pw.SQL(f"'{name}'"))
        return pw.Cast(text, "numeric") if kind in ("number", "integer") else text
    return pw.fn.json_extract(Record.data, pw.SQL(f"'$.{name}'"))


def _ddl_expr(name: str) -> str:
    name = _checked(name)
    return f"(data ->> '{name}')" if db.is_postgres() else f"json_extract(data, '$.{name}')"


def ensure_field_indexes(form_id: int, formdef: FormDef) -> list[str]:
    """Create the indexes for this form's indexed fields (idempotent); returns their names."""
    created = []
    for fd in formdef.fields.values():
        if not fd.indexed or fd.type == "array":
            continue
        expr = _ddl_expr(fd.name)
        for suffix, columns in (("page", f"form_id, deleted_at, {expr}, updated_at"),
                                ("count", f"form_id, deleted_at, {expr}, owner_id")):
            index = f"record_f{int(form_id)}_{fd.name}_{suffix}"
            db.execute(f"CREATE INDEX IF NOT EXISTS {index} ON record ({columns})")
            created.append(index)
    return created
