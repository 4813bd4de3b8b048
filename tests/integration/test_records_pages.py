"""Record pages beyond the route walk: concurrent edits, HTMX fragments."""
import pytest

from formwarden.access.actor import Actor
from formwarden.records import service


def test_concurrent_edit_is_refused_with_a_clear_message(login_as):
    rec = service.create_record(Actor.system("tests"), "customer",
                                {"name": "并发", "status": "lead", "owner": "sales01"})
    a, b = login_as("sales01"), login_as("manager")
    form = {"_present": ["company"], "company": "A 公司", "version": "1"}
    r = a.post(f"/f/customer/{rec.id}/edit", data={**form, "csrf_token": a.csrf})
    assert r.status_code == 302
    r = b.post(f"/f/customer/{rec.id}/edit", data={**form, "company": "B 公司", "csrf_token": b.csrf},
               headers={"HX-Request": "true"})
    assert r.status_code == 409
    assert "你编辑期间有人保存了这条记录" in r.get_data(as_text=True) and "A 公司" in r.get_data(as_text=True)
    assert service.get_record(Actor.system("tests"), "customer", rec.id).data["company"] == "A 公司"


def test_field_check_fragment_and_rule_swap(login_as):
    c = login_as("admin")
    r = c.post("/f/customer/check", data={"_field": "mobile", "_present": ["mobile", "status"], "mobile": "123",
                                          "status": "negotiating", "csrf_token": c.csrf},
               headers={"HX-Request": "true"})
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="err-mobile"' in body and "<html" not in body
    r = c.post("/f/customer/check", data={"_field": "status", "_present": ["status"], "status": "won",
                                          "csrf_token": c.csrf}, headers={"HX-Request": "true"})
    body = r.get_data(as_text=True)
    assert 'hx-swap-oob="outerHTML:#f-contract_amount"' in body and 'hx-swap-oob="outerHTML:#f-company"' in body


def test_list_fragment_is_the_results_block(login_as):
    c = login_as("sales01")
    r = c.get("/f/customer/?filter[status]=lead", headers={"HX-Request": "true"})
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and body.lstrip().startswith('<div id="results">') and "HX-Request" in r.headers["Vary"]


def test_every_widget_renders_and_saves(login_as):
    """The follow-up form uses a reference, select, date, textarea, multi-select, email and member widgets."""
    customer = service.create_record(Actor.system("tests"), "customer",
                                     {"name": "小组件", "status": "lead", "owner": "manager"})
    c = login_as("manager")
    page = c.get("/f/followup/new").get_data(as_text=True)
    for marker in ('name="customer_id"', '<select id="in-kind"', 'type="date"', "<textarea", 'type="checkbox"',
                   'name="topics" value="delivery"', '<select id="in-owner"'):
        assert marker in page, marker
    form = {"_present": ["customer_id", "kind", "happened_on", "summary", "topics", "contact_email", "owner"],
            "customer_id": str(customer.id), "kind": "email", "happened_on": "2026-11-20", "summary": "邮件确认",
            "topics": ["price", "delivery"], "contact_email": "buyer@example.cn", "owner": "sales03",
            "csrf_token": c.csrf}
    r = c.post("/f/followup/new", data=form)
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    rid = int(r.headers["Location"].rsplit("/", 1)[1])
    saved = service.get_record(Actor.system("tests"), "followup", rid)
    assert saved.data["topics"] == ["price", "delivery"] and saved.owner == "sales03"
    shown = c.get(f"/f/followup/{rid}").get_data(as_text=True)
    assert "价格" in shown and f'href="/f/customer/{customer.id}"' in shown


def test_recycle_bin_shows_who_deleted_and_when(login_as):
    rec = service.create_record(Actor.system("tests"), "customer", {"name": "回收", "status": "lead", "owner": "sales01"})
    c = login_as("sales01")
    c.post(f"/f/customer/{rec.id}/delete", data={"csrf_token": c.csrf})
    page = c.get("/f/customer/?bin=1").get_data(as_text=True)
    assert "删除人" in page and "回收" in page and page.count("张伟（销售）") >= 2  # owner and deleter by name
    api = c.get("/api/v1/forms/customer/records?deleted=1").json["items"][0]
    assert api["deleted_by"] == "sales01" and api["deleted_at"].endswith("Z")
    r = c.post(f"/f/customer/{rec.id}/restore", data={"csrf_token": c.csrf})
    assert r.status_code == 302 and service.get_record(Actor.system("t"), "customer", rec.id).id == rec.id


@pytest.mark.parametrize("locale, words", [("zh-CN", "请输入 11 位中国大陆手机号"), ("en", "Enter an 11-digit mainland mobile number")])
def test_format_errors_name_the_format_in_words(login_as, locale, words):
    c = login_as("sales01")
    c.post("/locale", data={"locale": locale, "next": "/", "csrf_token": c.csrf})
    r = c.post("/f/customer/check", data={"_field": "mobile", "_present": ["mobile"], "mobile": "123"})
    body = r.get_data(as_text=True)
    assert words in body and "cn-mobile" not in body
