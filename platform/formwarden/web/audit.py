"""The audit page (administrators and auditors): combined filters, HTMX paging, CSV export."""
from __future__ import annotations

import csv
import io
import json

from flask import Blueprint, request
from flask_babel import gettext as _

from formwarden.access.permissions import Perm
from formwarden.audit import actions, record_event
from formwarden.audit import search as audit_search
from formwarden.db import write_transaction
from formwarden.errors import Invalid
from formwarden.forms import versions
from formwarden.http.context import actor
from formwarden.http.guard import requires
from formwarden.http.rendering import page_or_block
from formwarden.records.export import spreadsheet_safe

bp = Blueprint("audit", __name__)
EXPORT_LIMIT = 200_000



@bp.route("/audit")
@requires(Perm.AUDIT_READ)
def search():
    q = audit_search.query_from_args(request.args)
    items, total = audit_search.search_events(actor(), q)
    forms = {form.key: formdef for form, formdef in versions.all_forms()}
    pages = max(1, -(-total // q.per_page))
    return page_or_block("audit/search.html", "results", items=items, total=total, q=q, pages=pages,
                         forms=forms, actions=actions.ACTIONS, args=request.args)


@bp.route("/audit/export.csv")
@requires(Perm.AUDIT_READ)
def export():
    """The matching events as CSV (UTF-8 with BOM for spreadsheet tools); the export is audited."""
    q = audit_search.query_from_args(request.args)
    who = actor()
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["seq", "at_utc", "actor", "action", "form", "record", "changes", "changed_without_access",
                     "reason", "ip", "user_agent", "request_id"])
    count = 0
    for e in audit_search.iter_events(who, q):
        count += 1
        if count > EXPORT_LIMIT:
            raise Invalid(_("More than %(n)s events match; narrow the filters.", n=EXPORT_LIMIT), code="too_many")
        # Every text cell is defused: an actor name can be whatever someone typed at the sign-in form.
        writer.writerow([e.seq, e.at.isoformat(), _cell(e.actor), e.action, _cell(e.form or ""), e.record or "",
                         _cell(e.changes), _cell(" ".join(e.hidden_changes)), _cell(e.reason), _cell(e.ip),
                         _cell(e.user_agent), _cell(e.request_id)])
    with write_transaction():
        record_event(who, "audit_export", diff={"count": [None, count],
                                                "filters": [None, {k: v for k, v in request.args.items()}]})
    return out.getvalue(), 200, {"Content-Type": "text/csv; charset=utf-8",
                                 "Content-Disposition": "attachment; filename=audit-events.csv"}


def _cell(value) -> str:
    return spreadsheet_safe(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
