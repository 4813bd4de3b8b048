"""Files of `attachment` fields: upload, bind to a record, read through the gate.

A file is checked (size, and its kind sniffed from its first bytes: the name and the browser's
content type are never trusted), encrypted under the field key bound to its token, and kept in
the database (it commits with its record and travels in every backup). A record stores only the
token. Until a record holds it, only its uploader may use it (for an hour); afterwards whoever
may read that field of that record may download it, and each download is an audit event.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass

from formwarden.access.actor import Actor
from formwarden.audit import record_event
from formwarden.crypto.fields import open_bytes, seal_bytes
from formwarden.db import write_transaction
from formwarden.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from formwarden.forms.definition import FormDef
from formwarden.models import Attachment, Form, utcnow

MAX_BYTES = 5 * 1024 * 1024
FORMAT = "attachment"
TOKEN = re.compile(r"[0-9a-f]{32}")
UNBOUND_FOR = dt.timedelta(hours=1)  # an upload no record holds is usable this long, by its uploader
PRUNE_AFTER = dt.timedelta(days=1)  # … and deleted after this (the hourly prune job)
# What one person may hold in uploads no record holds yet, and upload per window: nobody fills
# the database (and every backup) with files that never become part of a record.
UNBOUND_QUOTA_BYTES = 50 * 1024 * 1024
UNBOUND_QUOTA_FILES = 40
RATE_WINDOW = dt.timedelta(minutes=10)
RATE_FILES = 60
# kind: (content type, extensions); the first bytes decide the kind.
KINDS = {
    "pdf": ("application/pdf", (".pdf",)),
    "png": ("image/png", (".png",)),
    "jpeg": ("image/jpeg", (".jpg", ".jpeg")),
    "gif": ("image/gif", (".gif",)),
    "webp": ("image/webp", (".webp",)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (".docx",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",)),
    "text": ("text/plain; charset=utf-8", (".txt", ".csv")),
}


@dataclass(frozen=True)
class FileInfo:
    token: str
    form_key: str
    field: str
    record_id: int | None
    name: str
    content_type: str
    size: int
    uploaded_by: int | None


def _kind(data: bytes, name: str) -> str | None:
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"PK\x03\x04") and ext in (".docx", ".xlsx"):
        return ext[1:]
    if ext in (".txt", ".csv") and b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "text"
    return None


def clean_name(name: str) -> str:
    """A file name to show and offer on download: no folders, no control characters, 120 at most."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C").strip()
    return (base or "file")[-120:]


def _bad(field: str, message: str, code: str) -> Invalid:
    return Invalid(message, field=field, code=code, details=[{"field": field, "code": code, "message": message}])


def attachment_fields(formdef: FormDef) -> list[str]:
    return [n for n, fd in formdef.fields.items() if fd.format == FORMAT]


def store(actor: Actor, form: Form, formdef: FormDef, field: str, filename: str, data: bytes, *, may_write: bool) -> str:
    """Keep an uploaded file for `field` and return its token. `may_write`: the gate's answer
    whether this person may write the field (on the record being created or edited)."""
    fd = formdef.fields.get(field)
    if fd is None or fd.format != FORMAT:
        raise _bad(field, "this field does not take files", "not_a_file_field")
    if not may_write:
        raise Forbidden(f"you may not write field {field!r}", field=field, code="field_not_writable")
    if not data:
        raise _bad(field, "the file is empty", "empty_file")
    if len(data) > MAX_BYTES:
        raise _bad(field, f"a file may be at most {MAX_BYTES // (1024 * 1024)} MB", "file_too_large")
    name = clean_name(filename)
    kind = _kind(data, name)
    if kind is None:
        raise _bad(field, "only PDF, images (PNG, JPEG, GIF, WebP), Word, Excel and text files are accepted",
                   "file_type")
    token = secrets.token_hex(16)
    sealed = base64.b64encode(seal_bytes(data, f"attachment:{token}")).decode("ascii")
    with write_transaction():
        _check_quota(actor, len(data))
        Attachment.create(token=token, form=form.id, field=field, name=name, content_type=KINDS[kind][0],
                          size=len(data), sha256=hashlib.sha256(data).hexdigest(), content=sealed,
                          uploaded_by=actor.user_id)
        record_event(actor, "attachment_upload", form_key=form.key,
                     diff={"field": [None, field], "file": [None, token], "name": [None, name], "size": [None, len(data)]})
    return token


def _check_quota(actor: Actor, size: int) -> None:
    """Inside the upload's transaction (so two uploads cannot both pass): the person's unbound
    files stay within the quota, and their uploads within the rate."""
    now = utcnow()
    mine = Attachment.select().where(Attachment.uploaded_by == actor.user_id)
    recent = mine.where(Attachment.created_at >= now - RATE_WINDOW).count()
    if recent >= RATE_FILES:
        refused = RateLimited(f"at most {RATE_FILES} files per {int(RATE_WINDOW.total_seconds() // 60)} minutes: "
                              "try again later", field="file", code="upload_rate")
        refused.retry_after = int(RATE_WINDOW.total_seconds())
        raise refused
    unbound = mine.where(Attachment.record_id.is_null(), Attachment.created_at >= now - PRUNE_AFTER)
    count = unbound.count()
    held = sum(row.size for row in unbound.select(Attachment.size))
    if count >= UNBOUND_QUOTA_FILES or held + size > UNBOUND_QUOTA_BYTES:
        refused = RateLimited("you have too many uploaded files that no record holds yet: save or discard the forms "
                              "that use them, or wait a day", field="file", code="upload_quota")
        refused.retry_after = 3600  # the hourly prune frees what no record took
        raise refused


def prune_unbound(older_than: dt.timedelta = PRUNE_AFTER) -> int:
    """Delete uploads no record took within `older_than` (the hourly job); returns how many."""
    with write_transaction():
        return Attachment.delete().where(Attachment.record_id.is_null(),
                                         Attachment.created_at < utcnow() - older_than).execute()


def check_tokens(actor: Actor, form: Form, formdef: FormDef, data: dict, record_id: int | None = None) -> None:
    """Every file token in `data` names a file of this form and field that this person uploaded
    and no record holds yet, or the one this record already holds."""
    for name in attachment_fields(formdef):
        token = data.get(name)
        if token is None:
            continue
        row = Attachment.get_or_none(Attachment.token == token) if isinstance(token, str) and TOKEN.fullmatch(token) \
            else None
        ok = row is not None and row.form_id == form.id and row.field == name and (  # type: ignore[attr-defined]
            (row.record_id is not None and row.record_id == record_id) or
            (row.record_id is None and row.uploaded_by_id == actor.user_id  # type: ignore[attr-defined]
             and row.created_at >= utcnow() - UNBOUND_FOR))
        if not ok:
            raise _bad(name, "no such uploaded file: upload it again", "unknown_file")


def bind(form: Form, formdef: FormDef, record_id: int, data: dict) -> None:
    """The record now holds these files (inside its write transaction). A file another record
    took meanwhile (two saves racing with one upload) is refused: the transaction rolls back."""
    tokens = {data[n] for n in attachment_fields(formdef) if isinstance(data.get(n), str)}
    if not tokens:
        return
    Attachment.update(record_id=record_id).where(Attachment.token.in_(sorted(tokens)),
                                                 Attachment.record_id.is_null()).execute()
    held = Attachment.select().where(Attachment.token.in_(sorted(tokens)), Attachment.record_id == record_id).count()
    if held != len(tokens):
        raise Conflict("an uploaded file was saved with another record meanwhile: upload it again",
                       code="file_taken")


def restore_files(record_id: int, rows: list[dict]) -> int:
    """Put a record's files back from archived rows (inside the record's restore transaction):
    each under its own token, sealed as archived; a file still held live is left as it is.
    Returns how many came back."""
    back = 0
    for row in rows:
        token = row.get("token")
        if not isinstance(token, str) or not TOKEN.fullmatch(token):
            continue
        live = Attachment.get_or_none(Attachment.token == token)
        if live is not None:
            if live.record_id is None:
                Attachment.update(record_id=record_id).where(Attachment.id == live.id).execute()
            continue
        Attachment.insert(token=token, form=row["form_id"], field=row["field"], record_id=record_id, name=row["name"],
                          content_type=row["content_type"], size=row["size"], sha256=row["sha256"],
                          content=row["content"], uploaded_by=None, created_at=utcnow()).execute()
        back += 1
    return back


def forget_record(record_id: int) -> None:
    """A purged record's files go with it (inside the purge's transaction)."""
    Attachment.delete().where(Attachment.record_id == record_id).execute()


def find(token: str) -> FileInfo:
    row = Attachment.get_or_none(Attachment.token == token) if TOKEN.fullmatch(token or "") else None
    if row is None:
        raise NotFound("no such file", code="unknown_file")
    form = Form.get_by_id(row.form_id)  # type: ignore[attr-defined]
    return FileInfo(row.token, form.key, row.field, row.record_id, row.name, row.content_type, row.size,
                    row.uploaded_by_id)  # type: ignore[attr-defined]


def names(tokens) -> dict[str, str]:
    wanted = [t for t in set(tokens) if isinstance(t, str) and TOKEN.fullmatch(t)]
    if not wanted:
        return {}
    return {row.token: row.name for row in Attachment.select(Attachment.token, Attachment.name)
            .where(Attachment.token.in_(wanted))}


def content(info: FileInfo) -> bytes:
    """The file's bytes (the caller has checked the reader's right to the field it belongs to)."""
    row = Attachment.get(Attachment.token == info.token)
    return open_bytes(base64.b64decode(row.content), f"attachment:{info.token}")
