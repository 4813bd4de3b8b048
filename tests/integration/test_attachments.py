"""Attachment fields: files checked by their bytes, kept encrypted, served only through the gate."""
import io
import re
import uuid

import pytest

from formwarden.access.actor import Actor
from formwarden.catalog import publishing
from formwarden.errors import Invalid
from formwarden.forms import versions
from formwarden.models import Attachment, AuditEvent
from formwarden.records import service
from tests.conftest import actor_of

PDF = b"%PDF-1.4\n% test\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture()
def form_key(clean_db):
    key = "files_" + uuid.uuid4().hex[:8]
    publishing.publish(Actor.system("t"), {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False,
        "required": ["title"],
        "x-form": {"key": key, "title": {"zh-CN": "合同扫描", "en": "Contract scans"}, "owner_field": "owner"},
        "properties": {
            "title": {"type": "string", "maxLength": 50, "x-label": {"zh-CN": "标题", "en": "Title"}},
            "owner": {"type": "string", "x-widget": "member", "x-label": {"zh-CN": "负责人", "en": "Owner"}},
            "scan": {"type": "string", "format": "attachment", "x-label": {"zh-CN": "扫描件", "en": "Scan"}},
        },
        "x-access": {"admin": {"scope": "all", "actions": ["create", "read", "update", "delete"], "fields": {"*": "write"}},
                     "sales": {"scope": "own", "actions": ["create", "read", "update"],
                               "fields": {"title": "write", "owner": "read", "scan": "write"}},
                     "support": {"scope": "all", "actions": ["read"], "fields": {"title": "read"}}},
    })
    versions.forget_forms()
    return key


def test_a_file_uploaded_with_the_form_is_served_to_readers_only(login_as, form_key):
    sales = login_as("sales01")
    r = sales.post(f"/f/{form_key}/new", data={"csrf_token": sales.csrf, "_present": ["title", "scan"], "title": "合同",
                                               "scan__file": (io.BytesIO(PDF), "合同.pdf")},
                   content_type="multipart/form-data")
    assert r.status_code == 302, r.text
    row = Attachment.get()
    assert row.record_id and row.name == "合同.pdf" and PDF not in row.content.encode()  # encrypted at rest
    page = sales.get(r.headers["Location"]).text
    assert f"/files/{row.token}" in page and "合同.pdf" in page
    got = sales.get(f"/files/{row.token}")
    assert got.status_code == 200 and got.data == PDF
    assert got.headers["Content-Type"] == "application/pdf" and got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert AuditEvent.select().where(AuditEvent.action == "attachment_download").count() == 1
    for other in ("sales02", "support"):  # out of scope; in scope without the field
        assert login_as(other).get(f"/files/{row.token}").status_code == 404
    assert login_as("admin").get(f"/files/{row.token}").status_code == 200


def test_files_are_checked_by_their_bytes_and_size(login_as, form_key):
    sales = login_as("sales01")
    for name, body in (("x.pdf", b"<html><script>alert(1)</script>"), ("x.svg", b"<svg/>"), ("x.exe", b"MZ\x90\x00")):
        r = sales.post(f"/f/{form_key}/new", data={"csrf_token": sales.csrf, "_present": ["title", "scan"],
                                                   "title": "t", "scan__file": (io.BytesIO(body), name)},
                       content_type="multipart/form-data")
        assert r.status_code == 422 and Attachment.select().count() == 0
    big = PDF + b"0" * (5 * 1024 * 1024)
    with pytest.raises(Invalid) as err:
        service.upload_file(actor_of("sales01"), form_key, "scan", "big.pdf", big)
    assert err.value.code == "file_too_large"


def test_an_uploaded_file_is_only_its_uploaders_until_saved(form_key):
    token = service.upload_file(actor_of("sales01"), form_key, "scan", "a.pdf", PDF)
    with pytest.raises(Invalid):  # someone else cannot put sales01's upload in their record
        service.create_record(actor_of("sales02"), form_key, {"title": "偷", "scan": token})
    rec = service.create_record(actor_of("sales01"), form_key, {"title": "自己的", "scan": token})
    with pytest.raises(Invalid):  # nor reuse it in a second record
        service.create_record(actor_of("sales01"), form_key, {"title": "再用", "scan": token})
    assert service.get_record(actor_of("sales01"), form_key, rec.id).data["scan"] == token


def test_the_api_uploads_and_downloads(login_as, form_key, app):
    from formwarden.auth.tokens import create_token
    from formwarden.models import User

    raw = create_token(Actor.system("t"), User.get(User.username == "sales01"), scopes=["read", "write"])[1]
    c = app.test_client()
    auth = {"Authorization": f"Bearer {raw}"}
    r = c.post(f"/api/v1/forms/{form_key}/files", data={"field": "scan", "file": (io.BytesIO(PDF), "a.pdf")},
               headers=auth, content_type="multipart/form-data")
    assert r.status_code == 201
    token = r.get_json()["token"]
    r = c.post(f"/api/v1/forms/{form_key}/records", json={"data": {"title": "API", "scan": token}}, headers=auth)
    assert r.status_code == 201
    assert c.get(f"/api/v1/files/{token}", headers=auth).data == PDF
    r = c.post(f"/api/v1/forms/{form_key}/files", data={"field": "title", "file": (io.BytesIO(PDF), "a.pdf")},
               headers=auth, content_type="multipart/form-data")
    assert r.status_code == 422


def test_files_travel_in_backups(form_key, tmp_path):
    from formwarden.backup.dump import write_archive
    from formwarden.backup.restore import restore

    token = service.upload_file(actor_of("sales01"), form_key, "scan", "a.pdf", PDF)
    service.create_record(actor_of("sales01"), form_key, {"title": "备份", "scan": token})
    write_archive(tmp_path / "a.fwb")
    Attachment.delete().execute()  # lost
    restore(tmp_path / "a.fwb", Actor.system("t"), reason="test")
    info, data = service.read_file(actor_of("sales01"), token)
    assert data == PDF and info.name == "a.pdf"


def test_restoring_one_record_brings_its_files_back_whole(login_as, form_key, tmp_path):
    """A purged record restored from an archive came back with a link reading "file", a 404
    download and the raw token in exports: its files come back with it, names and all."""
    from formwarden.backup.dump import write_archive
    from formwarden.backup.single import restore_one

    token = service.upload_file(actor_of("sales01"), form_key, "scan", "合同扫描.pdf", PDF)
    rec = service.create_record(actor_of("sales01"), form_key, {"title": "要恢复", "scan": token})
    write_archive(tmp_path / "one.fwb")
    service.delete_record(actor_of("admin"), form_key, rec.id)
    service.purge_record(actor_of("admin"), form_key, rec.id, reason="test")
    assert restore_one(actor_of("admin"), tmp_path / "one.fwb", form_key, rec.id, "deleted by mistake") == (
        rec.id, "recreated")
    info, data = service.read_file(actor_of("sales01"), token)
    assert data == PDF and info.name == "合同扫描.pdf" and info.record_id == rec.id
    page = login_as("sales01").get(f"/f/{form_key}/{rec.id}").get_data(as_text=True)
    assert "合同扫描.pdf" in page and token not in page.replace(f"/files/{token}", "")
    assert page.count("合同扫描.pdf") >= 2  # the field and its history entries name the file


def test_a_file_can_be_removed_when_editing(login_as, form_key):
    token = service.upload_file(actor_of("sales01"), form_key, "scan", "a.pdf", PDF)
    rec = service.create_record(actor_of("sales01"), form_key, {"title": "移除", "scan": token})
    sales = login_as("sales01")
    r = sales.post(f"/f/{form_key}/{rec.id}/edit", data={"csrf_token": sales.csrf, "version": "1",
                                                         "_present": ["title", "scan"], "title": "移除",
                                                         "scan": token, "scan__clear": "1"})
    assert r.status_code == 302
    assert "scan" not in service.get_record(actor_of("sales01"), form_key, rec.id).data


def test_a_purged_records_files_go_with_it(form_key):
    token = service.upload_file(actor_of("sales01"), form_key, "scan", "a.pdf", PDF)
    rec = service.create_record(actor_of("sales01"), form_key, {"title": "删", "scan": token})
    service.delete_record(actor_of("admin"), form_key, rec.id)
    service.purge_record(actor_of("admin"), form_key, rec.id, reason="test")
    assert Attachment.select().where(Attachment.token == token).count() == 0


def test_one_upload_is_held_by_one_record_even_when_two_saves_race(form_key):
    from formwarden.errors import Conflict
    from formwarden.forms import versions as v
    from formwarden.records import attachments

    token = service.upload_file(actor_of("sales01"), form_key, "scan", "a.pdf", PDF)
    rec = service.create_record(actor_of("sales01"), form_key, {"title": "先", "scan": token})
    form, formdef = v.current(form_key)
    with pytest.raises(Conflict):  # a second record whose checks passed before the first one bound it
        attachments.bind(form, formdef, rec.id + 1000, {"scan": token})
    assert Attachment.get(Attachment.token == token).record_id == rec.id


def test_uploads_no_record_holds_have_a_quota_a_rate_an_event_and_a_prune(form_key, monkeypatch):
    """Unattached uploads filled the disk (and every backup): each is an audit event, a person's
    unbound files and upload rate are capped, and the hourly job deletes what no record took."""
    import datetime as dt

    from formwarden.errors import RateLimited
    from formwarden.jobs.files import prune_uploads
    from formwarden.models import utcnow
    from formwarden.records import attachments

    sales = actor_of("sales01")
    token = service.upload_file(sales, form_key, "scan", "a.pdf", PDF)
    event = AuditEvent.get(AuditEvent.action == "attachment_upload")
    assert event.actor_name == "sales01" and token in event.diff and event.form_key == form_key
    monkeypatch.setattr(attachments, "UNBOUND_QUOTA_FILES", 3)
    service.upload_file(sales, form_key, "scan", "b.pdf", PDF)
    service.upload_file(sales, form_key, "scan", "c.pdf", PDF)
    with pytest.raises(RateLimited) as exc:
        service.upload_file(sales, form_key, "scan", "d.pdf", PDF)
    assert exc.value.code == "upload_quota" and exc.value.status == 429
    service.create_record(sales, form_key, {"title": "用掉一个", "scan": token})  # a record takes one: room again
    service.upload_file(sales, form_key, "scan", "d.pdf", PDF)
    monkeypatch.setattr(attachments, "RATE_FILES", 4)
    with pytest.raises(RateLimited) as exc:
        service.upload_file(sales, form_key, "scan", "e.pdf", PDF)
    assert exc.value.code == "upload_rate" and exc.value.retry_after == 600
    service.read_file(sales, token)  # the uploader reading their own unsaved upload is a download event too
    assert AuditEvent.select().where(AuditEvent.action == "attachment_download").count() == 1
    Attachment.update(created_at=utcnow() - dt.timedelta(days=2)).where(Attachment.record_id.is_null()).execute()
    assert prune_uploads() == 3
    assert Attachment.select().count() == 1  # the one a record holds stays


def test_a_wrong_file_and_a_missing_required_field_are_reported_in_one_round(login_as, form_key):
    sales = login_as("sales01")
    r = sales.post(f"/f/{form_key}/new", data={"csrf_token": sales.csrf, "_present": ["title", "scan"], "title": "",
                                               "scan__file": (io.BytesIO(b"MZ\x90\x00"), "x.exe")},
                   content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and Attachment.select().count() == 0
    errors = dict(re.findall(r'id="err-([a-z_]+)" role="alert">([^<]+)<', page))
    assert set(errors) >= {"title", "scan"}, errors  # both, at once


def test_an_excel_export_links_each_file(login_as, form_key, tmp_path):
    """An office worker opens a record's file from the sheet: the cell names it and links to it
    (the link signs in and checks the reader's right again)."""
    from openpyxl import load_workbook

    from formwarden.records.export import export_csv
    from formwarden.records.query import ListQuery

    doc = versions.current(form_key)[1].doc
    doc = {**doc, "x-form": {k: v for k, v in doc["x-form"].items() if k != "version"},
           "x-access": {**doc["x-access"], "admin": {**doc["x-access"]["admin"],
                                                     "actions": ["create", "read", "update", "delete", "export"]}}}
    doc.pop("$id", None)
    publishing.publish(Actor.system("t"), doc)
    versions.forget_forms()
    sales = login_as("sales01")
    r = sales.post(f"/f/{form_key}/new", data={"csrf_token": sales.csrf, "_present": ["title", "scan"], "title": "合同",
                                               "scan__file": (io.BytesIO(PDF), "合同.pdf")},
                   content_type="multipart/form-data")
    assert r.status_code == 302, r.text
    token = Attachment.get().token
    path = tmp_path / "files.xlsx"
    assert export_csv(actor_of("admin"), form_key, ListQuery(), path, fmt="xlsx", base_url="https://crm.example.cn/") == 1
    sheet = load_workbook(path).worksheets[0]
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(2, header.index("扫描件") + 1)
    assert cell.value == "合同.pdf" and cell.hyperlink.target == f"https://crm.example.cn/files/{token}"
    admin = login_as("admin")  # through the pages: the link is to the address the export was asked at
    job = admin.post(f"/f/{form_key}/export", data={"csrf_token": admin.csrf, "format": "xlsx"})
    from formwarden.models import JobRun
    params = JobRun.get(JobRun.job_id == job.headers["Location"].rsplit("/", 1)[1]).params
    assert '"base_url": "http://localhost/"' in params
