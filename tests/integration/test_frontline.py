"""A frontline day: what sales, support and finance see on their pages."""
import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from formwarden.models import User
from formwarden.records import service
from formwarden.records.query import ListQuery
from tests.conftest import DEMO_PASSWORD, VALID_CUSTOMER, actor_of


def test_times_show_in_the_readers_zone_with_utc_on_hover(login_as):
    rec = service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "owner": "sales01"})
    User.update(time_zone="America/New_York").where(User.username == "sales01").execute()
    try:
        page = login_as("sales01").get(f"/f/customer/{rec.id}").text
    finally:
        User.update(time_zone="").where(User.username == "sales01").execute()
    stamps = re.findall(r'<time datetime="([^"]+)Z" title="([^"]+) UTC">([^<]+)</time>', page)
    assert stamps, "the record page shows its times"
    for iso, utc, shown in stamps:
        at = dt.datetime.fromisoformat(iso).replace(tzinfo=dt.UTC)
        assert shown.startswith(at.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M"))
        assert utc == at.strftime("%Y-%m-%d %H:%M:%S")
    listed = login_as("support").get("/f/customer/").text  # default zone: the instance's (Asia/Shanghai)
    iso, _utc, shown = re.findall(r'<time datetime="([^"]+)Z" title="([^"]+) UTC">([^<]+)</time>', listed)[0]
    at = dt.datetime.fromisoformat(iso).replace(tzinfo=dt.UTC)
    assert shown == at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def test_deleting_asks_first_and_offers_undo(login_as):
    rec = service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "owner": "sales01", "name": "王小明"})
    sales = login_as("sales01")
    page = sales.get(f"/f/customer/{rec.id}/delete")
    assert page.status_code == 200 and "王小明" in page.text and "<script" not in page.text.split("<main ")[1]
    assert service.get_record(actor_of("sales01"), "customer", rec.id)  # asking changed nothing
    r = sales.post(f"/f/customer/{rec.id}/delete", data={"csrf_token": sales.csrf})
    assert r.status_code == 302
    listed = sales.get(r.headers["Location"]).text
    undo = re.search(r'<form method="post" action="([^"]+)" class="inline">', listed.split('class="flash info undo"')[1])
    assert undo and undo.group(1) == f"/f/customer/{rec.id}/restore"
    sales.refresh_csrf(listed)
    assert sales.post(undo.group(1), data={"csrf_token": sales.csrf}).status_code == 302
    assert service.get_record(actor_of("sales01"), "customer", rec.id).deleted_at is None


def test_purging_needs_the_title_typed_and_a_reason(login_as):
    rec = service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "owner": "sales01", "name": "王小明"})
    service.delete_record(actor_of("admin"), "customer", rec.id)
    admin = login_as("admin")
    assert "王小明" in admin.get(f"/f/customer/{rec.id}/purge").text
    r = admin.post(f"/f/customer/{rec.id}/purge", data={"csrf_token": admin.csrf, "confirm": "王小", "reason": ""})
    assert r.status_code == 422
    assert service.get_record(actor_of("admin"), "customer", rec.id, deleted=True)  # still in the bin
    r = admin.post(f"/f/customer/{rec.id}/purge", data={"csrf_token": admin.csrf, "confirm": "王小明", "reason": "重复录入"})
    assert r.status_code == 302
    assert login_as("sales01").get(f"/f/customer/{rec.id}/purge").status_code in (403, 404)


def test_bulk_delete_shows_the_count_and_asks_once(login_as):
    ids = [service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "owner": "sales01"}).id
           for _ in range(3)]
    sales = login_as("sales01")
    r = sales.post("/f/customer/bulk", data={"csrf_token": sales.csrf, "action": "delete", "ids": [str(i) for i in ids]})
    assert r.status_code == 200 and "3" in r.text
    assert service.list_records(actor_of("sales01"), "customer", ListQuery()).total == 3  # nothing yet
    r = sales.post("/f/customer/bulk", data={"csrf_token": sales.csrf, "action": "delete", "confirmed": "1",
                                             "ids": [str(i) for i in ids]})
    assert r.status_code == 302
    assert service.list_records(actor_of("sales01"), "customer", ListQuery()).total == 0


def test_the_list_sorts_by_header_filters_ranges_and_remembers_columns(login_as):
    for name, amount in (("甲", 100), ("乙", 300), ("丙", 200)):
        service.create_record(actor_of("admin"), "customer",
                              {**VALID_CUSTOMER, "owner": "sales01", "name": name, "status": "won", "contract_amount": amount})
    manager = login_as("manager")
    page = manager.get("/f/customer/", query_string={"sort": "-contract_amount"}).text
    assert page.index("乙") < page.index("丙") < page.index("甲")
    assert 'href="?sort=contract_amount' in page  # the header flips the order
    page = manager.get("/f/customer/", query_string={"from[contract_amount]": "150", "to[contract_amount]": "250"}).text
    assert "丙" in page and "乙" not in page.split('id="results"')[1] and "甲" not in page.split('id="results"')[1]
    assert "Clear filters" in page or "清除筛选" in page
    r = manager.get("/f/customer/", query_string={"cols_set": "1", "cols": ["company", "region"]})
    assert "fw_cols_customer=company.region" in r.headers.get("Set-Cookie", "")
    head = manager.get("/f/customer/").text.split("<thead>")[1].split("</thead>")[0]  # remembered
    assert "公司名称" in head and "区域" in head and "合同金额" not in head
    r = manager.get("/f/customer/", query_string={"from[contract_amount]": "lots"})
    assert r.status_code == 422
    assert login_as("finance").get("/f/customer/", query_string={"from[next_followup]": "2026-01-01"}).status_code == 403


def test_home_shows_each_form_with_counts_and_follow_ups_due(login_as):
    zone = User.get(User.username == "sales01").time_zone or "Asia/Shanghai"
    today = dt.datetime.now(ZoneInfo(zone)).date()  # "today" is the user's
    for days in (-3, 0, 5):
        service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "owner": "sales01",
                                                              "next_followup": (today + dt.timedelta(days=days)).isoformat()})
    service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "owner": "sales02",
                                                          "next_followup": today.isoformat()})
    page = login_as("sales01").get("/").text
    assert "2 个跟进到期" in page or "2 follow-ups due" in page
    assert page.index("客户") < page.index("跟进记录") < page.index("合同")  # the forms' configured order
    due = re.search(r'class="due" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    listed = login_as("sales01").get(due)
    assert listed.status_code == 200 and "2 条记录" in listed.text
    assert "跟进到期" not in login_as("finance").get("/").text  # finance may not read the follow-up date


def test_an_edit_conflict_keeps_both_peoples_changes_without_retyping(login_as):
    rec = service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "owner": "sales01", "company": "旧公司",
                                                                "notes": "旧备注"})
    sales = login_as("sales01")
    sales.refresh_csrf(sales.get(f"/f/customer/{rec.id}/edit").text)  # the form at version 1
    service.update_record(actor_of("manager"), "customer", rec.id, {"company": "经理改的公司", "region": "east"},
                          expected_version=1)
    form = {"csrf_token": sales.csrf, "version": "1", "_present": ["name", "company", "notes", "region"],
            "name": VALID_CUSTOMER["name"], "company": "销售改的公司", "notes": "销售的新备注", "region": ""}
    r = sales.post(f"/f/customer/{rec.id}/edit", data=form)
    assert r.status_code == 409
    page = r.text
    assert "经理改的公司" in page and "销售改的公司" in page and "销售的新备注" in page
    assert 'name="version" value="2"' in page  # saving again applies to the new version
    assert 'value="east" selected' in page  # their region kept: this person never touched it
    sales.refresh_csrf(page)
    again = {**form, "csrf_token": sales.csrf, "version": "2", "region": "east"}
    assert sales.post(f"/f/customer/{rec.id}/edit", data=again).status_code == 302
    data = service.get_record(actor_of("admin"), "customer", rec.id).data
    assert data["company"] == "销售改的公司" and data["notes"] == "销售的新备注" and data["region"] == "east"


def test_typing_survives_a_session_that_ended_before_the_save(login_as):
    from formwarden.models import FormDraft, UserSession, utcnow

    sales = login_as("sales01")
    sales.refresh_csrf(sales.get("/f/customer/new").text)
    UserSession.update(revoked_at=utcnow(), end_reason="server").execute()  # the server ends the session
    typed = {"csrf_token": sales.csrf, "_present": ["name", "mobile", "company", "status"], "name": "没保存的客户",
             "mobile": "13800001111", "company": "打字公司", "status": "lead"}
    r = sales.post("/f/customer/new", data=typed)
    assert r.status_code == 302 and "/login" in r.headers["Location"] and "next=/f/customer/new" in r.headers["Location"]
    kept = list(FormDraft.select())
    assert len(kept) == 1 and "没保存" not in kept[0].data and "13800001111" not in kept[0].data  # encrypted
    assert login_as("sales02").get("/f/customer/new").text.count("没保存的客户") == 0  # theirs only
    again = login_as("sales01").get("/f/customer/new").text
    assert 'value="没保存的客户"' in again and 'value="13800001111"' in again and "打字公司" in again
    assert FormDraft.select().count() == 0  # handed back once
    assert 'value="没保存的客户"' not in login_as("sales01").get("/f/customer/new").text


def test_nothing_is_kept_after_signing_out(login_as):
    from formwarden.models import FormDraft

    sales = login_as("sales01")
    page = sales.get("/f/customer/new").text
    sales.refresh_csrf(page)
    sales.post("/logout", data={"csrf_token": sales.csrf})
    sales.post("/f/customer/new", data={"csrf_token": sales.csrf, "_present": "name", "name": "退出后"})
    assert FormDraft.select().count() == 0


def _form_fields(page: str) -> dict:
    return {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
            "_session": re.search(r'name="_session" value="([^"]*)"', page).group(1)}


def test_typing_survives_a_lost_session_cookie_and_an_expired_form(app, login_as):
    """The cookie is gone (deleted, expired): the form's signed note of its session names whose
    typing to keep. The CSRF token is gone but the session is live: straight back to the form."""
    from formwarden.models import FormDraft

    sales = login_as("sales01")
    fields = _form_fields(sales.get("/f/customer/new").text)
    assert fields["_session"]
    typed = {"_present": ["name", "status"], "name": "丢了饼干", "status": "lead"}
    bare = app.test_client()  # no cookie at all
    r = bare.post("/f/customer/new", data={**fields, **typed})
    assert r.status_code == 302 and "next=/f/customer/new" in r.headers["Location"]
    assert FormDraft.select().count() == 1
    assert 'value="丢了饼干"' in login_as("sales01").get("/f/customer/new").text
    # signed in, but the form's CSRF token no longer matches (the session cookie was replaced)
    r = sales.post("/f/customer/new", data={**fields, **typed, "name": "过期表单", "csrf_token": "stale"},
                   headers={"X-CSRFToken": "stale"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/f/customer/new")
    assert 'value="过期表单"' in sales.get("/f/customer/new").text
    # a forged or foreign note keeps nothing
    bare.post("/f/customer/new", data={**fields, **typed, "_session": fields["_session"][:-2] + "xx"})
    assert FormDraft.select().count() == 0


@pytest.mark.parametrize("how", ["logout", "password"])
def test_a_copied_cookie_of_a_session_the_person_ended_plants_nothing(app, login_as, how):
    from formwarden.auth.users import change_password
    from formwarden.models import FormDraft, User

    sales = login_as("sales01")
    fields = _form_fields(sales.get("/f/customer/new").text)
    copied = sales.c.get_cookie("fw_session")
    if how == "logout":
        sales.post("/logout", data={"csrf_token": sales.csrf})
    else:
        change_password(actor_of("sales01"), User.get(User.username == "sales01"), DEMO_PASSWORD,
                        DEMO_PASSWORD + "-new", keep_session=None)
    thief = app.test_client()
    thief.set_cookie(copied.key, copied.value)
    r = thief.post("/f/customer/new", data={**fields, "_present": "name", "name": "植入"})
    assert r.status_code == 302 and FormDraft.select().count() == 0
    r = app.test_client().post("/f/customer/new", data={**fields, "_present": "name", "name": "植入"})
    assert FormDraft.select().count() == 0
    if how == "password":
        from formwarden.auth.passwords import hash_password
        User.update(password_hash=hash_password(DEMO_PASSWORD)).where(User.username == "sales01").execute()


def test_events_about_many_records_read_as_sentences(login_as):
    from formwarden.records import bulk

    ids = [service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "owner": "sales01"}).id
           for _ in range(2)]
    bulk.bulk_update(actor_of("admin"), "customer", ids, {"status": "won"})
    bulk.bulk_delete(actor_of("admin"), "customer", ids)
    page = login_as("admin").get("/audit", query_string={"form": "customer"}).text
    assert "将 2 条记录移入回收站" in page and "批量修改了 2 条记录的状态" in page
    assert "records:" not in page and "[" + str(ids[0]) not in page


def test_the_reason_box_says_what_needs_the_reason(login_as):
    rec = service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "owner": "sales01", "status": "won",
                                                                "contract_amount": 100})
    manager = login_as("manager")
    manager.refresh_csrf(manager.get(f"/f/customer/{rec.id}/edit").text)
    r = manager.post(f"/f/customer/{rec.id}/edit", data={"csrf_token": manager.csrf, "version": "1",
                                                         "_present": ["contract_amount"], "contract_amount": "200"})
    assert r.status_code == 422
    error = re.search(r'<span class="error-text" id="err-reason" role="alert">([^<]*)</span>', r.text).group(1)
    assert "合同金额" in error and "原因" in error


def test_a_field_check_after_the_session_ended_keeps_the_typing_too(login_as):
    from formwarden.models import FormDraft, UserSession, utcnow

    sales = login_as("sales01")
    sales.refresh_csrf(sales.get("/f/customer/new").text)
    UserSession.update(last_seen_at=utcnow() - dt.timedelta(days=1)).execute()  # it timed out
    r = sales.post("/f/customer/check", data={"csrf_token": sales.csrf, "_field": "mobile", "_present": ["name", "mobile"],
                                             "name": "检查时失效", "mobile": "138"}, headers={"HX-Request": "true"})
    assert "next=/f/customer/new" in r.headers.get("HX-Redirect", "")
    assert FormDraft.select().count() == 1
    assert 'value="检查时失效"' in login_as("sales01").get("/f/customer/new").text


def test_a_field_a_rule_requires_of_someone_who_cannot_write_it_waits_for_someone_who_can(login_as, restore_customer):
    """A won customer requires the contract amount, which sales may only read: the matrix saves
    such a policy, sales saves the record, and it shows as waiting for the roles who may fill it."""
    import json as _json

    from formwarden.catalog import policies
    from formwarden.config import REPO_ROOT

    doc = _json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8"))
    from formwarden.catalog import publishing
    doc["x-rules"].append({"when": {"field": "status", "in": ["won"]}, "require": ["contract_amount"]})
    publishing.publish(actor_of("admin"), doc, keep_policy=True)
    policies.save(actor_of("admin"), "customer", doc["x-access"], reason="the matrix no longer refuses it")
    sales = login_as("sales01")
    r = sales.post("/api/v1/forms/customer/records", json={"data": {**VALID_CUSTOMER, "status": "won"}})
    assert r.status_code == 201, r.json
    rid = r.json["id"]
    page = sales.get(f"/f/customer/{rid}").get_data(as_text=True)
    assert "等待补充合同金额" in page and "管理员" in page and "经理" in page
    listing = sales.get("/f/customer/").get_data(as_text=True)
    assert 'class="badge waiting"' in listing
    manager = actor_of("manager")
    service.update_record(manager, "customer", rid, {"contract_amount": 1000}, expected_version=1, reason="签了")
    assert "等待补充" not in sales.get(f"/f/customer/{rid}").get_data(as_text=True)
