"""Conditional rules: every operator, all / any, and how they decide shown and required fields."""
import pytest

from formwarden.forms.definition import check_definition, parse_definition
from formwarden.forms.rules import matches
from formwarden.forms.validation import required_fields, visible_fields


@pytest.mark.parametrize("when, data, expected", [
    ({"field": "s", "in": ["a", "b"]}, {"s": "a"}, True),
    ({"field": "s", "in": ["a", "b"]}, {"s": "c"}, False),
    ({"field": "s", "not_in": ["a"]}, {"s": "c"}, True),
    ({"field": "s", "not_in": ["a"]}, {"s": "a"}, False),
    ({"field": "tags", "in": ["x"]}, {"tags": ["y", "x"]}, True),
    ({"field": "s", "equals": "a"}, {"s": "a"}, True),
    ({"field": "s", "not_equals": "a"}, {}, True),
    ({"field": "n", "gt": 10}, {"n": 11}, True),
    ({"field": "n", "gt": 10}, {"n": 10}, False),
    ({"field": "n", "gte": 10}, {"n": 10}, True),
    ({"field": "n", "lt": 10}, {"n": "9"}, False),  # text never compares with a number
    ({"field": "n", "lte": 10}, {}, False),
    ({"field": "d", "gt": "2026-01-01"}, {"d": "2026-02-01"}, True),
    ({"field": "s", "filled": True}, {"s": ""}, False),
    ({"field": "s", "filled": False}, {}, True),
    ({"all": [{"field": "s", "equals": "a"}, {"field": "n", "gt": 1}]}, {"s": "a", "n": 2}, True),
    ({"all": [{"field": "s", "equals": "a"}, {"field": "n", "gt": 1}]}, {"s": "a", "n": 0}, False),
    ({"any": [{"field": "s", "equals": "a"}, {"field": "n", "gt": 1}]}, {"s": "b", "n": 2}, True),
    ({"any": [{"field": "s", "equals": "a"}, {"field": "n", "gt": 1}]}, {"s": "b", "n": 0}, False),
])
def test_conditions(when, data, expected):
    assert matches(when, data) is expected


def _doc(rules):
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "x-form": {"key": "visit", "title": {"zh-CN": "拜访", "en": "Visit"}},
            "properties": {"kind": {"type": "string", "enum": ["visit", "call"], "x-label": {"zh-CN": "方式", "en": "Kind"}},
                           "km": {"type": "number", "x-label": {"zh-CN": "里程", "en": "Distance"}},
                           "receipt": {"type": "string", "x-label": {"zh-CN": "票据", "en": "Receipt"}}},
            "x-rules": rules,
            "x-access": {"admin": {"scope": "all", "actions": ["read"], "fields": {"*": "read"}}}}


def test_show_and_require_with_any_of_two_conditions():
    formdef = parse_definition(_doc([{"when": {"any": [{"field": "kind", "equals": "visit"}, {"field": "km", "gt": 50}]},
                                      "show": ["receipt"], "require": ["receipt"]}]))
    assert "receipt" not in visible_fields(formdef, {"kind": "call", "km": 3})
    assert "receipt" in visible_fields(formdef, {"kind": "call", "km": 80})
    assert "receipt" in required_fields(formdef, {"kind": "visit"})
    assert formdef.rule_triggers == {"kind", "km"} and formdef.ruled_by("km") == {"receipt"}


@pytest.mark.parametrize("when", [
    {"field": "nope", "equals": "x"},
    {"all": [{"field": "kind", "equals": "visit"}, {"field": "nope", "filled": True}]},
    {"field": "kind"},  # no test
    {"field": "kind", "between": [1, 2]},
    {"all": []},
])
def test_bad_conditions_are_refused_with_a_pointer(when):
    problems = check_definition(_doc([{"when": when, "show": ["receipt"]}]))
    assert problems and all(p.pointer.startswith("/x-rules/0") for p in problems)
