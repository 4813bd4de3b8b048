"""Auto-numbers (流水号): a value the system gives each new record of a form, like SH-20261207-0042:
an optional prefix, an optional date part (the instance's day) and a per-field sequence.

A number is taken inside the write transaction of the record it names, from a counter kept as a
setting (`number.<form id>.<field>`), so two records never get the same one. Numbers are never
handed out again: not after a delete or a purge, and not after a restore of an older archive
(the restore keeps each counter at the higher of the two, backup/swap.py)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from formwarden import db
from formwarden.config import DEFAULT_ZONE, instance_zone
from formwarden.errors import Invalid
from formwarden.forms.definition import FormDef
from formwarden.models import utcnow

PREFIX = "number."
DATE_PARTS = {"": "", "YYYYMMDD": "%Y%m%d", "YYMMDD": "%y%m%d", "YYYYMM": "%Y%m"}
_NEXT = ("INSERT INTO setting (key, value, updated_at) VALUES (?, '1', ?) "
         "ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(setting.value AS INTEGER) + 1 AS TEXT), "
         "updated_at = excluded.updated_at RETURNING value")


def counter_key(form_id: int, field: str) -> str:
    return f"{PREFIX}{form_id}.{field}"


def refuse_assigned(formdef: FormDef, data: dict) -> None:
    """A value sent for an auto-number (a change of it, on an update): refused (422), never stored."""
    for name in data:
        fd = formdef.fields.get(name)
        if fd is not None and fd.assigned:
            raise Invalid(f"{name}: the system assigns this number; it cannot be sent or changed", field=name,
                          code="system_assigned")


def today() -> dt.date:
    try:
        zone = ZoneInfo(instance_zone())
    except (KeyError, ValueError):
        zone = ZoneInfo(DEFAULT_ZONE)
    return dt.datetime.now(dt.UTC).astimezone(zone).date()


def assign(form_id: int, formdef: FormDef, data: dict) -> dict:
    """`data` with a fresh number in each auto-number field (call inside the write transaction)."""
    out = dict(data)
    stamp = db.db_datetime(utcnow())
    for name, fd in formdef.fields.items():
        if not fd.assigned:
            continue
        spec = fd.schema["x-autonumber"]
        n = int(db.fetchone(_NEXT, (counter_key(form_id, name), stamp))[0])
        out[name] = f"{spec.get('prefix', '')}{today().strftime(DATE_PARTS.get(spec.get('date', ''), ''))}" \
                    f"{n:0{int(spec.get('digits', 4))}d}"
    return out


def counters() -> dict[str, int]:
    """Every counter's last number (what a restore must not go below)."""
    return {key: int(value) for key, value in db.fetchall(
        "SELECT key, value FROM setting WHERE key LIKE ?", (PREFIX + "%",)) if str(value).isdigit()}


def keep_ahead(before: dict[str, int]) -> None:
    """After a restore: each counter at least where it was (numbers handed out since the archive
    are never handed out again)."""
    now = counters()
    stamp = db.db_datetime(utcnow())
    for key, last in before.items():
        if now.get(key, 0) < last:
            db.execute("DELETE FROM setting WHERE key = ?", (key,))
            db.execute("INSERT INTO setting (key, value, updated_at) VALUES (?, ?, ?)", (key, str(last), stamp))
