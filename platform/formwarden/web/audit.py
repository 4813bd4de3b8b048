"""The audit page (administrators and auditors): combined filters, HTMX paging, CSV export."""
from __future__ import annotations

from flask import Blueprint, request
from flask_babel import gettext as _

from formwarden.access import gate
from formwarden.access.permissions import Perm
from formwarden.audit import actions
from formwarden.audit import search as audit_search
from formwarden.errors import Invalid
from formwarden.forms import versions
from formwarden.http.context import actor
from formwarden.http.guard import requires
from formwarden.http.rendering import page_or_block

bp = Blueprint("audit", __name__)



@bp.route("/audit")
@requires(Perm.AUDIT_READ)
def search():
    q = audit_search.query_from_args(request.args)
    items, total = audit_search.search_events(actor(), q)
    forms = {form.key: formdef for form, formdef in versions.all_forms()}
    readable = {key for key, formdef in forms.items() if gate.can(actor(), formdef, "read")}
    pages = max(1, -(-total // q.per_page))
    return page_or_block("audit/search.html", "results", items=items, total=total, q=q, pages=pages,
                         count_cap=audit_search.COUNT_CAP, readable_forms=readable,
                         forms=forms, actions=actions.ACTIONS, args=request.args)


@bp.route("/audit/export.csv")
@requires(Perm.AUDIT_READ)
def export():
    """The matching events as CSV (UTF-8 with BOM for spreadsheet tools); the export is audited."""
    q = audit_search.query_from_args(request.args)
    try:
        text = audit_search.export_csv(actor(), q, filters=request.args.to_dict())
    except audit_search.TooMany as exc:
        raise Invalid(_("More than %(n)s events match; narrow the filters.", n=exc.limit), code="too_many") from None
    return text, 200, {"Content-Type": "text/csv; charset=utf-8",
                       "Content-Disposition": "attachment; filename=audit-events.csv"}
