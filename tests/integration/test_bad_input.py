"""Bad input gets a clear 4xx naming the field and the reason, never a 500 and never a partial
write: JSON that is not quite JSON (NaN, lone surrogates, duplicate keys, deep nesting), numbers
beyond 64 bits, floats where ids belong, empty bodies, wrong content types, broken UTF-8."""
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formwarden.models import AuditEvent, Record
from tests.conftest import DEMO_PASSWORD, VALID_CUSTOMER, Client

URL = "/api/v1/forms/customer/records"
BIG = "99999999999999999999"  # above 2**64
JUST_OVER = str(2**63)
JSON = "application/json"


@pytest.fixture()
def admin(login_as):
    return login_as("admin")


@pytest.fixture()
def rid(admin):
    return admin.post(URL, json={"data": VALID_CUSTOMER}).json["id"]


def _state():
    """What a write would change: every record's version and the audit trail's length."""
    return sorted(Record.select(Record.id, Record.version, Record.deleted_at).tuples()), AuditEvent.select().count()


def _refused(r, status, code, field=None):
    assert r.status_code == status, r.get_data(as_text=True)
    error = r.json["error"]
    assert error["code"] == code and error["message"]
    assert error.get("field") == field
    return error


@pytest.mark.parametrize("body,code,field", [
    (b'{"data": {"name": "x", "status": "lead", "contract_amount": NaN}}', "invalid_number", "contract_amount"),
    (b'{"data": {"name": "x", "status": "lead", "contract_amount": Infinity}}', "invalid_number", "contract_amount"),
    (b'{"data": {"name": "x", "status": "lead", "contract_amount": -Infinity}}', "invalid_number", "contract_amount"),
    (b'{"data": {"name": "x", "status": "lead", "contract_amount": 1e400}}', "invalid_number", "contract_amount"),
    (b'{"data": {"name": "x", "status": "lead", "contract_amount": ' + BIG.encode() + b"}}", "invalid_number",
     "contract_amount"),
    (b'{"data": {"name": "\\ud800", "status": "lead"}}', "invalid_character", "name"),
    (b'{"data": {"name": "x", "status": "lead", "tags": ["ok", "\\udfff"]}}', "invalid_character", "tags"),
    (b'{"data": {"name": "x", "status": "lead"}, "reason": "\\ud83d"}', "invalid_character", "reason"),
    (b'{"data": {"name": "x", "status": "lead", "name": "y"}}', "duplicate_key", "name"),
    (b'{"data": {"name": "x", "status": "lead"}, "data": {}}', "duplicate_key", "data"),
    (b"[" * 20000 + b"]" * 20000, "too_deep", None),
    (b'{"data": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001, "too_deep", None),
    (b'{"data": {"name": "x", "status": "lead", "tags": ' + b"[" * 65 + b"]" * 65 + b"}}", "too_deep", None),
    (b"", "empty_body", None),
    (b"   ", "empty_body", None),
    (b'{"data": {"name": "\xff"}}', "malformed_json", None),
    (b"{not json", "malformed_json", None),
])
def test_json_that_is_not_quite_json_is_400(admin, body, code, field):
    before = _state()
    error = _refused(admin.post(URL, data=body, content_type=JSON), 400, code, field)
    if field:
        assert error["message"].endswith(f"/{field}") or f"/{field}/" in error["message"]
    assert _state() == before


def test_a_surrogate_pair_is_ordinary_text(admin):
    r = admin.post(URL, data=b'{"data": {"name": "\\ud83d\\ude00", "status": "lead"}}', content_type=JSON)
    assert r.status_code == 201 and r.json["data"]["name"] == "\U0001f600"


def test_nesting_up_to_the_limit_is_parsed(admin):
    r = admin.post(URL, data=b'{"data": {"name": "x", "status": "lead", "tags": ' + b"[" * 62 + b"]" * 62 + b"}}",
                   content_type=JSON)
    assert r.status_code == 422  # parsed, then refused by the form's schema, as before


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "text/csv", None])
def test_wrong_content_type_is_400(admin, ctype):
    r = admin.post(URL, data=b'{"data": {"name": "x", "status": "lead"}}', content_type=ctype)
    _refused(r, 400, "unsupported_media_type")


@pytest.mark.parametrize("query,status,code,field", [
    (f"page={BIG}", 400, "out_of_range", "page"),
    (f"page={JUST_OVER}", 400, "out_of_range", "page"),
    ("page=1000001", 400, "out_of_range", "page"),  # past any list's end: an offset only costs the database
    ("page=0", 400, "out_of_range", "page"),
    (f"per_page={BIG}", 422, "out_of_range", "per_page"),
    ("per_page=0", 422, "out_of_range", "per_page"),  # never quietly the default
    ("sort=-", 422, "invalid_sort", "sort"),
    ("page=1.5", 400, "out_of_range", "page"),
    ("page=%D9%A1", 400, "out_of_range", "page"),  # an Arabic-Indic one: int() would take it
    ("page=1_0", 400, "out_of_range", "page"),
    ("q=" + "x" * 101, 400, "too_long", "q"),  # a longer search is refused, never cut to another question
    ("from%5Bnext_followup%5D=2026-13-45", 422, "invalid_filter", "next_followup"),  # not compared as text
    ("to%5Bnext_followup%5D=2026-02-31", 422, "invalid_filter", "next_followup"),
    ("from%5Bnext_followup%5D=0000-00-00", 422, "invalid_filter", "next_followup"),
    ("q=%ED%A0%80", 400, "invalid_character", "q"),  # an encoded lone surrogate
    ("filter%5Bstatus%5D=%ED%A0%80", 400, "invalid_character", "filter[status]"),
    ("q=%FF", 400, "invalid_character", "q"),
])
def test_bad_list_arguments_name_the_argument(admin, query, status, code, field):
    _refused(admin.get(f"{URL}?{query}"), status, code, field)


@pytest.mark.parametrize("url", ["/api/v1/audit/events?page=99999999999", "/audit?page=99999999999",
                                 "/admin/people?page=x", "/f/customer/?page=99999999999", "/api/v1/audit/events?actor=" + "a" * 121])
def test_pages_and_terms_beyond_their_limits_are_400_without_a_traceback(admin, url, caplog):
    r = admin.get(url, headers={"Accept": "application/json"})
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    assert not [rec for rec in caplog.records if rec.exc_info]


@pytest.mark.parametrize("part", [
    b'Content-Disposition: form-data\r\n\r\nname,status\n',
    b'Content-Disposition: form-data; filename="a.csv"\r\n\r\nname,status\n',
    b'Content-Disposition: attachment\r\n\r\nx',
])
def test_multipart_parts_without_a_name_are_400(admin, part):
    """Werkzeug keys such a part None; the text check met it as a TypeError (a 500 found by schemathesis)."""
    before = _state()
    body = b"--B\r\n" + part + b"\r\n--B--\r\n"
    for url in ("/api/v1/forms/customer/imports", "/api/v1/forms/customer/files", "/f/customer/import"):
        r = admin.post(url, data=body, content_type="multipart/form-data; boundary=B")
        assert r.status_code == 400, (url, r.get_data(as_text=True)[:300])
    assert _refused(admin.post("/api/v1/forms/customer/imports", data=body,
                               content_type="multipart/form-data; boundary=B"), 400, "malformed_multipart")
    assert _state() == before


@pytest.mark.parametrize("url,method", [
    (f"{URL}/{BIG}", "get"), (f"{URL}?page={BIG}", "get"), (f"{URL}?q=%00", "get"), (f"{URL}/1.5/history", "get"),
    ("/api/v1/forms/customer/imports", "post"), (f"{URL}?q=" + "x" * 500, "get"), ("/api/v1/audit/events?page=0", "get"),
])
def test_requests_without_credentials_are_401_before_their_parameters_are_judged(anon, url, method):
    r = getattr(anon.c, method)(url, data=b"--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--\r\n",
                                content_type="multipart/form-data; boundary=B")
    assert r.status_code == 401, r.get_data(as_text=True)[:300]
    assert r.json["error"]["code"] == "login_required"


def test_integer_filter_beyond_64_bits(admin):
    _refused(admin.get(f"/api/v1/forms/contract/records?filter[customer_id]={BIG}"), 422, "invalid_filter",
             "customer_id")


def test_audit_search_record_beyond_64_bits(admin):
    _refused(admin.get(f"/api/v1/audit/events?record={BIG}"), 422, "out_of_range", "record")


@pytest.mark.parametrize("path", ["{rid}1.5", "1.5", BIG, JUST_OVER, "-1", "1e3", "%D9%A1", "0x1"])
def test_record_ids_in_the_path(admin, rid, path):
    before = _state()
    path = path.format(rid=rid)
    for method, suffix in (("get", ""), ("patch", ""), ("delete", ""), ("post", "/restore"), ("get", "/history"),
                           ("post", "/revert"), ("delete", "/purge")):
        r = getattr(admin, method)(f"{URL}/{path}{suffix}", json={"data": {}}, headers={"If-Match": "1"})
        _refused(r, 404, "invalid_id", "record_id")
    assert _state() == before


def test_version_in_the_path(admin, rid):
    _refused(admin.get(f"{URL}/{rid}/versions/{BIG}"), 404, "invalid_id", "version")


@pytest.mark.parametrize("if_match", [BIG, f'"{JUST_OVER}"', "1.5", '"1e3"', "١", "1_0", "*", '"1'])
def test_if_match_beyond_64_bits_or_not_a_number(admin, rid, if_match):
    before = _state()
    r = admin.patch(f"{URL}/{rid}", json={"data": {"name": "新"}}, headers={"If-Match": if_match})
    _refused(r, 400, "invalid_if_match", "If-Match")
    r = admin.delete(f"{URL}/{rid}", headers={"If-Match": if_match})
    _refused(r, 400, "invalid_if_match", "If-Match")
    assert _state() == before


def test_weak_and_quoted_if_match_still_work(admin, rid):
    assert admin.patch(f"{URL}/{rid}", json={"data": {"name": "新"}}, headers={"If-Match": 'W/"1"'}).status_code == 200
    assert admin.patch(f"{URL}/{rid}", json={"data": {"name": "新二"}}, headers={"If-Match": "2"}).status_code == 200


@pytest.mark.parametrize("bad", [1.5, 1e3, True, "1", None, -1, 0, [1], {"id": 1}])
def test_bulk_ids_must_be_record_ids(admin, rid, bad):
    before = _state()
    for body in ({"action": "delete", "ids": [rid, bad]}, {"action": "update", "ids": [bad], "data": {"status": "won"}}):
        error = _refused(admin.post(f"{URL}/bulk", json=body), 422, "invalid_id", "ids")
        assert "ids[" in error["message"]
    assert _state() == before  # 1.5 used to delete record 1


def test_bulk_float_id_no_longer_deletes_its_integer_part(admin, rid):
    r = admin.post(f"{URL}/bulk", json={"action": "delete", "ids": [rid + 0.5]})
    assert r.status_code == 422
    assert admin.get(f"{URL}/{rid}").status_code == 200


def test_bulk_id_beyond_64_bits(admin, rid):
    before = _state()
    r = admin.post(f"{URL}/bulk", data=b'{"action": "delete", "ids": [' + BIG.encode() + b"]}", content_type=JSON)
    _refused(r, 400, "invalid_number", "ids")
    assert _state() == before


@pytest.mark.parametrize("body,status,code,field", [
    (b'{"version": 1.5}', 422, "invalid_version", "version"),
    (b'{"version": true}', 422, "invalid_version", "version"),
    (b'{"version": ' + BIG.encode() + b"}", 400, "invalid_number", "version"),
    (b'{"version": 9223372036854775807}', 404, "unknown_version", "version"),
    (b'{"version": NaN}', 400, "invalid_number", "version"),
    (b'{"version": 1, "version": 2}', 400, "duplicate_key", "version"),
    (b"[" * 20000 + b"]" * 20000, 400, "too_deep", None),
    (b"", 400, "empty_body", None),
])
def test_revert_bodies(admin, rid, body, status, code, field):
    before = _state()
    r = admin.post(f"{URL}/{rid}/revert", data=body, content_type=JSON, headers={"If-Match": "1"})
    assert r.status_code < 500
    if r.status_code != 404:  # the service's own answer for a version that does not exist
        _refused(r, status, code, field)
    assert _state() == before


def test_lone_surrogates_in_html_form_posts_are_400(admin, anon):
    before = _state()
    r = admin.post("/f/customer/new", data=b"name=%ED%A0%80&status=lead&csrf_token=" + admin.csrf.encode(),
                   content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400
    anon.refresh_csrf()
    r = anon.c.post("/login", data=b"username=sales01%ED%B0%80&password=x&csrf_token=" + anon.csrf.encode(),
                    content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400
    assert _state() == before  # not even a failed sign-in is recorded
    Client(anon.c).login("sales01", DEMO_PASSWORD)  # the form parser still works after the check


# ---- every /api/v1 route, generated from the URL map ----

BAD_SCALARS = st.sampled_from([
    BIG, JUST_OVER, "-9223372036854775809", "1.5", "1e3", "NaN", "Infinity", "-Infinity", "true", "null", "",
    "0", "-1", "1_000", " 1", "%ED%A0%80", "%FF", "%00", "١٢", "[1]", "x" * 300,
]) | st.integers(min_value=-2**70, max_value=2**70).map(str) | st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8).map(lambda s: quote(s, safe=""))
BAD_BODIES = st.sampled_from([
    b"", b"NaN", b"[" * 5000 + b"]" * 5000, b'{"data": {"name": NaN}}', b'{"data": {"name": "\\ud800"}}',
    b'{"data": {}, "data": {}}', b'{"action": "delete", "ids": [1.5]}', b'{"action": "delete", "ids": [1e3]}',
    b'{"action": "delete", "ids": [true]}', b'{"action": "delete", "ids": [' + BIG.encode() + b"]}",
    b'{"action": "update", "ids": [1], "data": {"status": Infinity}}', b'{"version": 1.5}',
    b'{"version": ' + BIG.encode() + b"}", b"\xff\xfe", b"name,status\n\xed\xa0\x80,lead\n", b'{"data": 1e999}',
])
CONTENT_TYPES = st.sampled_from([JSON, "text/plain", "text/csv", "application/x-www-form-urlencoded", None])
QUERY_NAMES = st.sampled_from(["page", "per_page", "filter[status]", "filter[contract_amount]", "filter[customer_id]",
                               "record", "since", "reason", "reveal", "deleted", "q", "sort", "name"])
_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _api_routes(app):
    out = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            out += [(rule.rule, method) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(out)


@pytest.fixture(scope="module")
def admin_client(app, base_db):
    return Client(app.test_client()).login("admin")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_api_route_answers_bad_values_with_4xx(app, admin_client, data):
    c = admin_client
    routes = _api_routes(app)
    assert len(routes) >= 15  # the walk really covers the API
    live = c.post(URL, json={"data": VALID_CUSTOMER}).json["id"]
    rule, method = data.draw(st.sampled_from(routes), label="route")
    values = {"form_key": st.sampled_from(["customer", "contract"]) | BAD_SCALARS,
              "record_id": st.just(str(live)) | BAD_SCALARS, "version": st.just("1") | BAD_SCALARS,
              "job_id": BAD_SCALARS}
    path = _ARG.sub(lambda m: data.draw(values.get(m.group(1), BAD_SCALARS), label=m.group(1)), rule)
    query = "&".join(f"{quote(name)}={value}" for name, value in
                     data.draw(st.lists(st.tuples(QUERY_NAMES, BAD_SCALARS), max_size=3), label="query"))
    headers = {}
    if data.draw(st.booleans(), label="if-match?"):
        headers["If-Match"] = data.draw(BAD_SCALARS | st.just('"1"'), label="If-Match")
    kwargs = {"headers": headers}
    if method in ("POST", "PATCH", "PUT", "DELETE"):
        kwargs["data"] = data.draw(BAD_BODIES, label="body")
        kwargs["content_type"] = data.draw(CONTENT_TYPES, label="content type")
    before = _state()
    r = c.c.open(f"{path}?{query}" if query else path, method=method, **{**kwargs, "headers": {
        **headers, "X-CSRFToken": c.csrf}})
    assert r.status_code < 500, (method, path, query, r.get_data(as_text=True)[:300])
    if r.status_code >= 400:
        error = r.json["error"]
        assert error["code"] and error["message"]
        assert _state() == before, (method, path, query)  # nothing written, not even an event
