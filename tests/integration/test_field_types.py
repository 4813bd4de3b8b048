"""Plugin field types end to end: values typed any way are stored normalised, money in cents,
shown in words and filtered in yuan; messages come from the plugin in the reader's language."""
import uuid

import pytest

from formwarden.access.actor import Actor
from formwarden.catalog import publishing
from formwarden.forms import versions
from formwarden.records import service
from tests.conftest import actor_of


@pytest.fixture()
def key(clean_db):
    key = "types_" + uuid.uuid4().hex[:8]
    label = lambda zh, en: {"zh-CN": zh, "en": en}  # noqa: E731
    publishing.publish(Actor.system("t"), {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False,
        "x-form": {"key": key, "title": label("类型", "Types"), "title_field": "name",
                   "list_fields": ["name", "amount", "mobile"]},
        "properties": {
            "name": {"type": "string", "maxLength": 20, "x-label": label("名称", "Name")},
            "amount": {"type": "integer", "format": "cny", "x-label": label("金额", "Amount")},
            "mobile": {"type": "string", "format": "cn-mobile", "x-label": label("手机", "Mobile")},
            "uscc": {"type": "string", "format": "cn-uscc", "x-label": label("信用代码", "Credit code")},
            "address": {"type": "string", "format": "cn-address", "x-label": label("地址", "Address")},
        },
        "x-access": {"admin": {"scope": "all", "actions": ["create", "read", "update", "export"], "fields": {"*": "write"}}},
    })
    versions.forget_forms()
    return key


def test_values_are_stored_as_their_type_keeps_them(login_as, key):
    c = login_as("admin")
    r = c.post(f"/api/v1/forms/{key}/records", json={"data": {
        "name": "甲", "amount": "¥12,345.5", "mobile": "+86 138 1234 5678", "uscc": "91310115ma1k3btp2b",
        "address": "广东省  深圳市 南山区 科技园"}})
    assert r.status_code == 201, r.json
    data = r.json["data"]
    assert data == {"name": "甲", "amount": 1234550, "mobile": "13812345678", "uscc": "91310115MA1K3BTP2B",
                    "address": "广东省 深圳市 南山区 科技园"}
    page = c.get(f"/f/{key}/").text
    assert "¥12,345.50" in page
    assert c.get(f"/f/{key}/", query_string={"from[amount]": "10000", "to[amount]": "20000"}).text.count("甲") >= 1
    assert "甲" not in c.get(f"/f/{key}/", query_string={"from[amount]": "20000"}).text.split('id="results"')[1]


@pytest.mark.parametrize("field, value, zh", [
    ("amount", "1e5", "最多两位小数"), ("uscc", "91110000600037341N", "统一社会信用代码不正确"),
    ("address", "火星 北京 x", "省 市 区"), ("mobile", "12812345678", "11 位中国大陆手机号")])
def test_bad_values_get_the_plugins_message(login_as, key, field, value, zh):
    c = login_as("admin")
    r = c.post(f"/f/{key}/check", data={"_field": field, "_present": [field], field: value})
    assert zh in r.text
    r = c.post(f"/api/v1/forms/{key}/records", json={"data": {"name": "乙", field: value}})
    assert r.status_code == 422 and r.json["error"]["errors"][0]["field"] == field


def test_an_unusual_mobile_segment_is_kept_with_a_warning(login_as, key):
    c = login_as("admin")
    r = c.post(f"/f/{key}/check", data={"_field": "mobile", "_present": ["mobile"], "mobile": "14012345678"})
    assert "warning-text" in r.text and "号段不常见" in r.text
    view = service.create_record(actor_of("admin"), key, {"name": "丙", "mobile": "140 1234 5678"})
    assert view.data["mobile"] == "14012345678"
