"""JSON API v1: records CRUD, list with filters/sort/paging, recycle bin; session or Bearer token."""
from __future__ import annotations

import json
import math
import re
from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, request

from formwarden.access import gate
from formwarden.access.permissions import Perm
from formwarden.api.openapi import openapi_document
from formwarden.arguments import json_too_deep
from formwarden.audit import search as audit_search
from formwarden.errors import BadRequest, Invalid, PreconditionRequired
from formwarden.forms import versions
from formwarden.http.context import actor
from formwarden.http.guard import accepts_upload, public, requires
from formwarden.http.hooks import INT64_MAX
from formwarden.http.jobs import own_run, submit_job
from formwarden.jobs.runs import get_run
from formwarden.records import bulk, history, service
from formwarden.records.attachments import MAX_BYTES as MAX_FILE
from formwarden.records.query import from_args

bp = Blueprint("api", __name__, url_prefix="/api/v1")
BODY_KEYS = {"data", "reason"}


def _body() -> tuple[dict, str]:
    payload = _json_object(BODY_KEYS)
    data = payload.get("data")
    if not isinstance(data, dict):
        raise Invalid("'data' must be a JSON object of field values", field="data", code="invalid_body")
    return data, _reason(payload)


def _reason(payload: dict) -> str:
    reason = payload.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 1000 or "\x00" in reason:
        raise Invalid("'reason' must be a string of at most 1000 characters", field="reason", code="invalid_reason")
    return reason


MAX_DEPTH = 64  # arrays and objects nested in a body
_SURROGATE = re.compile("[\ud800-\udfff]")


def _too_deep(text: str) -> bool:
    return json_too_deep(text, MAX_DEPTH)


class _Duplicated(dict):
    """A JSON object that named a key twice; reported with its place after parsing."""

    duplicate = ""


def _object(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set = set()
    for key, _ in pairs:
        if key in seen:
            break
        seen.add(key)
    twice = _Duplicated(obj)
    twice.duplicate = key
    return twice


def _bad_json(path: tuple, reason: str, code: str) -> BadRequest:
    """Name the form field (inside `data`) or the body key, and give the JSON pointer."""
    if not path:
        return BadRequest(reason, code=code)
    pointer = "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)
    name = path[1] if path[0] == "data" and len(path) > 1 else path[0]
    return BadRequest(f"{reason} at {pointer}", field=str(name), code=code)


def _check_values(value, path: tuple = ()) -> None:
    """Refuse what JSON or the database cannot hold: duplicate keys, NaN/Infinity and numbers
    beyond them, integers outside 64 bits, lone surrogates."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise _bad_json(path, "a lone surrogate is not text", "invalid_character")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _bad_json(path, "numbers must be finite (NaN, Infinity and values beyond 1e308 are not JSON)",
                            "invalid_number")
    elif isinstance(value, int) and not isinstance(value, bool):
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise _bad_json(path, f"whole numbers must lie between {-INT64_MAX - 1} and {INT64_MAX}", "invalid_number")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_values(item, (*path, i))
    elif isinstance(value, dict):
        for key in value:
            if _SURROGATE.search(key):
                raise _bad_json(path, "a key holds a lone surrogate, which is not text", "invalid_character")
        if isinstance(value, _Duplicated):
            raise _bad_json((*path, value.duplicate), f"the key {value.duplicate!r} appears twice", "duplicate_key")
        for key, item in value.items():
            _check_values(item, (*path, key))


def _json_body():
    """The request's JSON body, parsed strictly; BadRequest naming the place and the reason."""
    if not request.is_json:
        raise BadRequest("send a JSON body with Content-Type: application/json", code="unsupported_media_type")
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise BadRequest("the body is empty: send a JSON object", code="empty_body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not UTF-8 (byte {exc.start})", code="malformed_json") from None
    if _too_deep(text):
        raise BadRequest(f"the body nests arrays and objects more than {MAX_DEPTH} deep", code="too_deep")
    try:
        payload = json.loads(text, object_pairs_hook=_object)
    except RecursionError:
        raise BadRequest(f"the body nests arrays and objects more than {MAX_DEPTH} deep", code="too_deep") from None
    except ValueError as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise BadRequest(f"the body is not valid JSON{where}", code="malformed_json") from None
    _check_values(payload)
    return payload


def _json_object(allowed: set[str]) -> dict:
    payload = _json_body()
    if not isinstance(payload, dict):
        raise Invalid("the body must be a JSON object", code="invalid_body")
    extra = sorted(set(payload) - allowed)
    if extra:
        raise Invalid(f"unknown key {extra[0]!r} in body (allowed: {', '.join(sorted(allowed))})", field=extra[0],
                      code="unknown_key")
    return payload


def _whole_number(value, *, field: str, label: str, code: str) -> int:
    """A JSON integer from 1 to the largest id: not 1.5, 1e3, true or "1"."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT64_MAX:
        shown = json.dumps(value, ensure_ascii=False)[:40]
        raise Invalid(f"{label} must be a whole number from 1 to {INT64_MAX}, not {shown}", field=field, code=code)
    return value


def _record_ids(payload: dict):
    """The bulk `ids`, each a record id; a missing or empty list is left to the service to explain."""
    ids = payload.get("ids")
    if isinstance(ids, list):
        for i, value in enumerate(ids):
            _whole_number(value, field="ids", label=f"ids[{i}] (a record id)", code="invalid_id")
    return ids


def _if_match(required: bool) -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None:
        if required:
            raise PreconditionRequired("send If-Match with the record version you read", field="If-Match")
        return None
    raw = raw.strip()
    if raw.startswith("W/"):
        raw = raw[2:]
    raw = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= INT64_MAX):
        raise BadRequest(f"If-Match must hold the record version, a whole number up to {INT64_MAX}, e.g. \"3\"",
                         field="If-Match", code="invalid_if_match")
    return int(raw)


def _record_response(view, status=200):
    resp = jsonify(view.as_api())
    resp.status_code = status
    resp.headers["ETag"] = f'"{view.version}"'
    return resp


@bp.get("/openapi.json")
@public
def openapi():
    return jsonify(openapi_document())


@bp.get("/forms")
@requires(Perm.RECORDS)
def list_forms():
    who = actor()
    items = []
    for form, formdef in versions.all_forms():
        r = gate.rights(who, formdef)
        if not r.can("read") and not r.can("create"):
            continue
        items.append({
            "key": form.key, "version": form.current_version, "title": formdef.doc["x-form"]["title"],
            "actions": sorted(r.scopes), "fields": {n: r.level(n) for n in formdef.fields if r.level(n) != "hidden"},
        })
    return jsonify({"items": items, "total": len(items)})


@bp.get("/forms/<form_key>/records")
@requires(Perm.RECORDS)
def list_records(form_key):
    deleted = request.args.get("deleted") in ("1", "true")
    page = service.list_records(actor(), form_key, from_args(request.args), deleted=deleted)
    return jsonify({"items": [v.as_api() for v in page.items], "total": page.total, "total_is_lower_bound": page.capped,
                    "page": page.page, "per_page": page.per_page})


@bp.post("/forms/<form_key>/records")
@requires(Perm.RECORDS)
def create_record(form_key):
    data, reason = _body()
    view = service.create_record(actor(), form_key, data, reason=reason)
    resp = _record_response(view, 201)
    resp.headers["Location"] = f"/api/v1/forms/{form_key}/records/{view.id}"
    return resp


@bp.get("/forms/<form_key>/records/<record_id>")
@requires(Perm.RECORDS)
def get_record(form_key, record_id):
    if "reveal" in request.args:
        raise BadRequest("revealing a value is recorded: use POST …/reveal with {\"fields\": [...]}",
                         field="reveal", code="use_post")
    return _record_response(service.get_record(actor(), form_key, record_id))


@bp.post("/forms/<form_key>/records/<record_id>/reveal")
@requires(Perm.RECORDS)
def reveal_record(form_key, record_id):
    """The record with the named restricted fields in clear; each reveal is an audited event."""
    payload = _json_object({"fields"})
    fields = payload.get("fields")
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise Invalid("fields must be a non-empty list of field names", field="fields", code="invalid_fields")
    return _record_response(service.get_record(actor(), form_key, record_id, reveal=fields))


@bp.patch("/forms/<form_key>/records/<record_id>")
@requires(Perm.RECORDS)
def patch_record(form_key, record_id):
    data, reason = _body()
    expected = _if_match(required=True)
    view = service.update_record(actor(), form_key, record_id, data, expected_version=expected, reason=reason)
    return _record_response(view)


@bp.delete("/forms/<form_key>/records/<record_id>")
@requires(Perm.RECORDS)
def delete_record(form_key, record_id):
    service.delete_record(actor(), form_key, record_id, expected_version=_if_match(required=False),
                          reason=request.args.get("reason", ""))
    return "", 204


@bp.post("/forms/<form_key>/records/<record_id>/restore")
@requires(Perm.RECORDS)
def restore_record(form_key, record_id):
    return _record_response(service.restore_record(actor(), form_key, record_id))


@bp.get("/forms/<form_key>/records/<record_id>/history")
@requires(Perm.RECORDS)
def record_history(form_key, record_id):
    """Restricted values come masked; POST …/history/reveal shows them (an audited reveal)."""
    deleted = request.args.get("deleted") in ("1", "true")
    items = [e.as_api() for e in history.history(actor(), form_key, record_id, deleted=deleted,
                                                 reveal_restricted=False)]
    return jsonify({"items": items, "total": len(items)})


@bp.post("/forms/<form_key>/records/<record_id>/history/reveal")
@requires(Perm.RECORDS)
def reveal_history(form_key, record_id):
    items = [e.as_api() for e in history.history(actor(), form_key, record_id, reveal_restricted=True)]
    return jsonify({"items": items, "total": len(items)})


@bp.get("/forms/<form_key>/records/<record_id>/versions/<int:version>")
@requires(Perm.RECORDS)
def record_version(form_key, record_id, version):
    return jsonify({"id": int(record_id), "version": version,
                    "data": history.record_at(actor(), form_key, record_id, version)})


@bp.post("/forms/<form_key>/records/<record_id>/revert")
@requires(Perm.RECORDS)
def revert_record(form_key, record_id):
    payload = _json_object({"version", "reason"})
    version = _whole_number(payload.get("version"), field="version", label="'version'", code="invalid_version")
    reason = _reason(payload)
    view = history.revert_record(actor(), form_key, record_id, version, expected_version=_if_match(required=True),
                                 reason=reason)
    return _record_response(view)


@bp.get("/audit/events")
@requires(Perm.AUDIT_READ)
def audit_events():
    q = audit_search.query_from_args(request.args)
    items, total = audit_search.search_events(actor(), q)
    more = total > audit_search.COUNT_CAP
    return jsonify({"items": [e.as_api() for e in items], "total": min(total, audit_search.COUNT_CAP),
                    "total_is_lower_bound": more, "page": q.page, "per_page": q.per_page})


@bp.delete("/forms/<form_key>/records/<record_id>/purge")
@requires(Perm.RECORDS_PURGE)
def purge_record(form_key, record_id):
    service.purge_record(actor(), form_key, record_id, reason=request.args.get("reason", ""))
    return "", 204


@bp.post("/forms/<form_key>/records/bulk")
@requires(Perm.RECORDS)
def bulk_records(form_key):
    """{"action": "update", "ids": [...], "data": {...}} or {"action": "delete", "ids": [...]}; all or none."""
    payload = _json_object({"action", "ids", "data", "reason"})
    action, reason = payload.get("action"), _reason(payload)
    if action == "update":
        data = payload.get("data")
        if not isinstance(data, dict):
            raise Invalid("'data' must be a JSON object of field values", field="data", code="invalid_body")
        count = bulk.bulk_update(actor(), form_key, _record_ids(payload), data, reason=reason)
    elif action == "delete":
        if "data" in payload:
            raise Invalid("a bulk delete takes no 'data'", field="data", code="unknown_key")
        count = bulk.bulk_delete(actor(), form_key, _record_ids(payload), reason=reason)
    else:
        raise Invalid("'action' must be \"update\" or \"delete\"", field="action", code="invalid_action")
    return jsonify({"action": action, "count": count})


@bp.post("/forms/<form_key>/imports")
@requires(Perm.RECORDS)
@accepts_upload
def import_records(form_key):
    """A CSV file as the body (text/csv) or as the multipart field `file`; answers 202 with the job."""
    upload = request.files.get("file")
    if upload is not None:
        name, content = upload.filename or "", upload.read()
    elif request.mimetype == "text/csv":
        name, content = request.args.get("name", ""), request.get_data()
    else:
        raise BadRequest("send the CSV as text/csv or as multipart field 'file'", code="unsupported_media_type")
    job_id = bulk.request_import(actor(), form_key, name, content, current_app.config["FORMWARDEN"].imports_dir,
                                 submit_job)
    resp = jsonify(_job_body(get_run(job_id)))  # just started by this user
    resp.status_code = 202
    resp.headers["Location"] = f"/api/v1/jobs/{job_id}"
    return resp


@bp.route("/forms/<form_key>/files", methods=["POST"])
@requires(Perm.RECORDS)
@accepts_upload
def upload_file(form_key):
    """A file for an attachment field (multipart: `field` and `file`); answers 201 with its token,
    which a create or update then puts in the field (within the hour, by the same user)."""
    upload = request.files.get("file")
    field = request.form.get("field", "")
    if upload is None:
        raise BadRequest("send the file as multipart field 'file', with the field's name in 'field'", field="file",
                         code="missing_file")
    token = service.upload_file(actor(), form_key, field, upload.filename or "", upload.read(MAX_FILE + 1))
    resp = jsonify({"token": token, "field": field})
    resp.status_code = 201
    return resp


@bp.route("/files/<token>")
@requires(Perm.RECORDS)
def download_file(token):
    """A file of an attachment field, for whoever may read that field of its record (audited)."""
    info, data = service.read_file(actor(), token)
    return Response(data, mimetype=info.content_type.split(";")[0],
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(info.name)}",
                             "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


def _job_body(run) -> dict:
    body = {"id": run.job_id, "kind": run.kind, "status": run.status, "progress": run.progress, "total": run.total}
    if run.status == "failed":
        try:
            errors = json.loads(run.message or "[]")
        except ValueError:
            errors = [{"field": "", "code": "failed", "message": run.message}]
        body["errors"] = errors if isinstance(errors, list) else []
    elif run.status == "done" and run.kind == "import":
        body["created"] = int(run.message or 0)
    return body


@bp.get("/jobs/<job_id>")
@requires(Perm.ACCOUNT)
def job_status(job_id):
    return jsonify(_job_body(own_run(job_id)))
