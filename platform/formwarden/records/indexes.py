"""Expression indexes for form fields marked `x-index`, so lists filter and count quickly.

Field names are inlined into the DDL and into the matching query expressions (an index on an
expression is only used when the query spells the same expression); they are checked against
the meta-schema's name pattern first, so no user text ever reaches SQL.
"""
from __future__ import annotations

import re

import peewee as pw

from formwarden import db
from formwarden.arguments import FIELD_NAME
from formwarden.forms.definition import FormDef
from formwarden.models import Record


def _checked(name: str) -> str:
    if not FIELD_NAME.match(name):  # only these names are ever put into index names and SQL paths
        raise ValueError(f"not a field name: {name!r}")
    return name


def form_is(form_id: int):
    """`form_id = N` with N written out: a partial index is only used when the query's
    condition names the same constant (a bound parameter does not prove it)."""
    return Record.form == pw.SQL(str(int(form_id)))


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
    """Create the indexes for this form's indexed fields and drop those of fields no longer
    indexed (idempotent); returns the names kept."""
    created = []
    for fd in formdef.fields.values():
        if not fd.indexed or fd.type == "array":
            continue
        expr = _ddl_expr(fd.name)
        # Partial per form: other forms' writes skip it, and it stays as small as the form.
        # form_id stays the first column so the planner sees three equality columns here.
        for suffix, columns in (("byupd", f"form_id, deleted_at, {expr}, updated_at"),
                                ("byowner", f"form_id, deleted_at, {expr}, owner_id")):
            index = f"record_f{int(form_id)}_{fd.name}_{suffix}"
            db.execute(f"CREATE INDEX IF NOT EXISTS {index} ON record ({columns}) WHERE form_id = {int(form_id)}")
            created.append(index)
    prefix = f"record_f{int(form_id)}_"
    for index in db.database.get_indexes("record"):
        if index.name.startswith(prefix) and index.name not in created:
            db.execute(f"DROP INDEX {_checked_index(index.name)}")
    return created


def _checked_index(name: str) -> str:
    if not re.match(r"^record_f[0-9]+_[a-z0-9_]+$", name):
        raise ValueError(f"not a field index: {name!r}")
    return name
