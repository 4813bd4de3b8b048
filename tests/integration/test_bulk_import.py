"""Bulk actions and CSV imports: all or none, every record with its own event, through the gate."""
import pytest

from formwarden.access.actor import Actor
from formwarden.models import AuditEvent, JobRun, Record
from formwarden.records import service
from tests.conftest import actor_of
from tests.integration.test_jobs import run_worker_burst


def _own(username: str, n: int) -> list[int]:
    system = Actor.system("tests")
    return [service.create_record(system, "customer", {"name": f"客户{username}{i}", "owner": username,
                                                       "status": "lead"}).id for i in range(n)]


def _events(action: str) -> int:
    return AuditEvent.select().where(AuditEvent.action == action).count()


def test_bulk_update_changes_all_with_one_event_each(login_as):
    ids = _own("sales01", 3)
    c = login_as("sales01")
    r = c.post("/api/v1/forms/customer/records/bulk",
               json={"action": "update", "ids": ids, "data": {"status": "contacted"}, "reason": "电话回访"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"action": "update", "count": 3}
    for rid in ids:
        rec = Record.get_by_id(rid)
        assert rec.data["status"] == "contacted" and rec.version == 2
    updates = AuditEvent.select().where(AuditEvent.action == "update", AuditEvent.record_id.in_(ids))
    assert updates.count() == 3 and {e.reason for e in updates} == {"电话回访"}
    assert _events("bulk_update") == 1


def test_bulk_update_is_all_or_nothing(login_as):
    mine = _own("sales01", 2)
    theirs = _own("sales02", 1)
    before = _events("update")
    c = login_as("sales01")
    r = c.post("/api/v1/forms/customer/records/bulk",
               json={"action": "update", "ids": mine + theirs, "data": {"status": "contacted"}})
    assert r.status_code == 404, r.get_json()  # out of scope looks like "not found" …
    assert r.get_json()["error"]["errors"][0]["record"] == theirs[0]  # … and names the record
    assert all(Record.get_by_id(i).version == 1 for i in mine)
    assert _events("update") == before and _events("bulk_update") == 0
    # a field the user may not write: refused, named, nothing written
    r = c.post("/api/v1/forms/customer/records/bulk",
               json={"action": "update", "ids": mine, "data": {"contract_amount": 1}})
    assert r.status_code == 403 and r.get_json()["error"]["field"] == "contract_amount"
    assert all(Record.get_by_id(i).version == 1 for i in mine)
    # an invalid value: 422 naming the field and record
    r = c.post("/api/v1/forms/customer/records/bulk",
               json={"action": "update", "ids": mine, "data": {"status": "nonsense"}})
    assert r.status_code == 422 and r.get_json()["error"]["errors"][0]["field"] == "status"


@pytest.mark.parametrize("body, status", [
    ({"action": "update", "ids": [], "data": {"status": "won"}}, 422),
    ({"action": "update", "ids": ["x"], "data": {"status": "won"}}, 422),
    ({"action": "update", "ids": list(range(1, 502)), "data": {"status": "won"}}, 422),
    ({"action": "explode", "ids": [1]}, 422),
    ({"action": "delete", "ids": [1], "data": {}}, 422),
    ({"action": "update", "ids": [1], "data": "won"}, 422),
    ({"action": "update", "ids": [1], "data": {"status": "won"}, "extra": 1}, 422),
])
def test_bulk_bad_input_is_a_clear_4xx(login_as, body, status):
    r = login_as("sales01").post("/api/v1/forms/customer/records/bulk", json=body)
    assert r.status_code == status and r.get_json()["error"]["code"]


def test_bulk_delete_needs_the_delete_right(login_as):
    ids = _own("intern", 2)
    r = login_as("intern").post("/api/v1/forms/customer/records/bulk", json={"action": "delete", "ids": ids})
    assert r.status_code == 403
    assert all(Record.get_by_id(i).deleted_at is None for i in ids)
    r = login_as("admin").post("/api/v1/forms/customer/records/bulk",
                               json={"action": "delete", "ids": ids, "reason": "重复数据"})
    assert r.status_code == 200 and r.get_json()["count"] == 2
    assert all(Record.get_by_id(i).deleted_at is not None for i in ids)
    assert AuditEvent.select().where(AuditEvent.action == "delete", AuditEvent.record_id.in_(ids)).count() == 2
    assert _events("bulk_delete") == 1


def test_bulk_bar_on_the_list_page(login_as):
    ids = _own("sales01", 2)
    c = login_as("sales01")
    page = c.get("/f/customer/").get_data(as_text=True)
    assert 'form="bulk"' in page and "status=contacted" in page
    r = c.post("/f/customer/bulk", data={"csrf_token": c.csrf, "ids": [str(i) for i in ids], "set": "status=contacted",
                                         "action": "set"})
    assert r.status_code == 302
    assert all(Record.get_by_id(i).data["status"] == "contacted" for i in ids)
    r = c.post("/f/customer/bulk", data={"csrf_token": c.csrf, "ids": [str(ids[0])], "set": "status=bogus",
                                         "action": "set"}, follow_redirects=True)
    assert "未做任何修改" in r.get_data(as_text=True)  # the demo users read Chinese
    assert Record.get_by_id(ids[0]).data["status"] == "contacted"
    other = _own("sales02", 1)[0]  # not in sales01's scope: refused with a message, nothing deleted
    r = c.post("/f/customer/bulk", data={"csrf_token": c.csrf, "ids": [str(ids[0]), str(other)], "action": "delete",
                                         "confirmed": "1"}, follow_redirects=True)
    assert r.status_code == 200 and "未做任何修改" in r.get_data(as_text=True)
    assert Record.get_by_id(ids[0]).deleted_at is None and Record.get_by_id(other).deleted_at is None
    r = c.post("/f/customer/bulk", data={"ids": [str(ids[0])], "action": "delete"},
               headers={"X-CSRFToken": ""})
    assert r.status_code == 400  # CSRF is checked
    assert Record.get_by_id(ids[0]).deleted_at is None


CSV_OK = ("\ufeff客户姓名,mobile,状态,tags,industry\n"
          "导入客户甲,13911112222,已联系,重点;华东,制造业\n"
          "导入客户乙,,lead,,\n")


@pytest.mark.worker
def test_import_runs_in_a_worker_and_writes_every_event(login_as, base_db, settings):
    c = login_as("sales01")
    r = c.post("/api/v1/forms/customer/imports?name=leads.csv", data=CSV_OK.encode(),
               headers={"Content-Type": "text/csv"})
    assert r.status_code == 202, r.get_json()
    job = r.get_json()
    assert job["status"] == "queued" and r.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert login_as("sales02").get(f"/api/v1/jobs/{job['id']}").status_code == 404  # not theirs
    waiting = list((settings.instance / "imports").iterdir())
    assert len(waiting) == 1 and waiting[0].stat().st_mode & 0o077 == 0
    raw = waiting[0].read_bytes()
    assert b"13911112222" not in raw and "导入客户甲".encode() not in raw  # kept encrypted while it waits
    run_worker_burst(base_db)
    status = c.get(f"/api/v1/jobs/{job['id']}").get_json()
    assert status["status"] == "done" and status["created"] == 2, status
    recs = {r.data["name"]: r for r in Record.select()}
    a = recs["导入客户甲"]
    assert a.data["status"] == "contacted" and a.data["tags"] == ["重点", "华东"]
    assert a.data["industry"] == "manufacturing" and a.data["owner"] == "sales01"
    creates = AuditEvent.select().where(AuditEvent.action == "create")
    assert creates.count() == 2 and {e.actor_name for e in creates} == {"sales01"}
    assert {e.request_id for e in creates} == {f"job:{job['id']}"}
    assert _events("import") == 1
    assert not list((settings.instance / "imports").iterdir())  # the upload is gone


@pytest.mark.worker
def test_import_with_a_bad_row_imports_nothing_and_names_the_row(login_as, base_db, settings):
    c = login_as("sales01")
    bad = "name,mobile,status\n好客户,13911112222,lead\n坏客户,123,lead\n无名,,\n"
    r = c.post("/f/customer/import", data={"csrf_token": c.csrf, "file": (__import__("io").BytesIO(bad.encode()),
                                                                          "bad.csv")},
               content_type="multipart/form-data")
    assert r.status_code == 302
    job_id = r.headers["Location"].rsplit("/", 1)[1]
    run_worker_burst(base_db)
    run = JobRun.get(JobRun.job_id == job_id)
    assert run.status == "failed"
    assert Record.select().count() == 0 and _events("create") == 0 and _events("import") == 0
    status = c.get(f"/api/v1/jobs/{job_id}").get_json()
    problems = {(e["row"], e["field"]) for e in status["errors"]}
    assert (3, "mobile") in problems and (4, "status") in problems, problems
    page = c.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "未导入任何数据" in page and "<td>3</td>" in page and "手机号" in page


def test_import_refuses_unknown_columns_and_missing_rights(login_as):
    c = login_as("sales01")
    r = c.post("/api/v1/forms/customer/imports", data=b"", headers={"Content-Type": "text/csv"})
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "file"
    r = c.post("/api/v1/forms/customer/imports", json={"data": 1})
    assert r.status_code == 400
    auditor = login_as("auditor")
    r = auditor.post("/api/v1/forms/customer/imports", data=b"name\nx\n", headers={"Content-Type": "text/csv"})
    assert r.status_code in (403, 404)
    page = c.get("/f/customer/import")
    assert page.status_code == 200 and "mobile" in page.get_data(as_text=True)
    template = c.get("/f/customer/import/template.csv").get_data(as_text=True)
    header = template.lstrip("\ufeff").splitlines()[0].split(",")
    assert header[:2] == ["客户姓名", "手机号"] and "合同金额" not in header  # sales may not write the amount
    from formwarden.forms import versions
    from formwarden.records.bulk import read_csv

    row = ["" for _ in header]
    row[header.index("客户姓名")], row[header.index("状态")] = "甲", "线索"
    assert read_csv(versions.current("customer")[1], template + ",".join(row) + "\n") == [
        {"name": "甲", "status": "lead"}]  # the template reads back


def test_read_csv_reports_problems_by_row():
    from formwarden.errors import Invalid
    from formwarden.forms import versions
    from formwarden.records.bulk import read_csv

    _, formdef = versions.current("customer")
    with pytest.raises(Invalid) as err:
        read_csv(formdef, "name,nonsense\nx,y\n")
    assert err.value.details[0]["field"] == "nonsense" and err.value.details[0]["row"] == 1
    with pytest.raises(Invalid) as err:
        read_csv(formdef, "name,contract_amount\nx,abc\ny,1,2\n")
    rows = {(d["row"], d["field"]) for d in err.value.details}
    assert (2, "contract_amount") in rows and (3, "") in rows
    assert read_csv(formdef, "客户姓名,Contract amount,状态\n甲,\"1,200.5\",已成交\n\n") == [
        {"name": "甲", "contract_amount": 1200.5, "status": "won"}]


def test_import_reports_every_problem_in_the_file_at_once(login_as, base_db):
    """Unknown columns, values that are not numbers, bad formats, missing and unknown choices:
    all of them, row by row, in one report; nothing is written."""
    from formwarden.forms import versions
    from formwarden.records.bulk import import_rows, parse_csv

    text = ("客户姓名,手机号,合同金额,状态,微信\n"
            "甲,123,abc,线索,x\n"
            "乙,13911112222,100,,y\n"
            "丙,13911113333,200,不存在,z\n")
    parsed = parse_csv(versions.current("customer")[1], text)
    with pytest.raises(Exception) as err:
        import_rows(actor_of("admin"), "customer", parsed.rows, numbers=parsed.numbers, problems=parsed.problems)
    found = [(d["row"], d["field"]) for d in err.value.details]
    assert found == [(1, "微信"), (2, "mobile"), (2, "contract_amount"), (3, "status"), (4, "status")], found
    assert Record.select().count() == 0


def test_sealed_upload_detects_tampering_and_renaming(base_db):
    from formwarden.crypto.fields import open_bytes, seal_bytes

    blob = seal_bytes("name\n甲\n".encode(), "a.csv.enc")
    assert open_bytes(blob, "a.csv.enc") == "name\n甲\n".encode()
    with pytest.raises(ValueError):
        open_bytes(blob, "b.csv.enc")  # bound to its file name
    with pytest.raises(ValueError):
        open_bytes(blob[:-1] + bytes([blob[-1] ^ 1]), "a.csv.enc")
    with pytest.raises(ValueError):
        open_bytes(b"name\n", "a.csv.enc")
