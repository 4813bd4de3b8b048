"""Links between records (`x-ref` fields): their titles wherever a reference is shown, and the
search-as-you-type picker that sets one. Titles come through the gate: a reference to a record
the reader may not open shows that a link exists, never the linked record's title."""
from __future__ import annotations

import re

from flask import Blueprint, abort, g, render_template, request

from formwarden.access.permissions import Perm
from formwarden.arguments import FIELD_NAME, text_arg
from formwarden.forms import versions
from formwarden.http.context import actor
from formwarden.http.guard import requires
from formwarden.records import service
from formwarden.records.query import MAX_SEARCH, ListQuery

bp = Blueprint("references", __name__)
PICK_RESULTS = 8


def _cache() -> dict:
    if "ref_titles" not in g:
        g.ref_titles = {}
    return g.ref_titles


def prefetch(formdef, items) -> None:
    """Look up, in one query per referenced form, the titles a list page is about to show."""
    cache = _cache()
    for fd in formdef.fields.values():
        if fd.ref:
            ids = {item.data.get(fd.name) for item in items} - {None}
            found = service.ref_titles(actor(), fd.ref, ids, fd.ref_display)
            cache.update({(fd.ref, i, fd.ref_display): found.get(i) for i in ids if isinstance(i, int)})


@bp.app_template_global("ref_title")
def ref_title(form_key: str, record_id, shown_by: str | None = None) -> str | None:
    """The title of the linked record as the reader sees it (or its field `shown_by`, a link
    field's display field); None when they may not open it."""
    if not isinstance(record_id, int) or isinstance(record_id, bool):
        return None
    cache = _cache()
    key = (form_key, record_id, shown_by)
    if key not in cache:
        cache[key] = service.ref_titles(actor(), form_key, [record_id], shown_by).get(record_id)
    return cache[key]


@bp.app_template_global("record_title")
def record_title(formdef, data: dict) -> str:
    """A record's title as the reader sees it: its title field's value, or the linked record's
    title when the title field is a link ("" when it has none, or the reader may not see it)."""
    name = formdef.title_field
    fd = formdef.fields.get(name) if name else None
    value = data.get(name) if fd is not None else None
    if fd is None or value in (None, "") or name in formdef.restricted_fields:
        return ""
    if fd.ref:
        return ref_title(fd.ref, value, fd.ref_display) or ""
    return str(value)


_FILTER = re.compile(r"^filter\[([a-z][a-z0-9_]{0,47})\]$")


def _target() -> str:
    """The input the picker sets: a link field of a record form, or a list's filter on one."""
    name = request.args.get("for", "")
    if not FIELD_NAME.match(name) and not _FILTER.match(name):
        abort(400)
    return name


@bp.route("/pick/<ref_form>")
@requires(Perm.RECORDS)
def search(ref_form):
    """HTMX: records of `ref_form` the user may read matching the typed text."""
    name = _target()
    text = text_arg(request.args, "_pick_q" if request.args.get("_pick_q") else "q", MAX_SEARCH)
    page = service.list_records(actor(), ref_form, ListQuery(search=text, per_page=PICK_RESULTS)) if text else None
    formdef = versions.current(ref_form)[1]
    by = _shown_by(formdef)
    shown = by or formdef.title_field
    extra = [n for n in formdef.list_fields if n != shown and formdef.fields[n].type in ("string", "array")
             and not formdef.fields[n].options and n != formdef.owner_field][:2]
    return render_template("records/_ref_results.html", page=page, name=name, ref=ref_form, text=text,
                           title_field=shown, extra=extra, by=by)


def _shown_by(formdef) -> str | None:
    """The field a picker names records by (`by`, a link field's display field), if it is one."""
    by = request.args.get("by") or None
    return by if by in formdef.fields else None


@bp.route("/pick/<ref_form>/<int:record_id>")
@requires(Perm.RECORDS)
def choose(ref_form, record_id):
    """HTMX: the picker with `record_id` chosen (0 clears it)."""
    name = _target()
    by = _shown_by(versions.current(ref_form)[1])
    title = None
    if record_id:
        title = ref_title(ref_form, record_id, by)
        if title is None:
            abort(404)
    return render_template("records/_ref_picker.html", name=name, ref=ref_form,
                           value=record_id or None, title=title, by=by)
