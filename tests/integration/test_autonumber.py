"""Auto-numbers (流水号): given by the system in the record's own transaction, in order, never
twice (not after a delete, a purge or a restore of an older archive); nobody types or changes
one; a record is found by its number."""
import uuid

import pytest

from formwarden.access.actor import Actor
from formwarden.backup.dump import write_archive
from formwarden.backup.restore import restore
from formwarden.catalog import publishing
from formwarden.errors import Invalid
from formwarden.forms import versions
from formwarden.records import numbers, service
from formwarden.records.query import ListQuery
from tests.conftest import actor_of

SYSTEM = Actor.system("tests")


@pytest.fixture()
def form_key(clean_db):
    key = "tickets_" + uuid.uuid4().hex[:8]
    publishing.publish(SYSTEM, {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False,
        "required": ["product"],
        "x-form": {"key": key, "title": {"zh-CN": "售后工单", "en": "After-sales tickets"}, "title_field": "number",
                   "owner_field": "owner"},
        "properties": {
            "number": {"type": "string", "x-widget": "autonumber", "x-label": {"zh-CN": "工单号", "en": "Ticket no."},
                       "x-autonumber": {"prefix": "SH-", "date": "YYYYMMDD", "digits": 4}},
            "product": {"type": "string", "maxLength": 50, "x-label": {"zh-CN": "产品", "en": "Product"}},
            "owner": {"type": "string", "x-widget": "member", "x-label": {"zh-CN": "负责人", "en": "Owner"}},
        },
        "x-access": {"admin": {"scope": "all", "actions": ["create", "read", "update", "delete", "export"],
                               "fields": {"*": "write"}},
                     "sales": {"scope": "all", "actions": ["create", "read", "update"],
                               "fields": {"number": "write", "product": "write", "owner": "read"}}},
    })
    versions.forget_forms()
    return key


def _number(n: int) -> str:
    return f"SH-{numbers.today():%Y%m%d}{n:04d}"


def test_numbers_are_given_in_order_and_never_twice(form_key):
    sales = actor_of("sales01")
    first = service.create_record(sales, form_key, {"product": "空调"})
    second = service.create_record(sales, form_key, {"product": "冰箱"})
    assert (first.data["number"], second.data["number"]) == (_number(1), _number(2))
    service.delete_record(SYSTEM, form_key, second.id)
    service.purge_record(SYSTEM, form_key, second.id, reason="test")
    assert service.create_record(sales, form_key, {"product": "洗衣机"}).data["number"] == _number(3)
    # nobody sends or changes a number: 422 naming the field, nothing written
    with pytest.raises(Invalid) as err:
        service.create_record(sales, form_key, {"product": "电视", "number": "SH-1"})
    assert err.value.code == "system_assigned" and err.value.field == "number"
    with pytest.raises(Invalid):
        service.update_record(sales, form_key, first.id, {"number": _number(9)}, expected_version=1)
    # an update that repeats the number as it is (a revert, an API client sending the whole record) is no change
    service.update_record(sales, form_key, first.id, {"number": _number(1), "product": "中央空调"}, expected_version=1)
    # a record is found by its number
    page = service.list_records(sales, form_key, ListQuery(search=_number(3)))
    assert [r.data["product"] for r in page.items] == ["洗衣机"]


def test_a_restore_of_an_older_archive_hands_no_number_out_again(form_key, tmp_path):
    sales = actor_of("sales01")
    service.create_record(sales, form_key, {"product": "空调"})
    path = tmp_path / "a.fwb"
    write_archive(path)
    lost = service.create_record(sales, form_key, {"product": "冰箱"})  # numbered 2, then lost by the restore
    assert lost.data["number"] == _number(2)
    restore(path, SYSTEM)
    assert service.create_record(sales, form_key, {"product": "洗衣机"}).data["number"] == _number(3)


def test_the_record_page_shows_the_number_and_sends_none(login_as, form_key):
    sales = login_as("sales01")
    page = sales.get(f"/f/{form_key}/new").text
    assert "保存时自动生成" in page and 'name="number"' not in page and 'value="number"' not in page
    r = sales.post(f"/f/{form_key}/new", data={"csrf_token": sales.csrf, "_present": ["product"], "product": "空调"})
    assert r.status_code == 302, r.text
    shown = sales.get(r.headers["Location"]).text
    assert _number(1) in shown
    api = sales.post(f"/api/v1/forms/{form_key}/records", json={"data": {"product": "冰箱", "number": "SH-x"}})
    assert api.status_code == 422 and api.json["error"]["code"] == "system_assigned", api.json
    assert api.json["error"]["field"] == "number"


def test_a_published_field_never_switches_to_or_from_an_auto_number(form_key):
    """Numbers typed while a field was text could repeat, and a number nobody may change could
    never be set right: the switch is refused in the builder and on every publishing path."""
    from werkzeug.datastructures import MultiDict

    from formwarden.catalog import designs
    from formwarden.forms import builder

    manager = actor_of("manager")
    designs.edit(manager, form_key, designs.draft(form_key)["rev"], lambda d: builder.update_field(
        d, "number", MultiDict({"label_zh": "工单号", "kind": "text"})))
    found = designs.problems(designs.draft(form_key)["doc"], manager)
    assert "autonumber_switch" in {p.code for p in found}
    with pytest.raises(Invalid):
        designs.publish(manager, form_key, designs.draft(form_key)["rev"])
    doc = designs.draft(form_key)["doc"]
    with pytest.raises(Invalid) as err:
        publishing.publish(SYSTEM, doc)  # a definition file (load-forms) is refused too
    assert err.value.code == "autonumber_switch"
    designs.discard(manager, form_key)


def test_an_export_with_numbers_imports_back_as_new_numbered_records(form_key, tmp_path):
    from formwarden.records.bulk import import_rows, parse_upload
    from formwarden.records.export import export_csv

    sales = actor_of("sales01")
    service.create_record(sales, form_key, {"product": "空调"})
    path = tmp_path / "t.csv"
    export_csv(actor_of("admin"), form_key, ListQuery(), path)
    parsed = parse_upload(versions.current(form_key)[1], path.read_bytes())
    assert parsed.problems == []
    assert import_rows(actor_of("admin"), form_key, parsed.rows, numbers=parsed.numbers) == 1
    numbers_now = sorted(r.data["number"] for r in service.list_records(SYSTEM, form_key, ListQuery()).items)
    assert numbers_now == [_number(1), _number(2)]  # the imported record got its own
