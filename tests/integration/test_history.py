"""A record's history, past versions and revert, filtered by the viewer's field rights."""
import pytest

from formwarden.access.actor import Actor
from formwarden.errors import Forbidden, Invalid
from formwarden.models import AuditEvent
from formwarden.records import history, service
from tests.conftest import actor_of

URL = "/api/v1/forms/customer/records"


@pytest.fixture()
def record(clean_db):
    admin = actor_of("admin")
    rec = service.create_record(admin, "customer", {"name": "历史", "status": "negotiating", "owner": "sales01",
                                                    "mobile": "13900001111", "id_number": "11010519491231002X",
                                                    "contract_amount": 1000})
    service.update_record(admin, "customer", rec.id, {"contract_amount": 5000}, expected_version=1,
                          reason="price list 2027")
    service.update_record(admin, "customer", rec.id, {"id_number": "110101199003074477", "company": "新公司"},
                          expected_version=2)
    return rec.id


def test_history_for_admin_shows_every_change_with_who_and_why(record):
    entries = history.history(actor_of("admin"), "customer", record)
    assert [(e.action, e.version, e.actor) for e in entries] == [("create", 1, "admin"), ("update", 2, "admin"),
                                                                  ("update", 3, "admin")]
    assert entries[1].reason == "price list 2027" and entries[1].changes == {"contract_amount": [1000, 5000]}


def test_salesperson_history_leaves_no_trace_of_hidden_fields(record):
    entries = history.history(actor_of("sales01"), "customer", record)
    assert "id_number" not in entries[0].changes
    assert entries[2].changes == {"company": [None, "新公司"]}  # the id_number change is not even counted
    body = str([e.as_api() for e in entries])
    assert "11010519491231002X" not in body and "110101199003074477" not in body


def test_masked_viewers_see_masked_old_and_new(record):
    entries = history.history(actor_of("support"), "customer", record)
    assert entries[1].changes["id_number"] == ["110105********002X", "110101********4477"]
    # support may not see amounts: the change of the amount alone leaves no entry, nor its reason
    assert [e.version for e in entries] == [1, 3] and "price list 2027" not in str([e.as_api() for e in entries])


def test_record_at_version_and_revert(record):
    admin = actor_of("admin")
    assert history.record_at(admin, "customer", record, 1)["contract_amount"] == 1000
    assert history.record_at(actor_of("sales01"), "customer", record, 1).get("id_number") is None
    view = history.revert_record(admin, "customer", record, 1, expected_version=3, reason="wrong price entered")
    assert view.version == 4 and view.data["contract_amount"] == 1000 and "company" not in view.data
    last = AuditEvent.select().order_by(AuditEvent.seq.desc()).first()
    assert last.action == "revert" and last.reason == "wrong price entered"


def test_revert_refused_for_fields_the_user_cannot_write(record):
    with pytest.raises(Forbidden) as exc:
        history.revert_record(actor_of("sales01"), "customer", record, 1, expected_version=3, reason="x")
    assert exc.value.field is None and "id_number" not in str(exc.value)  # never names a hidden field


def test_reason_required_for_contract_amount(record):
    admin = actor_of("admin")
    with pytest.raises(Invalid) as exc:
        service.update_record(admin, "customer", record, {"contract_amount": 1}, expected_version=3)
    assert exc.value.field == "reason" and exc.value.code == "reason_required"
    with pytest.raises(Invalid):
        history.revert_record(admin, "customer", record, 1, expected_version=3)  # the revert changes the amount


def test_history_api_and_reason_over_http(login_as, record):
    c = login_as("admin")
    r = c.patch(f"{URL}/{record}", json={"data": {"contract_amount": 7}}, headers={"If-Match": '"3"'})
    assert r.status_code == 422 and r.json["error"]["field"] == "reason"
    r = c.patch(f"{URL}/{record}", json={"data": {"contract_amount": 7}, "reason": "discount"},
                headers={"If-Match": '"3"'})
    assert r.status_code == 200
    items = c.get(f"{URL}/{record}/history").json["items"]
    assert items[-1]["reason"] == "discount" and items[-1]["changes"] == {"contract_amount": [5000, 7]}
    assert c.get(f"{URL}/{record}/versions/2").json["data"]["contract_amount"] == 5000
    assert c.get(f"{URL}/{record}/versions/99").status_code == 404
    r = c.post(f"{URL}/{record}/revert", json={"version": 2, "reason": "undo discount"}, headers={"If-Match": '"4"'})
    assert r.status_code == 200 and r.json["data"]["contract_amount"] == 5000 and r.json["version"] == 5
    s = login_as("sales02")
    assert s.get(f"{URL}/{record}/history").status_code == 404  # not theirs


def test_edit_page_asks_for_the_reason_inline(login_as, record):
    c = login_as("admin")
    page = c.get(f"/f/customer/{record}/edit").get_data(as_text=True)
    assert 'name="reason"' in page and "合同金额" in page
    form = {"_present": ["contract_amount"], "contract_amount": "9", "version": "3", "csrf_token": c.csrf}
    r = c.post(f"/f/customer/{record}/edit", data=form, headers={"HX-Request": "true"})
    assert r.status_code == 422 and "修改合同金额需要填写原因" in r.get_data(as_text=True)
    r = c.post(f"/f/customer/{record}/edit", data={**form, "reason": "客户要求"})
    assert r.status_code == 302
    page = c.get(f"/f/customer/{record}").get_data(as_text=True)
    assert "客户要求" in page and "修改历史" in page


def test_version_page_and_revert_button(login_as, record):
    c = login_as("admin")
    page = c.get(f"/f/customer/{record}/v/1").get_data(as_text=True)
    assert "您正在查看此记录的版本 1" in page and "回退到版本 1" in page
    r = c.post(f"/f/customer/{record}/revert", data={"version": "1", "current_version": "3", "csrf_token": c.csrf})
    assert r.status_code == 422  # the amount changes, so a reason is needed
    r = c.post(f"/f/customer/{record}/revert", data={"version": "1", "current_version": "3", "reason": "录入错误",
                                                      "csrf_token": c.csrf})
    assert r.status_code == 302
    assert service.get_record(Actor.system("t"), "customer", record).data["contract_amount"] == 1000
