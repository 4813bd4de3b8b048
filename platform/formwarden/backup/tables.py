"""What an archive holds, table by table, and one portable spelling of every value (so an
archive made on SQLite restores into PostgreSQL and back, and two databases compare equal).

Left out on purpose: sessions (a restore ends them all), job runs and the backup log (they
describe this installation's work, not its data), and the audit search's field index (derived
from the events; rebuilt after a restore)."""
from __future__ import annotations

import datetime as dt
import json

import peewee as pw

from formwarden import db
from formwarden.models import (
    Alert,
    AlertCursor,
    ApiToken,
    Attachment,
    AuditCheckpoint,
    AuditEvent,
    Form,
    FormPolicy,
    FormVersion,
    Record,
    Role,
    Setting,
    Team,
    User,
    UserRole,
    UserTeam,
)

# In an order that satisfies every foreign key when inserted front to back.
PARTS: tuple[type[pw.Model], ...] = (
    Role, User, Team, UserRole, UserTeam, ApiToken, Form, FormVersion, FormPolicy, Record, Attachment, AuditEvent,
    AuditCheckpoint, Alert, AlertCursor, Setting,
)
BATCHES: dict[type[pw.Model], int] = {Attachment: 8}  # rows per page where a row may hold megabytes (files)
LOCAL_SETTINGS = "backup."  # settings about this installation's backups survive a restore
_TIME = "%Y-%m-%d %H:%M:%S.%f"


def table(model) -> str:
    return model._meta.table_name


def columns(model) -> list[str]:
    return [f.column_name for f in model._meta.sorted_fields]


def _kind(field) -> str:
    if isinstance(field, pw.DateTimeField):
        return "time"
    if isinstance(field, pw.BooleanField):
        return "bool"
    if type(field).__name__ in ("JSONField", "BinaryJSONField"):
        return "json"
    return ""


def kinds(model) -> list[str]:
    return [_kind(f) for f in model._meta.sorted_fields]


def portable(value, kind: str):
    """A stored value as the archive spells it."""
    if value is None:
        return None
    if kind == "time":
        if isinstance(value, str):
            value = db.py_datetime(value)
        return value.strftime(_TIME) if isinstance(value, dt.datetime) else str(value)
    if kind == "bool":
        return bool(value)
    if kind == "json":
        return json.loads(value) if isinstance(value, str) else value
    return value


def stored(value, kind: str):
    """An archive value as the current database takes it."""
    if value is None:
        return None
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if kind == "time" and db.is_postgres():
        return dt.datetime.strptime(value, _TIME)
    return value


def select_sql(model, cols: list[str]) -> str:
    quoted = ", ".join(f'"{c}"' for c in cols)
    order = "seq" if model is AuditEvent else "id"
    return f'SELECT {quoted} FROM "{table(model)}" WHERE "{order}" > ? ORDER BY "{order}" LIMIT ?'  # noqa: S608 - names from the models


def insert_sql(model, cols: list[str]) -> str:
    quoted = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join("json(?)" if k == "json" else "?" for k in kinds_for(model, cols))
    return f'INSERT INTO "{table(model)}" ({quoted}) VALUES ({marks})'  # noqa: S608 - names from the models


def kinds_for(model, cols: list[str]) -> list[str]:
    by_name = {f.column_name: _kind(f) for f in model._meta.sorted_fields}
    return [by_name.get(c, "") for c in cols]


def _stored_time_ok(value) -> bool:
    return isinstance(value, str) and len(value) == 26 and value[10] == " "


def stream_rows(model, batch: int = 5000):
    """Every row of `model`'s table in key order, as portable lists, a batch at a time. Only
    the columns that need it are converted (most values are already portable)."""
    cols = columns(model)
    convert = [(i, k) for i, k in enumerate(kinds(model)) if k]
    order_at = cols.index("seq" if model is AuditEvent else "id")
    sql = select_sql(model, cols)
    last = -1
    while True:
        page = db.fetchall(sql, (last, batch))
        if not page:
            return
        if convert:
            rows = []
            for row in page:
                row = list(row)
                for i, k in convert:
                    value = row[i]
                    if value is not None and not (k == "time" and _stored_time_ok(value)):
                        row[i] = portable(value, k)
                rows.append(row)
            yield rows
        else:
            yield page
        last = page[-1][order_at]


def snapshot() -> dict[str, list]:
    """Every archived table as portable rows (tests and drills compare two databases with it)."""
    out: dict[str, list] = {}
    for model in PARTS:
        out[table(model)] = [row for page in stream_rows(model) for row in page]
    return out
