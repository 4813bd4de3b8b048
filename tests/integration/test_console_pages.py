"""The admin console in a browser's place (Flask client): people, roles, teams, the permission
matrix through its HTMX endpoint, history and rollback, effective rights, view as and why,
tokens; each page in both languages, and refused to anyone without the permission."""
import json
import re

import pytest

from formwarden.access.actor import Actor
from formwarden.catalog import policies
from formwarden.models import ApiToken, AuditEvent, User
from formwarden.records import service
from formwarden.records.query import ListQuery
from tests.conftest import VALID_CUSTOMER, actor_of

HX = {"HX-Request": "true"}


def _rev(client) -> str:
    """The draft revision the matrix page shows (what its save button would send)."""
    m = re.search(r'id="draft-rev"[^>]*value="([^"]+)"', client.get("/admin/access/customer").get_data(as_text=True))
    return m.group(1) if m else ""


def _last(action):
    return AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.seq.desc()).first()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_every_console_page_opens_for_the_admin(login_as, locale, restore_customer):
    admin = login_as("admin")
    admin.post("/locale", data={"locale": locale, "next": "/", "csrf_token": admin.csrf})
    rec = service.create_record(Actor.system("t"), "customer", dict(VALID_CUSTOMER, owner="intern"))
    for url in ("/admin/people", "/admin/people?status=dormant", "/admin/people?q=sales&role=sales",
                "/admin/people/new", "/admin/people/intern", "/admin/people/intern/handover", "/admin/roles",
                "/admin/roles/sales", "/admin/teams", "/admin/access", "/admin/access/customer",
                "/admin/access/customer/history", "/admin/people/intern/rights", "/admin/view-as/intern/",
                "/admin/view-as/intern/customer/", f"/admin/view-as/intern/customer/{rec.id}",
                f"/admin/view-as/intern/customer/{rec.id}/why/mobile", "/admin/tokens", "/account/tokens"):
        r = admin.get(url)
        assert r.status_code == 200, (url, r.status_code)
        body = r.get_data(as_text=True)
        if locale == "zh-CN":
            assert "lang=\"zh-CN\"" in body
    team = admin.get("/admin/teams").get_data(as_text=True)
    team_id = re.search(r'/admin/teams/(\d+)"', team).group(1)
    assert admin.get(f"/admin/teams/{team_id}").status_code == 200


def test_console_is_refused_without_the_permission(login_as):
    for user in ("manager", "sales01", "auditor", "intern"):
        c = login_as(user)
        for url in ("/admin/people", "/admin/roles", "/admin/teams", "/admin/access/customer", "/admin/tokens",
                    "/admin/people/sales02/rights", "/admin/view-as/sales02/"):
            assert c.get(url).status_code == 403, (user, url)
        r = c.post("/admin/access/customer/edit", data={"op": "scope", "role": "sales", "scope": "all"}, headers=HX)
        assert r.status_code == 403


def test_matrix_cell_change_through_htmx_then_save_applies_to_the_next_page(login_as, restore_customer):
    rec = service.create_record(Actor.system("t"), "customer", dict(VALID_CUSTOMER, owner="sales01"))
    sales = login_as("sales01")
    assert VALID_CUSTOMER["mobile"] in sales.get(f"/f/customer/{rec.id}").get_data(as_text=True)
    admin = login_as("admin")
    r = admin.post("/admin/access/customer/edit", data={"op": "level", "role": "sales", "field": "mobile",
                                                        "level": "masked"}, headers=HX)
    assert r.status_code == 200 and 'id="matrix"' in r.get_data(as_text=True)
    assert "<html" not in r.get_data(as_text=True)  # a fragment, not a page
    assert VALID_CUSTOMER["mobile"] in sales.get(f"/f/customer/{rec.id}").get_data(as_text=True)  # draft only
    rev = _rev(admin)
    r = admin.post("/admin/access/customer/save", data={"reason": "", "rev": rev})
    assert r.status_code == 422
    r = admin.post("/admin/access/customer/save", data={"reason": "mobiles masked for sales", "rev": "stale"})
    assert r.status_code == 302 and _last("policy_change") is None  # not the draft on the page: refused
    r = admin.post("/admin/access/customer/save", data={"reason": "mobiles masked for sales", "rev": rev})
    assert r.status_code == 302
    assert VALID_CUSTOMER["mobile"] not in sales.get(f"/f/customer/{rec.id}").get_data(as_text=True)
    assert _last("policy_change").reason == "mobiles masked for sales"
    history = admin.get("/admin/access/customer/history").get_data(as_text=True)
    assert "手机号" in history and "销售" in history and "mobiles masked for sales" in history


def test_matrix_shows_problems_and_refuses_to_save_them(login_as, restore_customer):
    admin = login_as("admin")
    r = admin.post("/admin/access/customer/edit", data={"op": "level", "role": "sales", "field": "name",
                                                        "level": "read"}, headers=HX)
    body = r.get_data(as_text=True)
    assert "problem" in body
    r = admin.post("/admin/access/customer/save", data={"reason": "try it", "rev": _rev(admin)})
    assert r.status_code == 422


def test_bad_matrix_input_is_a_clear_error(login_as, restore_customer):
    admin = login_as("admin")
    for data in ({"op": "level", "role": "sales", "field": "nope", "level": "read"},
                 {"op": "level", "role": "sales", "field": "name", "level": "owner"},
                 {"op": "zap"}, {}):
        r = admin.post("/admin/access/customer/edit", data=data, headers=HX)
        assert r.status_code == 422, data
    assert admin.post("/admin/access/nosuchform/edit", data={"op": "zap"}, headers=HX).status_code == 404
    assert admin.post("/admin/access/customer/rollback", data={"version": "x"}).status_code == 302
    assert admin.post("/admin/access/customer/rollback", data={"version": "99999", "reason": "r"}).status_code == 302


def test_export_and_import_through_the_pages(login_as, restore_customer):
    admin = login_as("admin")
    exported = admin.get("/admin/access/customer/export.json")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    block = json.loads(exported.get_data(as_text=True))["x-access"]
    block["support"]["fields"]["company"] = "masked"
    import io
    r = admin.post("/admin/access/customer/import", data={
        "reason": "from the file", "file": (io.BytesIO(json.dumps({"x-access": block}).encode()), "c.json")},
        content_type="multipart/form-data")
    assert r.status_code == 302
    assert policies.export_access("customer") == block


def test_people_pages_create_edit_deactivate_and_hand_over(login_as, app):
    admin = login_as("admin")
    r = admin.post("/admin/people/new", data={"username": "li.na", "display_name": "李娜", "roles": ["sales"],
                                              "teams": ["华东销售"], "locale": "zh-CN", "kind": "person"})
    assert r.status_code == 200
    password = re.search(r'<p class="secret"><code>([^<]+)</code>', r.get_data(as_text=True)).group(1)
    try:
        from tests.conftest import Client
        li = Client(app.test_client()).login("li.na", password)
        for _ in range(2):
            service.create_record(Actor.system("t"), "customer", dict(VALID_CUSTOMER, owner="li.na"))
        r = admin.post("/admin/people/li.na", data={"display_name": "李娜", "roles": ["sales"], "teams": [],
                                                    "locale": "zh-CN", "time_zone": "Mars/Base", "expires_at": ""})
        assert r.status_code == 422
        r = admin.post("/admin/people/li.na/deactivate", data={"reason": ""})
        assert r.status_code == 422
        r = admin.post("/admin/people/li.na/deactivate", data={"reason": "合同到期"})
        assert r.status_code == 302 and r.headers["Location"].endswith("/admin/people/li.na/handover")
        assert li.get("/f/customer/").status_code in (302, 401)
        page = admin.get("/admin/people/li.na/handover").get_data(as_text=True)
        assert "客户" in page and "2" in page
        r = admin.post("/admin/people/li.na/handover", data={"to": "sales02", "reason": "离职交接"})
        assert r.status_code == 302
        assert service.list_records(actor_of("sales02"), "customer", ListQuery()).total >= 2
    finally:
        from formwarden.models import Record
        Record.delete().where(Record.owner.in_(User.select(User.id).where(User.username == "li.na"))).execute()
        User.delete().where(User.username == "li.na").execute()


def test_role_and_team_pages(login_as):
    admin = login_as("admin")
    roles = admin.get("/admin/roles").get_data(as_text=True)
    assert re.search(r'data-label="持有人数">[1-9]', roles), "the administrator role has holders"  # not the header's counts
    r = admin.post("/admin/roles", data={"name": "Bad Name"})
    assert r.status_code == 422
    r = admin.post("/admin/roles", data={"name": "visitor", "title_zh": "访客", "title_en": "Visitor",
                                         "permissions": ["records"]})
    assert r.status_code == 302
    try:
        r = admin.post("/admin/roles/visitor", data={"title_zh": "访客", "title_en": "Guest",
                                                     "permissions": ["records", "audit.read"]})
        assert r.status_code == 302
        assert "audit.read" in json.dumps(json.loads(_last("role_update").diff))
        r = admin.post("/admin/roles/sales", data={"op": "retire"})
        assert r.status_code == 422 and "sales01" in r.get_data(as_text=True)
        assert admin.post("/admin/roles/visitor", data={"op": "delete"}).status_code == 302
        r = admin.post("/admin/teams", data={"name": "West sales", "manager": "manager"})
        assert r.status_code == 302
        team_id = r.headers["Location"].rsplit("/", 1)[1]
        assert admin.post(f"/admin/teams/{team_id}", data={"op": "add", "member": "sales05"}).status_code == 302
        assert admin.post(f"/admin/teams/{team_id}", data={"op": "remove", "member": "manager"}).status_code == 422
        assert admin.post(f"/admin/teams/{team_id}", data={"op": "delete"}).status_code == 302
    finally:
        from formwarden.models import Role
        Role.delete().where(Role.name == "visitor").execute()


def test_tokens_pages(login_as):
    manager = login_as("manager")
    r = manager.post("/account/tokens", data={"name": "BI export", "scopes": ["customer:read"],
                                              "fields": ["customer.name"], "ip_allow": "10.0.0.0/8",
                                              "expires": "2099-01-01"})
    assert r.status_code == 200
    raw = re.search(r"<code>(fw_[^<]+)</code>", r.get_data(as_text=True)).group(1)
    token = ApiToken.get(ApiToken.prefix == raw.split("_")[1])
    assert token.fields == "customer.name" and token.ip_allow == "10.0.0.0/8"
    assert manager.post("/account/tokens", data={"name": "x", "scopes": ["read"], "ip_allow": "nope"}).status_code == 422
    other = login_as("sales01")
    assert other.post(f"/tokens/{token.id}/revoke", data={}).status_code == 404  # not theirs
    assert manager.post(f"/tokens/{token.id}/revoke", data={"back": "/account/tokens"}).status_code == 302
    assert ApiToken.get_by_id(token.id).revoked_at is not None
    admin = login_as("admin")
    r = admin.get("/admin/people/sales01/tokens/new")
    assert r.status_code == 302  # people create their own tokens


def test_view_as_is_read_only_audited_and_explains(login_as):
    rec = service.create_record(Actor.system("t"), "customer", dict(VALID_CUSTOMER, owner="intern"))
    admin = login_as("admin")
    page = admin.get(f"/admin/view-as/intern/customer/{rec.id}").get_data(as_text=True)
    assert VALID_CUSTOMER["mobile"] not in page  # the intern sees the mobile masked
    assert "138" in page or "*" in page
    event = _last("view_as")
    assert event.actor_name == "admin" and json.loads(event.diff)["as"] == [None, "intern"]
    why = admin.get(f"/admin/view-as/intern/customer/{rec.id}/why/mobile", headers=HX).get_data(as_text=True)
    assert "intern" in why.lower() or "实习生" in why
    assert admin.get(f"/admin/view-as/sales02/customer/{rec.id}").status_code == 404  # not theirs to see
    assert not AuditEvent.select().where(AuditEvent.actor_name == "intern").exists()  # nothing in their name


def test_a_one_time_password_must_be_replaced_before_anything_else(login_as, app):
    from tests.conftest import Client

    admin = login_as("admin")
    r = admin.post("/admin/people/new", data={"username": "wang.fang", "roles": ["sales"], "locale": "zh-CN",
                                              "kind": "person"})
    password = re.search(r'<p class="secret"><code>([^<]+)</code>', r.get_data(as_text=True)).group(1)
    try:
        c = Client(app.test_client()).login("wang.fang", password)
        r = c.get("/f/customer/")
        assert r.status_code == 302 and r.headers["Location"].endswith("/account/password")
        assert c.get("/f/customer/", headers=HX).headers.get("HX-Redirect") == "/account/password"
        page = c.get("/account/password").get_data(as_text=True)
        assert "一次性密码" in page
        r = c.post("/account/password", data={"old_password": password, "new_password": "Wang-Fang-2026-ok",
                                              "confirm_password": "Wang-Fang-2026-ok"})
        assert r.status_code == 302
        assert c.get("/f/customer/").status_code == 200
    finally:
        User.delete().where(User.username == "wang.fang").execute()


def test_people_are_found_by_role_title_and_policy_downloads_are_recorded(login_as):
    admin = login_as("admin")
    page = admin.get("/admin/people?q=实习生").get_data(as_text=True)
    assert "/admin/people/intern" in page
    admin.get("/admin/access/customer/export.json")
    assert _last("policy_export").actor_name == "admin"


def test_pages_of_people_with_tokens_and_a_same_password_change(login_as, app):
    from formwarden.auth.tokens import create_token

    create_token(Actor.system("t"), User.get(User.username == "manager"), name="BI", scopes=["customer:read"])
    admin = login_as("admin")
    page = admin.get("/admin/people/manager")
    assert page.status_code == 200 and "BI" in page.get_data(as_text=True)
    assert admin.get("/admin/tokens").status_code == 200
    manager = login_as("manager")
    r = manager.post("/account/password", data={"old_password": "demo-pass-123", "new_password": "demo-pass-123",
                                                 "confirm_password": "demo-pass-123"})
    assert r.status_code == 422 and "不能与当前密码相同" in r.get_data(as_text=True)


def test_dormant_filter_keeps_the_other_filters(login_as):
    import datetime as dt

    from formwarden.models import utcnow
    User.update(last_login_at=utcnow() - dt.timedelta(days=90), created_at=utcnow() - dt.timedelta(days=100)).where(
        User.username.in_(["sales02", "sales15"])).execute()
    page = login_as("admin").get("/admin/people?status=dormant&team=华东销售").get_data(as_text=True)
    assert "/admin/people/sales02" in page and "/admin/people/sales15" not in page


def test_numbers_in_console_paths_are_whole_numbers_the_database_holds(login_as):
    admin = login_as("admin")
    for url in ("/admin/teams/99999999999999999999999", "/admin/teams/١", "/admin/teams/-1"):
        assert admin.get(url).status_code == 404, url
    assert admin.post("/tokens/99999999999999999999999/revoke", data={}).status_code == 404


def test_a_refused_import_keeps_the_typed_reason(login_as):
    """No refused save wipes a typed reason: the matrix's import answers with a redirect, and the
    reason typed is back in its box (a refused rollback keeps its reason the same way)."""
    import io

    admin = login_as("admin")
    r = admin.post("/admin/access/customer/import", data={"csrf_token": admin.csrf, "reason": "我写的原因-导入",
                                                    "file": (io.BytesIO(b"not json"), "p.json")},
                   content_type="multipart/form-data")
    assert r.status_code == 302
    assert 'value="我写的原因-导入"' in admin.get(r.headers["Location"]).get_data(as_text=True)
