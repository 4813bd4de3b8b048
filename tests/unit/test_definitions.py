import copy
import json

import pytest

from formwarden.config import REPO_ROOT
from formwarden.errors import Invalid
from formwarden.forms import check_definition, parse_definition


@pytest.mark.parametrize("name", ["customer", "followup", "contract"])
def test_shipped_definitions_are_sound(name):
    doc = json.loads((REPO_ROOT / "form_defs" / f"{name}.json").read_text("utf-8"))
    assert check_definition(doc) == []


def test_every_problem_is_listed_with_its_pointer(customer_doc):
    doc = copy.deepcopy(customer_doc)
    doc["properties"]["mobile"]["format"] = "no-such-type"
    doc["properties"]["status"]["x-enum-labels"]["en"] = ["Lead"]
    doc["x-layout"]["sections"][0]["fields"].append("ghost")
    doc["x-access"]["sales"]["fields"]["phantom"] = "read"
    doc["x-rules"][0]["show"].append("nowhere")
    problems = {(p.pointer, p.reason.split(" ")[0]) for p in check_definition(doc)}
    pointers = {p for p, _ in problems}
    assert "/properties/mobile/format" in pointers
    assert "/properties/status/x-enum-labels/en" in pointers
    assert "/x-layout/sections/0/fields/6" in pointers
    assert "/x-access/sales/fields/phantom" in pointers
    assert "/x-rules/0/show/1" in pointers
    assert len(problems) == 5


def test_metaschema_problems_name_the_place(customer_doc):
    doc = copy.deepcopy(customer_doc)
    doc["x-access"]["sales"]["scope"] = "everyone"
    doc["properties"]["name"]["x-label"] = {"en": "Name"}
    doc["properties"]["notes"]["x-colour"] = "red"
    pointers = [p.pointer for p in check_definition(doc)]
    assert "/x-access/sales/scope" in pointers
    assert "/properties/name/x-label" in pointers
    assert "/properties/notes" in pointers


def test_invalid_json_schema_is_refused(customer_doc):
    doc = copy.deepcopy(customer_doc)
    doc["properties"]["name"]["minLength"] = "one"
    problems = check_definition(doc)
    assert any(p.pointer.startswith("/properties/name") for p in problems)


def test_parse_raises_with_every_problem(customer_doc):
    doc = copy.deepcopy(customer_doc)
    doc["required"].append("nope")
    doc["x-form"]["owner_field"] = "nobody"
    with pytest.raises(Invalid) as exc:
        parse_definition(doc)
    assert {d["pointer"] for d in exc.value.details} == {"/required/2", "/x-form/owner_field"}


def test_not_an_object():
    assert check_definition([1, 2])[0].reason.startswith("a form definition must be")


def test_layout_and_widgets(customer):
    assert [s.key for s in customer.sections] == ["basic", "business", "more"]
    widgets = {n: f.widget for n, f in customer.fields.items()}
    assert widgets["mobile"] == "tel"
    assert widgets["status"] == "select"
    assert widgets["tags"] == "tags"
    assert widgets["contract_amount"] == "money"
    assert widgets["next_followup"] == "date"
    assert widgets["owner"] == "member"
    assert customer.fields["status"].option_label("won", "zh-CN") == "已成交"
    assert customer.fields["status"].option_label("won", "en") == "Won"
