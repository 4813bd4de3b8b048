"""CSV export of the records an actor may export, projected through the gate like any read."""
from __future__ import annotations

import csv
import os
from pathlib import Path

from formwarden.access import gate
from formwarden.access.actor import Actor
from formwarden.audit import record_event
from formwarden.db import write_transaction
from formwarden.forms import versions
from formwarden.records.query import ListQuery
from formwarden.records.service import MAX_PER_PAGE, list_records


def spreadsheet_safe(text: str) -> str:
    """Defuse spreadsheet formula injection: a leading = + - @ would be executed by Excel/WPS."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return spreadsheet_safe(str(value))


def export_csv(actor: Actor, form_key: str, query: ListQuery, path: Path, on_progress=None) -> int:
    """Write the actor's exportable records to `path` (written to a temp file, then renamed).

    Raises Forbidden without the export action. Returns the number of records written.
    """
    _, formdef = versions.current(form_key)
    gate.require(actor, formdef, "export")
    columns = gate.visible_fields(actor, formdef, action="export")
    tmp = path.with_suffix(".part")
    written = 0
    page_no = 1
    with open(tmp, "w", newline="", encoding="utf-8-sig") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "version"] + [formdef.fields[c].label(actor.locale) for c in columns])
        while True:
            q = ListQuery(filters=query.filters, sort_field=None, sort_column="id", descending=False,
                          page=page_no, per_page=MAX_PER_PAGE)
            page = list_records(actor, form_key, q, action="export")
            for item in page.items:
                out.writerow([item.id, item.version] + [_cell(item.data.get(c)) for c in columns])
            written += len(page.items)
            if on_progress:
                on_progress(written, page.total)
            if page_no >= page.pages:
                break
            page_no += 1
    os.replace(tmp, path)
    with write_transaction():
        record_event(actor, "export", form_key=form_key, diff={"count": [None, written]})
    return written


def request_export(actor: Actor, form_key: str, query: ListQuery, submit) -> str:
    """Check the export right now (and again when the job runs), then queue the job; returns its id.

    `submit(kind, func, queue, requested_by, params)` creates the job run (see jobs.runs.submit).
    """
    _, formdef = versions.current(form_key)
    gate.require(actor, formdef, "export")
    gate.check_query_fields(actor, formdef, [f for f, _ in query.filters])
    run = submit("export", "formwarden.jobs.exports.run_export", "exports", actor.user_id,
                 {"form": form_key, "filters": [[f, v] for f, v in query.filters]})
    return run.job_id
