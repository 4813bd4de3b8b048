
import pytest

from tests.conftest import VALID_CUSTOMER

URL = "/api/v1/forms/customer/records"


def post(client, data, **kw):
    return client.post(URL, json={"data": data, **kw})


def test_create_read_patch_delete(login_as):
    c = login_as("sales01")
    r = post(c, VALID_CUSTOMER, reason="trade fair")
    assert r.status_code == 201, r.json
    rec = r.json
    assert set(rec) == {"id", "version", "form_version", "data"}
    assert r.headers["ETag"] == '"1"' and r.headers["Location"].endswith(f"/{rec['id']}")
    r = c.get(f"{URL}/{rec['id']}")
    assert r.status_code == 200 and r.json["data"]["owner"] == "sales01"
    r = c.patch(f"{URL}/{rec['id']}", json={"data": {"status": "contacted"}}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.json["version"] == 2 and r.headers["ETag"] == '"2"'
    r = c.patch(f"{URL}/{rec['id']}", json={"data": {"status": "lead"}}, headers={"If-Match": '"1"'})
    assert r.status_code == 409 and r.json["error"]["code"] == "stale_version"
    r = c.patch(f"{URL}/{rec['id']}", json={"data": {"status": "lead"}})
    assert r.status_code == 428
    assert c.delete(f"{URL}/{rec['id']}").status_code == 204
    assert c.get(f"{URL}/{rec['id']}").status_code == 404
    r = c.get(f"{URL}?deleted=1")
    assert [i["id"] for i in r.json["items"]] == [rec["id"]]
    assert c.post(f"{URL}/{rec['id']}/restore").status_code == 200
    assert c.get(f"{URL}/{rec['id']}").status_code == 200


def test_write_to_field_without_write_access_is_403_naming_it(login_as):
    c = login_as("sales01")
    r = post(c, {**VALID_CUSTOMER, "contract_amount": 10})
    assert r.status_code == 403
    assert r.json["error"] == {"code": "field_not_writable", "field": "contract_amount",
                               "message": "you may not write field 'contract_amount'"}
    assert c.get(URL).json["total"] == 0


@pytest.mark.parametrize("body,ctype,status,code", [
    (b"{not json", "application/json", 400, "malformed_json"),
    (b"[]", "application/json", 422, "invalid_body"),
    (b'{"data": []}', "application/json", 422, "invalid_body"),
    (b'{"data": {}, "extra": 1}', "application/json", 422, "unknown_key"),
    (b'{"data": {}}', "text/plain", 400, "unsupported_media_type"),
    (b'{"data": {}, "reason": 5}', "application/json", 422, "invalid_reason"),
])
def test_malformed_bodies(login_as, body, ctype, status, code):
    c = login_as("sales01")
    r = c.post(URL, data=body, content_type=ctype)
    assert r.status_code == status and r.json["error"]["code"] == code


def test_validation_errors_name_each_field(login_as):
    c = login_as("sales01")
    r = post(c, {"name": 7, "mobile": "123", "status": "won", "surprise": True})
    assert r.status_code == 422
    errors = {e["field"]: e["code"] for e in r.json["error"]["errors"]}
    assert errors == {"surprise": "unknown_field"}  # unknown fields are refused before anything else


def test_type_errors_are_422(login_as):
    c = login_as("admin")
    r = post(c, {"name": 7, "mobile": "123", "status": "won", "company": "X"})
    assert r.status_code == 422
    errors = {e["field"]: e["code"] for e in r.json["error"]["errors"]}
    assert errors == {"name": "type", "mobile": "format"}


def test_oversized_body_is_413(login_as):
    c = login_as("sales01")
    r = post(c, {**VALID_CUSTOMER, "notes": "x" * 200_000})
    assert r.status_code == 413 and r.json["error"]["code"] == "too_large"


def test_unknown_form_and_ids(login_as):
    c = login_as("sales01")
    assert c.get("/api/v1/forms/nope/records").json["error"]["code"] == "unknown_form"
    assert c.get(f"{URL}/999999").status_code == 404
    assert c.get(f"{URL}/abc").status_code == 404
    assert c.get(f"{URL}?page=x").status_code == 400
    assert c.get(f"{URL}?per_page=1000").status_code == 422
    assert c.get(f"{URL}?filter[contract_amount]=abc").status_code == 422
    assert c.get(f"{URL}?filter[nope]=1").status_code == 422


def test_hidden_and_masked_in_api(login_as):
    admin = login_as("admin")
    rid = post(admin, {**VALID_CUSTOMER, "owner": "intern", "id_number": "11010519491231002X",
                       "status": "won", "contract_amount": 88}).json["id"]
    intern = login_as("intern")
    data = intern.get(f"{URL}/{rid}").json["data"]
    assert data["mobile"] == "138****5678"
    assert "id_number" not in data and "contract_amount" not in data
    r = intern.get(f"{URL}?filter[mobile]=13812345678")
    assert r.status_code == 403 and r.json["error"]["field"] == "mobile"
    r = intern.get(f"{URL}?sort=-contract_amount")
    assert r.status_code == 403
    manager = login_as("manager")
    assert manager.get(f"{URL}/{rid}").json["data"]["id_number"] == "110105********002X"


def test_list_filter_sort_paging(login_as):
    admin = login_as("admin")
    for i in range(7):
        post(admin, {**VALID_CUSTOMER, "name": f"客户{i}", "status": "negotiating" if i % 2 else "lead",
                     "owner": "sales03", **({"contract_amount": i * 10} if i % 2 else {})})
    r = admin.get(f"{URL}?filter[status]=negotiating&sort=-contract_amount&per_page=2&page=1")
    assert r.json["total"] == 3
    assert [i["data"]["contract_amount"] for i in r.json["items"]] == [50, 30]
    r = admin.get(f"{URL}?filter[status]=negotiating&filter[status]=lead&sort=name&per_page=50")
    assert [i["data"]["name"] for i in r.json["items"]] == [f"客户{i}" for i in range(7)]
    sales = login_as("sales03")
    assert sales.get(URL).json["total"] == 7
    assert login_as("sales04").get(URL).json["total"] == 0


def test_token_auth_and_scopes(anon):
    from formwarden.access.actor import Actor
    from formwarden.auth.tokens import create_token
    from formwarden.models import User

    user = User.get(User.username == "sales02")
    _, read_token = create_token(Actor.system("tests"), user, scopes=["read"])
    _, write_token = create_token(Actor.system("tests"), user, scopes=["customer:read", "customer:write"])
    c = anon.c
    rw = {"Authorization": f"Bearer {write_token}"}
    r = c.post(URL, json={"data": VALID_CUSTOMER}, headers=rw)
    assert r.status_code == 201, r.json
    rid = r.json["id"]
    ro = {"Authorization": f"Bearer {read_token}"}
    assert c.get(f"{URL}/{rid}", headers=ro).status_code == 200
    r = c.post(URL, json={"data": VALID_CUSTOMER}, headers=ro)
    assert r.status_code == 403 and r.json["error"]["code"] == "no_create"
    r = c.get(URL, headers={"Authorization": "Bearer fw_bogus_token"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")


def test_session_api_writes_need_csrf(login_as):
    c = login_as("sales01")
    r = c.c.post(URL, json={"data": VALID_CUSTOMER})
    assert r.status_code == 400 and r.json["error"]["code"] == "csrf_failed"


def test_anonymous_is_401(anon):
    r = anon.get(URL)
    assert r.status_code == 401 and r.json["error"]["code"] == "login_required"


def test_openapi_document_is_valid(anon):
    from openapi_spec_validator import validate

    doc = anon.get("/api/v1/openapi.json").json
    validate(doc)
    assert "/forms/{form}/records/{id}" in doc["paths"]


def test_forms_listing_shows_field_levels(login_as):
    r = login_as("intern").get("/api/v1/forms")
    customer = next(f for f in r.json["items"] if f["key"] == "customer")
    assert customer["fields"]["mobile"] == "masked" and "id_number" not in customer["fields"]
    assert "contract" not in [f["key"] for f in r.json["items"]]


def test_search_box_finds_names_and_keeps_scope(login_as):
    admin = login_as("admin")
    for name in ("王小明", "李小红", "100%_真"):
        post(admin, {**VALID_CUSTOMER, "name": name, "owner": "sales05"})
    assert [i["data"]["name"] for i in admin.get(f"{URL}?q=小").json["items"]] == ["李小红", "王小明"]
    assert [i["data"]["name"] for i in admin.get(f"{URL}?q=100").json["items"]] == ["100%_真"]
    assert admin.get(f"{URL}?q=%25_").json["total"] == 0  # punctuation alone is no wildcard
    assert login_as("sales06").get(f"{URL}?q=小").json["total"] == 0  # scope still applies
    r = login_as("finance").get(f"{URL}?q=小")
    assert r.status_code == 200 and r.json["total"] == 0  # finance cannot read names: not searched


def test_nul_characters_are_refused_with_a_reason(login_as, anon):
    c = login_as("sales01")
    r = post(c, {**VALID_CUSTOMER, "name": "a\x00b"})
    assert r.status_code == 422 and r.json["error"]["errors"][0] == {
        "field": "name", "code": "invalid_character", "message": "Contains a character that is not allowed."}
    r = c.get(f"{URL}?q=%00")
    assert r.status_code == 400 and r.json["error"]["field"] == "q"
    anon.refresh_csrf()
    r = anon.c.post("/login", data={"username": "sales\x0001", "password": "x", "csrf_token": anon.csrf})
    assert r.status_code == 400


def test_a_write_to_a_field_the_rules_hide_is_422_naming_the_field_and_rule(login_as):
    """contract_amount shows only while status is negotiating or won: a value sent for a lead would
    not be kept, so it is refused, never answered 200 with nothing stored."""
    c = login_as("manager")
    rec = post(c, {**VALID_CUSTOMER, "owner": "sales01"}).json
    r = c.patch(f"{URL}/{rec['id']}", json={"data": {"contract_amount": 5000}}, headers={"If-Match": '"1"'})
    assert r.status_code == 422, r.json
    error = r.json["error"]
    assert error["field"] == "contract_amount" and "status is one of negotiating, won" in error["message"]
    assert error["errors"][0]["code"] == "hidden_by_rule"
    assert error["errors"][0]["params"]["rule"] == "status is one of negotiating, won"
    r = post(c, {**VALID_CUSTOMER, "contract_amount": 10})
    assert r.status_code == 422 and r.json["error"]["field"] == "contract_amount"
    assert c.get(f"{URL}/{rec['id']}").json["version"] == 1  # nothing written
    # in the same request as the status that shows it, the amount is kept; empty is always fine
    r = c.patch(f"{URL}/{rec['id']}", json={"data": {"status": "won", "contract_amount": 5000}, "reason": "signed"},
                headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.json
    assert r.json["data"]["contract_amount"] == 5000
    r = c.patch(f"{URL}/{rec['id']}", json={"data": {"status": "lead", "contract_amount": None}, "reason": "fell through"},
                headers={"If-Match": '"2"'})
    assert r.status_code == 200 and "contract_amount" not in r.json["data"]


def test_the_record_page_does_not_send_what_the_rules_hide(login_as):
    """The page hides the amount of a lead: its (stale) input is not sent, so the save succeeds."""
    c = login_as("manager")
    rec = post(c, {**VALID_CUSTOMER, "owner": "sales01", "status": "won", "contract_amount": 10}).json
    r = c.post(f"/f/customer/{rec['id']}/edit", data={
        "csrf_token": c.csrf, "version": "1", "_present": ["name", "status", "contract_amount"],
        "name": "改名", "status": "lead", "contract_amount": "20", "reason": "lost"})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    data = c.get(f"{URL}/{rec['id']}").json["data"]
    assert data["name"] == "改名" and data["status"] == "lead" and "contract_amount" not in data
    page = c.get(r.headers["Location"]).get_data(as_text=True)
    assert "未保存：合同金额" in page  # said, never dropped silently (a page without its script sends it)
