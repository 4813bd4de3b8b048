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
from formwarden.http.errors import page_message
from formwarden.http.guard import requires
from formwarden.http.hooks import remember_people
from formwarden.http.rendering import page_or_block
from formwarden.web.audit_words import label_words, value_words

bp = Blueprint("audit", __name__)



@bp.route("/audit")
@requires(Perm.AUDIT_READ)
def search():
    """The audit search; a bad filter is explained inside the results, so the form stays usable."""
    forms = {form.key: formdef for form, formdef in versions.all_forms()}
    args = request.args.copy()
    name = (args.get("field") or "").strip()
    if name:  # a field may be given by its label in either language, as people see it
        args["field"] = next((fd.name for formdef in forms.values() for fd in formdef.fields.values()
                              if name in (fd.name, *fd.schema.get("x-label", {}).values())), name)
    error = None
    try:
        q = audit_search.query_from_args(args)
        items, total = audit_search.search_events(actor(), q)
        remember_people([e.actor for e in items])
    except Invalid as exc:
        q, items, total, error = audit_search.EventQuery(), [], 0, page_message(exc)
    readable = {key for key, formdef in forms.items() if gate.can(actor(), formdef, "read")}
    pages = max(1, -(-total // q.per_page))
    return page_or_block("audit/search.html", "results", items=items, total=total, q=q, pages=pages,
                         count_cap=audit_search.COUNT_CAP, readable_forms=readable, error=error,
                         forms=forms, actions=actions.ACTIONS, args=request.args, label_words=label_words,
                         value_words=value_words)


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
