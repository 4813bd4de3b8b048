"""What the home page counts per form, through the gate: what the user may read, their own
records, what is new this week, and their follow-ups that are due."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from formwarden.access import gate
from formwarden.access.actor import Actor
from formwarden.forms import versions
from formwarden.models import Record, utcnow
from formwarden.records.indexes import field_expr, form_is

NEW_DAYS = 7


@dataclass(frozen=True)
class Summary:
    readable: int
    mine: int
    new: int
    due: int | None  # None: the form has no follow-up date, or the user may not read it


def summary(actor: Actor, form_key: str, today: dt.date) -> Summary:
    """Counts for one form; `today` in the user's time zone (a follow-up dated today is due)."""
    form, formdef = versions.current(form_key)
    base = Record.select(Record.id).where(form_is(form.id), Record.deleted_at.is_null())
    readable = gate.scoped(base, actor, formdef, "read")
    mine = readable.where(Record.owner == actor.user_id)
    new = readable.where(Record.created_at >= utcnow() - dt.timedelta(days=NEW_DAYS))
    due = None
    follow = formdef.followup_field
    if follow and gate.rights(actor, formdef).at_least(follow, "read") and follow not in formdef.restricted_fields:
        dated = gate.scoped(base, actor, formdef, "read", [follow]).where(Record.owner == actor.user_id)
        due = dated.where(field_expr(follow).is_null(False), field_expr(follow) <= today.isoformat()).count()
    return Summary(readable.count(), mine.count(), new.count(), due)
