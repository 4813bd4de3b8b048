"""Restore one record from an archive into the live data (see records/recovery.py)."""
from __future__ import annotations

from pathlib import Path

from formwarden.access.actor import Actor
from formwarden.backup.archive import ArchiveError
from formwarden.backup.restore import check_compatible, open_archive
from formwarden.backup.tables import table
from formwarden.models import Attachment, Form, Record
from formwarden.records.recovery import bring_back


def find_record(path: Path, form_key: str, record_id: int) -> dict:
    """The archived row of record `record_id` of form `form_key`, with the rows of the files it
    held under "files" (the whole archive is read and authenticated on the way, so a damaged
    archive never yields a record)."""
    form_ids: dict[int, str] = {}
    found = None
    files: list[dict] = []
    with open_archive(path) as opened:
        check_compatible(opened.manifest)
        cols: list[str] = []
        current = ""
        for event, value in opened.reader.read():
            if event == "part":
                current, cols = value["name"], value["columns"]  # type: ignore[index]
            elif event == "rows" and current == table(Form):
                for row in value:  # type: ignore[attr-defined]
                    item = dict(zip(cols, row))
                    form_ids[item["id"]] = item["key"]
            elif event == "rows" and current == table(Record):
                at = cols.index("id")
                for row in value:  # type: ignore[attr-defined]
                    if row[at] == record_id:
                        found = dict(zip(cols, row))
            elif event == "rows" and current == table(Attachment):
                at = cols.index("record_id")
                files += [dict(zip(cols, row)) for row in value if row[at] == record_id]  # type: ignore[attr-defined]
    if found is None or form_ids.get(found["form_id"]) != form_key:
        raise ArchiveError(f"the archive holds no record {record_id} of form {form_key}", "record_not_in_archive")
    return {**found, "files": [f for f in files if f["form_id"] == found["form_id"]]}


def restore_one(actor: Actor, path: Path, form_key: str, record_id: int, reason: str) -> tuple[int, str]:
    return bring_back(actor, form_key, find_record(path, form_key, record_id), archive=path.name, reason=reason)
