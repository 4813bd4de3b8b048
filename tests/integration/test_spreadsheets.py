"""Excel exports a business user can read, and that come back in unchanged."""
import datetime as dt
import io

from openpyxl import load_workbook

from formwarden.forms import versions
from formwarden.models import BackupRun
from formwarden.records import service
from formwarden.records.bulk import import_rows, parse_upload
from formwarden.records.export import export_csv
from formwarden.records.query import ListQuery
from tests.conftest import VALID_CUSTOMER, actor_of
from tests.integration.test_jobs import run_worker_burst


def _customer(**kw):
    return service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "owner": "sales01", **kw})


def test_an_excel_export_has_labels_typed_cells_and_reads_back(clean_db, tmp_path):
    _customer(name="王小明", status="won", contract_amount=1234567.5, next_followup="2026-12-20",
              notes="=HYPERLINK(\"http://x\")", id_number="11010519491231002X")
    path = tmp_path / "c.xlsx"
    manager = actor_of("manager")  # id_number masked for managers
    assert export_csv(manager, "customer", ListQuery(search="王小明"), path, fmt="xlsx") == 1
    sheet = load_workbook(path).worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["编号", "客户姓名", "手机号"] and "合同金额" in header  # in the form's order
    assert header[-4:] == ["版本", "创建时间", "更新时间", "创建人"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(header)).column_letter}2"
    assert sheet.column_dimensions["B"].width >= 10
    row = {h: c for h, c in zip(header, sheet[2], strict=True)}
    assert row["状态"].value == "已成交"  # the choice by its label
    assert row["负责人"].value == "张伟（销售）"  # the owner by their name
    assert row["合同金额"].value == 1234567.5 and row["合同金额"].number_format == '"¥"#,##0.00'  # a number, in yuan
    from formwarden.models import User
    assert row["创建时间"].is_date and row["创建人"].value == User.get(User.username == "admin").display_name
    assert row["下次跟进"].value.date() == dt.date(2026, 12, 20) and row["下次跟进"].number_format == "yyyy-mm-dd"
    assert row["备注"].data_type == "s" and row["备注"].value.startswith("=HYPERLINK")  # text, never a formula
    assert "11010519491231002X" not in [c.value for c in sheet[2]]  # masked as the reader sees it
    parsed = parse_upload(versions.current("customer")[1], path.read_bytes())
    assert parsed.problems == []
    assert parsed.rows[0]["status"] == "won" and parsed.rows[0]["contract_amount"] == 1234567.5
    assert parsed.rows[0]["next_followup"] == "2026-12-20" and "*" in parsed.rows[0]["id_number"]
    assert import_rows(manager, "customer", parsed.rows, numbers=parsed.numbers) == 1  # the masked ID is no data


def test_excel_export_and_import_through_the_pages(login_as, base_db, tmp_path):
    _customer(name="李小红")
    manager = login_as("manager")
    r = manager.post("/f/customer/export", data={"csrf_token": manager.csrf, "format": "xlsx", "q": "李小红"})
    job_id = r.headers["Location"].rsplit("/", 1)[1]
    run_worker_burst(base_db)
    got = manager.get(f"/jobs/{job_id}/download")
    assert got.status_code == 200 and got.mimetype.endswith("spreadsheetml.sheet")
    from urllib.parse import quote
    assert quote("客户_") in got.headers["Content-Disposition"] and ".xlsx" in got.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(got.data))
    assert [c.value for c in book.worksheets[0]["B"]][1:] == ["李小红"]
    r = manager.post("/f/customer/import", data={"csrf_token": manager.csrf,
                                                 "file": (io.BytesIO(got.data), "back.xlsx")},
                     content_type="multipart/form-data")
    assert r.status_code == 302, r.text
    job_id = r.headers["Location"].rsplit("/", 1)[1]
    from formwarden.jobs.imports import run_import

    assert run_import(job_id) == 1  # the job's own code, in this process (the worker path is covered by test_bulk_import)
    status = manager.get(f"/api/v1/jobs/{job_id}").get_json()
    assert status["status"] == "done", status  # the exported file comes back in unchanged
    assert service.list_records(actor_of("manager"), "customer", ListQuery(search="李小红")).total == 2


def test_a_workbook_that_unpacks_to_gigabytes_is_refused_before_it_is_read(clean_db):
    import zipfile

    import pytest

    from formwarden.errors import Invalid

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"0" * (65 * 2**20))
    assert len(bomb.getvalue()) < 200_000  # small on the wire
    with pytest.raises(Invalid) as err:
        parse_upload(versions.current("customer")[1], bomb.getvalue())
    assert err.value.code == "too_large" and err.value.field == "file"
    with pytest.raises(Invalid) as err:
        parse_upload(versions.current("customer")[1], b"PK\x03\x04 not a zip at all")
    assert err.value.code == "bad_workbook"


FORMULA_LABEL = '=HYPERLINK("http://x","点我")'


def test_designer_labels_are_defused_in_every_file_header(login_as, base_db, restore_customer, tmp_path):
    """Labels are typed by designers: a header cell is data like any other cell, in CSV and XLSX
    exports, the import template, the audit CSV and the backup log."""
    import json

    from formwarden.catalog import publishing
    from formwarden.config import REPO_ROOT
    from tests.conftest import actor_of as _actor

    doc = json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8"))
    doc["properties"]["name"]["x-label"] = {"zh-CN": FORMULA_LABEL, "en": FORMULA_LABEL}
    publishing.publish(_actor("admin"), doc, keep_policy=True)
    _customer(name="王小明")
    admin = _actor("admin")
    path = tmp_path / "c.csv"
    export_csv(admin, "customer", ListQuery(), path, fmt="csv")
    header = path.read_text("utf-8-sig").splitlines()[0]
    assert "'" + FORMULA_LABEL.replace('"', '""') in header and ',"=' not in header and not header.startswith("=")
    parsed = parse_upload(versions.current("customer")[1], path.read_bytes())  # the defused label reads back
    assert parsed.problems == [] and parsed.rows[0]["name"] == "王小明"
    book_path = tmp_path / "c.xlsx"
    export_csv(admin, "customer", ListQuery(), book_path, fmt="xlsx")
    head = list(load_workbook(book_path).worksheets[0][1])
    cell = next(c for c in head if c.value == FORMULA_LABEL)
    assert cell.data_type == "s"  # text, never a formula
    page = login_as("admin")
    template = page.get("/f/customer/import/template.csv").get_data(as_text=True)
    assert "'" + FORMULA_LABEL.replace('"', '""') in template and "\n=" not in template and ",=" not in template
    run = BackupRun.create(job_id="j-formula", kind="backup", started_by="=cmd|' /C calc'!A0", trigger="manual",
                           status="failed", message="@SUM(1)")
    log = page.get("/backups/log.csv").get_data(as_text=True)
    assert "'=cmd" in log and "'@SUM" in log
    run.delete_instance()


def test_who_created_a_record_is_exported_only_to_those_who_see_whose_it_is(clean_db, tmp_path):
    _customer(name="赵六")
    path = tmp_path / "f.csv"
    export_csv(actor_of("finance"), "customer", ListQuery(), path)  # finance may not see the owner
    header = path.read_text("utf-8-sig").splitlines()[0].split(",")
    assert "创建人" not in header and "负责人" not in header and header[-3:] == ["版本", "创建时间", "更新时间"]
    export_csv(actor_of("manager"), "customer", ListQuery(), path)
    assert path.read_text("utf-8-sig").splitlines()[0].split(",")[-1] == "创建人"
