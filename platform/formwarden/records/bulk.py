"""Bulk actions and CSV imports: many records in one all-or-nothing transaction.

Each record gets the same audit event a single change writes (through `service`), and the
batch adds one summary event (`bulk_update`, `bulk_delete`, `import`) that names the records.
A problem with any record stops the whole batch and names the record (or CSV row) and field.
"""
from __future__ import annotations

import csv
import io
import os
import re
import uuid
import zipfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.datastructures import MultiDict

from formwarden.access import gate
from formwarden.access.actor import Actor
from formwarden.arguments import undefused
from formwarden.audit import record_event
from formwarden.crypto.fields import open_bytes, seal_bytes
from formwarden.db import write_transaction
from formwarden.errors import DomainError, Forbidden, Invalid
from formwarden.forms import versions
from formwarden.forms.definition import FormDef
from formwarden.forms.validation import coerce_form_input
from formwarden.models import User
from formwarden.records import service
from formwarden.records.export import SYSTEM_COLUMNS

MAX_BULK = 500
MAX_IMPORT_ROWS = 5000
MAX_IMPORT_ERRORS = 50
MAX_UNPACKED = 64 * 2**20  # an .xlsx is a zip: what its parts may unpack to, at most


def _ids(ids) -> list[int]:
    if not isinstance(ids, list) or not ids:
        raise Invalid("choose at least one record", field="ids", code="required")
    if len(ids) > MAX_BULK:
        raise Invalid(f"at most {MAX_BULK} records at once", field="ids", code="too_many")
    out: list[int] = []
    for value in ids:
        try:
            rid = int(value)
        except (TypeError, ValueError):
            raise Invalid(f"{value!r} is not a record id", field="ids", code="invalid_id") from None
        if isinstance(value, bool) or rid < 1:
            raise Invalid(f"{value!r} is not a record id", field="ids", code="invalid_id")
        if rid not in out:
            out.append(rid)
    return out


@contextmanager
def _about(record_id: int):
    """Re-raise a record's error with the record named, keeping its status and code."""
    try:
        yield
    except DomainError as exc:
        exc.message = f"record {record_id}: {exc.message}"
        exc.details = [{**d, "record": record_id} for d in exc.details] or [
            {"field": exc.field or "", "code": exc.code, "message": exc.message, "record": record_id}]
        raise


def bulk_update(actor: Actor, form_key: str, ids, changes: dict, *, reason: str = "") -> int:
    """Apply the same `changes` to every record in `ids`; all or none."""
    form, formdef = versions.current(form_key)
    ids = _ids(ids)
    if not isinstance(changes, dict) or not changes:
        raise Invalid("choose a field and a value", field="data", code="required")
    with write_transaction():
        for rid in ids:
            with _about(rid):
                rec = service.load_in_scope(actor, formdef, form, rid, "update")
                service.apply_changes(actor, form, formdef, rec, changes, expected_version=None, reason=reason,
                                      action="update")
        record_event(actor, "bulk_update", form_key=form.key,
                     diff={"records": [None, ids], "fields": [None, sorted(changes)]}, reason=reason)
    return len(ids)


def bulk_delete(actor: Actor, form_key: str, ids, *, reason: str = "") -> int:
    """Move every record in `ids` to the recycle bin; all or none."""
    form, _ = versions.current(form_key)
    ids = _ids(ids)
    with write_transaction():
        for rid in ids:
            with _about(rid):
                service.delete_record(actor, form_key, rid, reason=reason)
        record_event(actor, "bulk_delete", form_key=form.key, diff={"records": [None, ids]}, reason=reason)
    return len(ids)


# --- CSV import ---------------------------------------------------------------------------

def _column_names(formdef: FormDef) -> dict[str, str]:
    """Header spellings accepted for each field: its name and its labels in every language."""
    names: dict[str, str] = {}
    for name, fd in formdef.fields.items():
        names[name.casefold()] = name
        for label in fd.schema.get("x-label", {}).values():
            names[str(label).strip().casefold()] = name
    return names


def _option_value(fd, raw: str) -> str:
    """An option given by its value or by its label in any language."""
    for locale in (fd.schema.get("x-enum-labels") or {}):
        for opt, label in fd.option_labels(locale):
            if raw == label:
                return str(opt)
    return raw


# Columns an export adds around the fields (records.export.SYSTEM_COLUMNS), in either language:
# an exported file comes back as new records, so they are skipped.
EXPORT_ONLY = frozenset({*SYSTEM_COLUMNS} | {label.casefold() for labels in SYSTEM_COLUMNS.values()
                                              for label in labels.values()})
_REF = re.compile(r"#\s*([0-9]+)\)?\s*$")


def _ref_value(raw: str) -> str:
    """A linked record given by number, as exported ("王小明 (#60)", "#60") or bare ("60")."""
    found = _REF.search(raw)
    return found.group(1) if found else raw


@dataclass
class CsvRows:
    """A CSV file read into typed rows, with every problem found on the way (row, column, problem)."""

    rows: list[dict] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)  # each row's line in the file (the header is 1)
    problems: list[dict] = field(default_factory=list)


def parse_csv(formdef: FormDef, text: str) -> CsvRows:
    """Read every row of a CSV file (see `parse_table`)."""
    return parse_table(formdef, csv.reader(io.StringIO(text.lstrip("\ufeff"))))  # Excel writes a byte-order mark


def parse_upload(formdef: FormDef, content: bytes) -> CsvRows:
    """An uploaded CSV (UTF-8) or Excel workbook (its first sheet), read the same way."""
    if content[:4] == b"PK\x03\x04":
        return parse_table(formdef, xlsx_rows(content))
    try:
        return parse_csv(formdef, content.decode("utf-8"))
    except UnicodeDecodeError:
        raise Invalid("the file is neither UTF-8 CSV nor an Excel workbook", field="file", code="not_utf8") from None


def xlsx_rows(content: bytes):
    """The first sheet's rows as text cells, as an export wrote them (dates as YYYY-MM-DD, whole
    numbers without ".0"); stops at MAX_IMPORT_ROWS + 1 rows and 200 columns."""
    import datetime as dt

    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as packed:  # a few KB may unpack to gigabytes
            unpacked = sum(item.file_size for item in packed.infolist())
    except zipfile.BadZipFile:
        raise Invalid("the Excel file cannot be read", field="file", code="bad_workbook") from None
    if unpacked > MAX_UNPACKED:
        raise Invalid(f"the Excel file unpacks to more than {MAX_UNPACKED // 2**20} MB", field="file", code="too_large")
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - any unreadable workbook is the same problem for the person
        raise Invalid("the Excel file cannot be read", field="file", code="bad_workbook") from None
    try:
        sheet = book.worksheets[0]
        for index, row in enumerate(sheet.iter_rows(values_only=True, max_col=200)):
            if index > MAX_IMPORT_ROWS + 1:
                break
            cells = []
            for value in row:
                if value is None:
                    cells.append("")
                elif isinstance(value, dt.datetime):
                    cells.append(value.date().isoformat() if value.time() == dt.time() else value.isoformat(" "))
                elif isinstance(value, dt.date):
                    cells.append(value.isoformat())
                elif isinstance(value, float) and value.is_integer():
                    cells.append(str(int(value)))
                else:
                    cells.append(str(value))
            yield cells
    finally:
        book.close()


def usernames_by_display_name() -> dict[str, str]:
    """Display name → username for the display names exactly one account has (exports write
    owners by display name; a name two people share is left to be written as a username)."""
    found: dict[str, list[str]] = {}
    for row in User.select(User.username, User.display_name).where(User.display_name != ""):
        found.setdefault(row.display_name, []).append(row.username)
    return {display: names[0] for display, names in found.items() if len(names) == 1}


def parse_table(formdef: FormDef, reader) -> CsvRows:
    """Read every row; a problem in one cell is listed and the rest of the file still read, so a
    person fixes the whole file at once. Raises Invalid only when the file itself cannot be read
    (empty, no header, a column twice, too many rows)."""
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise Invalid("the file is empty or has no header row", field="file", code="empty_file")
    known = _column_names(formdef)
    out = CsvRows()
    columns: list[str] = []
    for h in header:
        h = undefused(h.strip())  # a template or export defused a label that starts like a formula
        name = known.get(h.casefold())
        if name is not None and formdef.fields[name].assigned:
            columns.append("")  # an auto-number: each imported record gets its own, as when saved by hand
            continue
        if name is None:
            if h.strip().casefold() not in EXPORT_ONLY and h.strip():
                out.problems.append({"row": 1, "field": h.strip(), "code": "unknown_field", "message": "Unknown column."})
            columns.append("")  # an exported file comes back as new records: its numbers are not kept
            continue
        if name in columns:
            raise Invalid(f"column {h.strip()!r} appears twice", field=name, code="duplicate_column")
        columns.append(name)
    people = usernames_by_display_name() if formdef.owner_field in columns else {}
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(out.rows) >= MAX_IMPORT_ROWS:
            raise Invalid(f"at most {MAX_IMPORT_ROWS} rows per import", field="file", code="too_many")
        if len(values) > len(columns):
            out.problems.append({"row": number, "field": "", "code": "extra_values", "message": "More values than columns."})
        form: MultiDict = MultiDict()
        for name, raw in zip(columns, values, strict=False):
            if not name:
                continue
            fd = formdef.fields[name]
            raw = raw.strip()
            if fd.type == "array":
                for part in raw.replace("；", ";").replace("，", ";").replace(",", ";").split(";"):
                    if part.strip():
                        form.add(name, _option_value(fd, part.strip()) if fd.options else part.strip())
            elif fd.ref:
                form.add(name, _ref_value(raw))
            elif name == formdef.owner_field and raw:
                form.add(name, people.get(raw, raw))
            else:
                form.add(name, _option_value(fd, raw) if fd.options and raw else raw)
        data, problems = coerce_form_input(formdef, form, [c for c in columns if c])
        out.problems += [{"row": number, **p.as_dict()} for p in problems]
        out.rows.append({k: v for k, v in data.items() if v not in (None, [])})
        out.numbers.append(number)
    if not out.rows and not out.problems:
        raise Invalid("the file has no rows to import", field="file", code="empty_file")
    return out


def read_csv(formdef: FormDef, text: str) -> list[dict]:
    """The typed rows of a CSV file; Invalid listing every problem (row, column) if it has any."""
    parsed = parse_csv(formdef, text)
    if parsed.problems:
        raise Invalid(f"{len(parsed.problems)} problem(s) in the file", field="file", code="import_failed",
                      details=parsed.problems[:MAX_IMPORT_ERRORS])
    return parsed.rows


def import_rows(actor: Actor, form_key: str, rows: Iterable[dict], *, source: str = "",
                on_progress: Callable[[int, int], None] = lambda done, total: None,
                numbers: list[int] | None = None, problems=()) -> int:
    """Create one record per row: every row is checked first, then all are written in one
    transaction, or none when any row has a problem (each listed with its row number)."""
    form, formdef = versions.current(form_key)
    # A file exported by this person carries masked values where they see masks: those cells
    # are no data to write, so a file comes back in unchanged.
    masked = {n for n in formdef.fields if gate.rights(actor, formdef).level(n) == "masked"}
    rows = [{k: v for k, v in row.items() if not (k in masked and isinstance(v, str) and "*" in v)} for row in rows]
    prepared, errors = [], list(problems)
    reported = {(p.get("row"), p.get("field")) for p in errors}
    for index, row in enumerate(rows):
        number = numbers[index] if numbers else index + 2
        try:
            prepared.append(service.prepare_create(actor, formdef, row))
        except (Invalid, Forbidden) as exc:
            for d in exc.details or [{"field": exc.field or "", "code": exc.code, "message": exc.message}]:
                if (number, d.get("field")) not in reported:  # a cell already named keeps its first problem
                    reported.add((number, d.get("field")))
                    errors.append({**d, "row": number})
        if len(errors) >= MAX_IMPORT_ERRORS:
            break
        if (index + 1) % 100 == 0:
            on_progress(index + 1, len(rows))
    if errors:
        order = {name: i for i, name in enumerate(formdef.layout_order)}
        errors.sort(key=lambda e: (e.get("row") or 0, order.get(e.get("field") or "", -1)))
        raise Invalid(f"{len(errors)} problem(s) in the file; nothing was imported", field="file",
                      code="import_failed", details=errors[:MAX_IMPORT_ERRORS])
    with write_transaction():
        for new in prepared:
            service.insert_record(actor, form, formdef, new)
        record_event(actor, "import", form_key=form.key, diff={"rows": [None, len(prepared)],
                                                               "file": [None, source[:200]]})
    on_progress(len(rows), len(rows))
    return len(prepared)


def request_import(actor: Actor, form_key: str, filename: str, content: bytes, directory: Path, submit) -> str:
    """Check the create right now (the job checks every row again), keep the file encrypted
    under `directory` (it may hold restricted values) and queue the job; returns its id."""
    _, formdef = versions.current(form_key)
    gate.require(actor, formdef, "create")
    if not content.strip():
        raise Invalid("choose a CSV or Excel file", field="file", code="no_file")
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.csv.enc"
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(seal_bytes(content, name))
    try:
        run = submit("import", "formwarden.jobs.imports.run_import", "imports", actor.user_id,
                     {"form": form_key, "path": str(path), "name": (filename or "")[:200],
                      "origin": actor.origin()})
    except Exception:
        path.unlink(missing_ok=True)  # nothing will ever read it
        raise
    return run.job_id


def read_upload(path: Path) -> bytes:
    """The content of an upload kept by `request_import` (checked and opened)."""
    return open_bytes(path.read_bytes(), path.name)
