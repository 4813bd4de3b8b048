from werkzeug.datastructures import MultiDict

from formwarden.forms.definition import FormDef
from formwarden.forms.validation import coerce_form_input, required_fields, validate, visible_fields


def codes(errors):
    return {e.field: e.code for e in errors}


def test_valid_customer(customer):
    assert validate(customer, {"name": "王伟", "status": "lead", "mobile": "13812345678"}) == []


def test_required_error_is_at_its_field(customer):
    errs = validate(customer, {"mobile": "13812345678"})
    assert codes(errs) == {"name": "required", "status": "required"}
    assert errs[0].as_dict()["message"] == "This field is required."


def test_formats_and_limits(customer):
    errs = codes(validate(customer, {
        "name": "x" * 51, "status": "maybe", "mobile": "12345", "id_number": "110101199003070000",
        "contract_amount": -1, "next_followup": "2026-02-30", "tags": ["a", "a"], "surprise": 1,
    }))
    assert errs == {
        "name": "maxLength", "status": "enum", "mobile": "format", "id_number": "format",
        "contract_amount": "minimum", "next_followup": "format", "tags": "uniqueItems", "surprise": "unknown_field",
    }


def test_wrong_types(customer):
    errs = codes(validate(customer, {"name": 5, "status": "lead", "contract_amount": "a lot", "tags": "x"}))
    assert errs == {"name": "type", "contract_amount": "type", "tags": "type"}


def test_rules_show_and_require(customer):
    assert "contract_amount" not in visible_fields(customer, {"status": "lead"})
    assert "contract_amount" in visible_fields(customer, {"status": "negotiating"})
    assert "company" in required_fields(customer, {"status": "won"})
    errs = codes(validate(customer, {"name": "王伟", "status": "won"}))
    assert errs == {"company": "required"}


def test_a_rule_never_requires_what_the_user_cannot_write(customer):
    """Only users who may write a field are held to a rule requiring it."""
    doc = {**customer.doc, "x-rules": [{"when": {"field": "status", "in": ["won"]}, "require": ["region"]}]}
    formdef = FormDef(doc)
    assert codes(validate(formdef, {"name": "王伟", "status": "won"})) == {"region": "required"}
    assert codes(validate(formdef, {"name": "王伟", "status": "won"}, writable={"name", "status"})) == {}


def test_coerce_form_input(customer):
    form = MultiDict([("name", " 王伟 "), ("contract_amount", "1,200.50"), ("tags", "重点, 老客户"),
                      ("next_followup", ""), ("status", "won")])
    values, errors = coerce_form_input(customer, form, ["name", "contract_amount", "tags", "next_followup", "status"])
    assert errors == []
    assert values == {"name": "王伟", "contract_amount": 1200.5, "tags": ["重点", "老客户"], "next_followup": None,
                      "status": "won"}
    _, errors = coerce_form_input(customer, MultiDict([("contract_amount", "many")]), ["contract_amount"])
    assert [(e.field, e.code) for e in errors] == [("contract_amount", "type")]
