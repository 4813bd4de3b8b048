"""Arbitrary JSON in a record write gets a 4xx with a reason, never a 500 or a partial write."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formwarden.models import Record

URL = "/api/v1/forms/customer/records"
FIELDS = ["name", "mobile", "id_number", "company", "industry", "contract_amount", "status", "owner", "region",
          "notes", "tags", "next_followup", "nonexistent"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False) | st.text(max_size=60),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def admin_client(app, base_db):
    from tests.conftest import Client

    return Client(app.test_client()).login("admin")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6))
def test_arbitrary_bodies_never_500(admin_client, data):
    before = Record.select().count()
    r = admin_client.post(URL, json={"data": data})
    # 400: Infinity and integers beyond 64 bits are refused while parsing (see test_bad_input.py)
    assert r.status_code in (201, 400, 403, 422), r.get_data(as_text=True)
    after = Record.select().count()
    if r.status_code == 201:
        assert after == before + 1
    else:
        body = r.json["error"]
        assert body["code"] and body["message"]
        assert after == before


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=4), if_match=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=6))
def test_arbitrary_patches_never_500(admin_client, data, if_match):
    rid = admin_client.post(URL, json={"data": {"name": "补丁", "status": "lead"}}).json["id"]
    r = admin_client.patch(f"{URL}/{rid}", json={"data": data}, headers={"If-Match": if_match})
    assert r.status_code in (200, 400, 403, 409, 422), r.get_data(as_text=True)
    if r.status_code != 200:
        assert admin_client.get(f"{URL}/{rid}").json["version"] == 1  # nothing was written


PARAMS = st.sampled_from(["filter[status]", "filter[contract_amount]", "filter[tags]", "filter[nope]", "sort",
                          "page", "per_page", "q", "deleted", "filter[next_followup]"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.lists(st.tuples(PARAMS, st.text(max_size=12)), max_size=5))
def test_arbitrary_list_queries_never_500(admin_client, params):
    r = admin_client.get(URL, query_string=params)
    assert r.status_code in (200, 400, 403, 422), r.get_data(as_text=True)
    r = admin_client.get("/f/customer/", query_string=params, headers={"HX-Request": "true"})
    assert r.status_code in (200, 400, 403, 422)
