"""Form definitions cannot make validation hang or reach out: patterns run on RE2 and are checked
at publish time, `$ref` stays inside the definition and nothing is ever fetched."""
import copy
import time
import urllib.request

import pytest
import referencing.exceptions

from formwarden.errors import Invalid
from formwarden.forms import FormDef, check_definition, parse_definition
from formwarden.forms.patterns import pattern_problem
from formwarden.forms.validation import validate


def _with(customer_doc, **fields):
    doc = copy.deepcopy(customer_doc)
    for name, spec in fields.items():
        doc["properties"][name] = {"x-label": {"zh-CN": name, "en": name}, **spec}
    return doc


def _problems(doc) -> dict[str, str]:
    return {p.pointer: p.reason for p in check_definition(doc)}


def test_catastrophic_pattern_is_refused_with_its_pointer(customer_doc):
    doc = _with(customer_doc, code={"type": "string", "pattern": "(a+)+$"})
    with pytest.raises(Invalid) as exc:
        parse_definition(doc)
    details = {d["pointer"]: d["reason"] for d in exc.value.details}
    assert list(details) == ["/properties/code/pattern"]
    assert "(a+)+" in details["/properties/code/pattern"]


@pytest.mark.parametrize("spec,pointer", [
    ({"type": "array", "items": {"type": "string", "pattern": "^(.*)*x"}}, "/properties/code/items/pattern"),
    ({"type": "string", "anyOf": [{"pattern": "(a|a)*b"}]}, "/properties/code/anyOf/0/pattern"),
    ({"type": "array", "items": {"patternProperties": {"(x+)*": {}}}}, "/properties/code/items/patternProperties/(x+)*"),
    ({"type": "string", "pattern": "^(\\w+)\\1$"}, "/properties/code/pattern"),  # backreference: not in RE2
    ({"type": "string", "pattern": "^(?=a)a$"}, "/properties/code/pattern"),  # lookahead: not in RE2
    ({"type": "string", "pattern": "a" * 1001}, "/properties/code/pattern"),
])
def test_every_unsafe_pattern_is_refused_wherever_it_is(customer_doc, spec, pointer):
    assert pointer in _problems(_with(customer_doc, code=spec))


@pytest.mark.parametrize("pattern", ["^1[3-9]\\d{9}$", "^(\\w+\\s?)*$", "^[A-Z]{2}-\\d{4}$", "(foo|bar)+",
                                     "^(\\d{3}-)+\\d+$", "^\\S+@\\S+$"])
def test_ordinary_patterns_are_accepted(customer_doc, pattern):
    assert pattern_problem(pattern) is None
    assert _problems(_with(customer_doc, code={"type": "string", "pattern": pattern})) == {}


def test_adversarial_value_is_checked_in_linear_time(customer_doc):
    # (\w+\s?)*$ backtracks exponentially in Python's re on "aaa…!"; RE2 answers at once
    formdef = parse_definition(_with(customer_doc, code={"type": "string", "pattern": "^(\\w+\\s?)*$"}))
    value = "a" * 50_000 + "!"
    started = time.perf_counter()
    errors = validate(formdef, {"name": "客户", "status": "lead", "code": value})
    assert time.perf_counter() - started < 2
    assert [(e.field, e.code) for e in errors] == [("code", "pattern")]
    assert validate(formdef, {"name": "客户", "status": "lead", "code": "a" * 50_000}) == []


def test_patterns_match_like_json_schema_not_python(customer_doc):
    # JSON Schema (ECMA-262) \d is ASCII; Python's re would accept Arabic-Indic digits
    formdef = parse_definition(_with(customer_doc, code={"type": "string", "pattern": "^\\d{3}$"}))
    assert validate(formdef, {"name": "客户", "status": "lead", "code": "123"}) == []
    assert [e.code for e in validate(formdef, {"name": "客户", "status": "lead", "code": "١٢٣"})] == ["pattern"]


def test_pattern_properties_run_on_re2_too(customer_doc):
    spec = {"type": "array", "items": {"type": "object", "patternProperties": {"^k\\d$": {"type": "integer"}},
                                       "additionalProperties": False}}
    formdef = parse_definition(_with(customer_doc, code=spec))
    ok = {"name": "客户", "status": "lead", "code": [{"k1": 1}]}
    assert validate(formdef, ok) == []
    assert validate(formdef, {**ok, "code": [{"k١": 1}]})  # not an ASCII digit: an extra property
    assert validate(formdef, {**ok, "code": [{"k1": "one"}]})


@pytest.mark.parametrize("ref", ["https://example.com/schema.json", "file:///etc/passwd", "other.json#/x",
                                 "//example.com/x", "urn:formwarden:form:contract:v1#/properties/title"])
def test_references_outside_the_definition_are_refused(customer_doc, ref):
    doc = _with(customer_doc, code={"$ref": ref})
    assert "/properties/code/$ref" in _problems(doc)


def test_local_references_are_allowed(customer_doc):
    doc = _with(customer_doc, mobile2={"$ref": "#/properties/mobile"})
    assert _problems(doc) == {}
    formdef = parse_definition(doc)
    assert [e.field for e in validate(formdef, {"name": "客户", "status": "lead", "mobile2": "123"})] == ["mobile2"]


def test_a_nested_schema_dialect_is_refused(customer_doc):
    # another $schema inside would switch to a validator class that runs Python's re
    doc = _with(customer_doc, code={"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"})
    assert "/properties/code/$schema" in _problems(doc)


def test_validation_never_retrieves_anything(customer_doc, monkeypatch):
    fetched = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **kw: fetched.append(a) or 1 / 0)
    doc = _with(customer_doc, code={"$ref": "https://example.com/schema.json"})
    formdef = FormDef(doc)  # as if stored before the publish check existed
    with pytest.raises(referencing.exceptions.Unresolvable):
        validate(formdef, {"name": "客户", "status": "lead", "code": "x"})
    assert fetched == []
