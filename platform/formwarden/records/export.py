"""CSV export of the records an actor may export, projected through the gate like any read."""
from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from peewee import fn

from formwarden.access import gate
from formwarden.access.actor import Actor
from formwarden.arguments import SafeCsvWriter, spreadsheet_safe
from formwarden.audit import record_event
from formwarden.config import DEFAULT_ZONE, instance_zone
from formwarden.db import write_transaction
from formwarden.errors import Forbidden, Invalid, NotFound
from formwarden.forms import versions
from formwarden.models import User, utcnow
from formwarden.records import attachments
from formwarden.records.query import ListQuery
from formwarden.records.service import MAX_PER_PAGE, list_records, ref_titles


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return spreadsheet_safe(str(value))


def readable_value(fd, value, locale: str, titles: dict):
    """A value as a business reader writes it: choices by their label, a linked record by its
    title and number ("王小明 (#60)"; only "#60" when the reader may not open it). Imports read
    all of these back (records.bulk.read_csv)."""
    if value is None or value == []:
        return None
    if fd.options:
        return [fd.option_label(v, locale) for v in value] if isinstance(value, list) else fd.option_label(value, locale)
    if fd.ref and isinstance(value, int):
        title = titles.get(value)
        return f"{title} (#{value})" if title else f"#{value}"
    if isinstance(value, str) and value in titles:  # an owner by their display name, a file by its name
        return titles[value]
    ft = fd.field_type
    if ft is not None and ft.as_text is not None:  # e.g. money kept in cents, written in yuan
        return ft.as_text(value)
    return value


def page_titles(actor: Actor, formdef, items) -> dict[str, dict]:
    """What one page of records shows instead of ids and usernames: the linked records' titles
    per reference field, and the owners' display names (only where no one else has the same
    one, so an import reads each back to exactly one person)."""
    out: dict[str, dict] = {fd.name: ref_titles(actor, fd.ref, {i.data.get(fd.name) for i in items} - {None},
                                                  fd.ref_display)
                            for fd in formdef.fields.values() if fd.ref}
    for name in attachments.attachment_fields(formdef):
        out[name] = attachments.names(i.data.get(name) for i in items)
    if formdef.owner_field:
        out[formdef.owner_field] = people_names({i.data.get(formdef.owner_field) for i in items} - {None})
    return out


def people_names(usernames) -> dict[str, str]:
    """username → display name, for display names no other account shares."""
    wanted = sorted(u for u in usernames if isinstance(u, str))
    if not wanted:
        return {}
    rows = User.select(User.username, User.display_name).where(User.username.in_(wanted))
    names = {r.username: r.display_name for r in rows if r.display_name and r.display_name != r.username}
    counts = (User.select(User.display_name, fn.COUNT(User.id).alias("n"))
              .where(User.display_name.in_(sorted(set(names.values())))).group_by(User.display_name))
    shared = {row.display_name for row in counts if getattr(row, "n", 0) > 1}
    return {u: n for u, n in names.items() if n not in shared}


FORMATS = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
# The columns an export adds around the fields, named in the reader's language (an import skips them).
SYSTEM_COLUMNS = {
    "id": {"zh-CN": "编号", "en": "Id"}, "version": {"zh-CN": "版本", "en": "Version"},
    "created_at": {"zh-CN": "创建时间", "en": "Created"}, "updated_at": {"zh-CN": "更新时间", "en": "Updated"},
    "created_by": {"zh-CN": "创建人", "en": "Created by"},
}
_LEADING, _TRAILING = ("id",), ("version", "created_at", "updated_at", "created_by")


def _local(value: dt.datetime | None, zone: ZoneInfo) -> dt.datetime | None:
    """A stored (naive UTC) time in the reader's zone, naive again for the spreadsheet."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC).astimezone(zone).replace(tzinfo=None, microsecond=0)


def reader_zone(actor: Actor) -> ZoneInfo:
    try:
        return ZoneInfo(actor.time_zone or instance_zone())
    except (KeyError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def export_csv(actor: Actor, form_key: str, query: ListQuery, path: Path, on_progress=None, fmt: str = "csv",
               base_url: str = "") -> int:
    """Write the actor's exportable records to `path` as CSV or Excel (`fmt`; written to a temp
    file, then renamed). Columns in the form's order, labelled in the actor's language; values
    as `readable_value` writes them, masked as the actor sees them. In Excel, an attachment is a
    link to the file at `base_url` (opening it signs in and checks the reader's right again).

    Raises Forbidden without the export action. Returns the number of records written.
    """
    _, formdef = versions.current(form_key)
    gate.require(actor, formdef, "export")
    shown = set(gate.visible_fields(actor, formdef, action="export"))
    columns = [n for n in formdef.layout_order if n in shown]  # as the form shows them, section by section
    locale = actor.locale if actor.locale in ("zh-CN", "en") else "zh-CN"
    zone = reader_zone(actor)
    # who created a record is shown to those who may see whose it is (the owner field), as on its page
    trailing = [k for k in _TRAILING if k != "created_by" or not formdef.owner_field or formdef.owner_field in shown]
    header = [SYSTEM_COLUMNS[k][locale] for k in _LEADING] + [formdef.fields[c].label(locale) for c in columns] \
        + [SYSTEM_COLUMNS[k][locale] for k in trailing]
    tmp = path.with_suffix(".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # customer data: owner only
    written = 0

    def rows():
        nonlocal written
        page_no = 1
        while True:
            q = ListQuery(filters=query.filters, ranges=query.ranges, search=query.search, search_in=query.search_in,
                          sort_field=None,
                          sort_column="id", descending=False, page=page_no, per_page=MAX_PER_PAGE)
            page = list_records(actor, form_key, q, action="export")
            titles = page_titles(actor, formdef, page.items)
            makers = people_names({i.created_by for i in page.items} - {""})
            for item in page.items:
                yield [item.id] + [
                    (formdef.fields[c], item.data.get(c),
                     readable_value(formdef.fields[c], item.data.get(c), locale, titles.get(c, {})))
                    for c in columns] + [item.version, _local(item.created_at, zone), _local(item.updated_at, zone),
                                         makers.get(item.created_by, item.created_by)][:len(trailing)]
            written += len(page.items)
            if on_progress:
                on_progress(written, page.total)
            if page_no >= page.pages:
                break
            page_no += 1

    n = len(columns)
    if fmt == "xlsx":
        with open(fd, "wb") as book:
            write_xlsx(book, formdef.title(locale), header, rows(), n, base_url)
    else:
        with open(fd, "w", newline="", encoding="utf-8-sig") as text:
            out = SafeCsvWriter(text)
            out.writerow(header)
            for row in rows():
                out.writerow([row[0]] + [_cell(shown) for _fd, _raw, shown in row[1:n + 1]] + [
                    row[n + 1], _cell(row[n + 2] and f"{row[n + 2]:%Y-%m-%d %H:%M}"),
                    _cell(row[n + 3] and f"{row[n + 3]:%Y-%m-%d %H:%M}")] + [_cell(v) for v in row[n + 4:]])
    os.replace(tmp, path)
    with write_transaction():
        record_event(actor, "export", form_key=form_key, diff={"count": [None, written], "format": [None, fmt]})
    return written


def write_xlsx(fh, title: str, header: list[str], rows, fields: int, base_url: str = "") -> None:
    """One sheet an office worker can use at once: a bold, frozen header with filters, columns
    wide enough for their heading, typed cells (numbers; money as numbers in yuan with a ¥ format;
    dates and times as dates), text always written as text (never a formula, whatever it starts
    with). `rows`: the id, then (field, stored value, readable value) per field, then version,
    created, updated and created by."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_sheet_title(title))
    sheet.freeze_panes = "A2"
    for i, text in enumerate(header, start=1):
        wide = sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)  # a Chinese character takes two
        sheet.column_dimensions[get_column_letter(i)].width = min(max(wide + 4, 10), 40)
    bold = Font(bold=True)
    head = []
    for text in header:
        cell = WriteOnlyCell(sheet, value=text)
        cell.data_type = "s"  # a designer's label is text, never a formula
        cell.font = bold
        head.append(cell)
    sheet.append(head)
    count = 0
    for row in rows:
        cells = [row[0]]
        for fd, raw, shown in row[1:fields + 1]:
            cell = _xlsx_cell(sheet, fd, raw, shown, WriteOnlyCell)
            if base_url and fd.format == attachments.FORMAT and isinstance(raw, str) and attachments.TOKEN.fullmatch(raw):
                cell.hyperlink = f"{base_url.rstrip('/')}/files/{raw}"
                cell.style = "Hyperlink"
            cells.append(cell)
        version, created, updated, *maker = row[fields + 1:]
        cells.append(version)
        for when in (created, updated):
            cell = WriteOnlyCell(sheet, value=when)
            cell.number_format = "yyyy-mm-dd hh:mm"
            cells.append(cell)
        if maker:  # "created by", when the reader may see it
            cells.append(_text(sheet, maker[0], WriteOnlyCell) if maker[0] else None)
        sheet.append(cells)
        count += 1
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{count + 1}"
    book.save(fh)


def _sheet_title(title: str) -> str:
    return "".join(ch for ch in title if ch not in "[]:*?/\\")[:31] or "Sheet1"


def _text(sheet, value, cell_type):
    cell = cell_type(sheet, value=str(value))
    cell.data_type = "s"  # text stays text: "=cmd|..." is never a formula
    return cell


MONEY_FORMAT = '"¥"#,##0.00'


def _xlsx_cell(sheet, fd, raw, value, cell_type):
    """A field's cell: `raw` as stored (as the reader may see it), `value` as a person reads it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if fd.widget == "money" and isinstance(raw, int | float) and not isinstance(raw, bool):
        ft = fd.field_type  # a type that keeps money in fen writes it in yuan: the sheet gets yuan
        amount = float(str(value).replace(",", "")) if ft is not None and ft.as_text is not None else raw
        cell = cell_type(sheet, value=amount)
        cell.number_format = MONEY_FORMAT
        return cell
    if isinstance(value, int | float) and fd.type in ("number", "integer"):
        cell = cell_type(sheet, value=value)
        if fd.type == "number":
            cell.number_format = "#,##0.00"
        return cell
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    if fd.format == "date" and isinstance(value, str):
        try:
            cell = cell_type(sheet, value=dt.date.fromisoformat(value))
            cell.number_format = "yyyy-mm-dd"
            return cell
        except ValueError:
            pass
    return _text(sheet, value, cell_type)


RETENTION = dt.timedelta(hours=24)


def remove_expired(directory: Path, retention: dt.timedelta = RETENTION) -> int:
    """Delete export files older than `retention`; returns how many went."""
    if not directory.is_dir():
        return 0
    cutoff = time.time() - retention.total_seconds()
    gone = 0
    for path in [*directory.glob("*.csv*"), *directory.glob("*.xlsx*")]:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                gone += 1
        except FileNotFoundError:
            pass
    return gone


def open_export(actor: Actor, form_key: str, path: str, created_at: dt.datetime, job_id: str,
                made_under: str) -> Path:
    """The file of a finished export for `actor`, who must still have exactly the rights it was
    made under (`made_under`, see `gate.access_fingerprint`): a revoked role, a changed team or
    policy ends the download. Every download is an audited event. NotFound once the file is past
    its retention."""
    _, formdef = versions.current(form_key)
    gate.require(actor, formdef, "export")
    if made_under != gate.access_fingerprint(actor, formdef):
        raise Forbidden("your access changed since this export was made; export again", code="access_changed")
    file = Path(path) if path else None
    if file is None or not file.exists() or utcnow() - created_at > RETENTION:
        if file is not None:
            file.unlink(missing_ok=True)
        raise NotFound("the file is no longer available; export again", code="export_expired")
    with write_transaction():
        record_event(actor, "export_download", form_key=form_key, diff={"job": [None, job_id]})
    return file


def request_export(actor: Actor, form_key: str, query: ListQuery, submit, fmt: str = "csv",
                   base_url: str = "") -> str:
    """Check the export right now (and again when the job runs), then queue the job; returns its id.

    `submit(kind, func, queue, requested_by, params)` creates the job run (see jobs.runs.submit).
    `base_url` (the address people open Formwarden at) makes an Excel file's attachments links.
    """
    _, formdef = versions.current(form_key)
    gate.require(actor, formdef, "export")
    if fmt not in FORMATS:
        raise Invalid("export as csv or xlsx", field="format", code="unknown_format")
    gate.check_query_fields(actor, formdef, [f for f, _ in query.filters] + [f for f, _, _ in query.ranges])
    run = submit("export", "formwarden.jobs.exports.run_export", "exports", actor.user_id,
                 {"form": form_key, "format": fmt, "filters": [[f, v] for f, v in query.filters],
                  "ranges": [[f, lo, hi] for f, lo, hi in query.ranges], "search": query.search,
                  "search_in": query.search_in, "base_url": base_url,
                  "origin": actor.origin()})
    return run.job_id
