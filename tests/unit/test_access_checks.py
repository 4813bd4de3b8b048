"""Publishing refuses access blocks that would leave a role unable to save; a rule requiring a
field a role cannot write is a warning (its records save and wait for someone who may fill it)."""
import copy
import json

import pytest

from formwarden.config import REPO_ROOT
from formwarden.errors import Invalid
from formwarden.forms.versions import checked_definition


def _customer() -> dict:
    return json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8"))


def test_demo_definitions_leave_no_role_stuck():
    for path in sorted((REPO_ROOT / "form_defs").glob("*.json")):
        checked_definition(json.loads(path.read_text("utf-8")))


def test_a_rule_requiring_a_field_the_role_cannot_write_is_a_warning_not_a_refusal():
    from formwarden.forms.access_checks import access_warnings
    from formwarden.forms.definition import FormDef

    doc = _customer()
    doc["x-rules"].append({"when": {"field": "status", "in": ["won"]}, "require": ["contract_amount"]})
    checked_definition(doc)  # publishes: such records wait for someone who may fill the amount
    pointers = {w.pointer: w.reason for w in access_warnings(FormDef(doc)) if w.code == "rule_not_writable"}
    assert "/x-access/sales/fields/contract_amount" in pointers  # sales sets "won", reads the amount only
    assert "/x-access/intern/fields/contract_amount" in pointers
    assert "/x-access/manager/fields/contract_amount" not in pointers
    assert "status" in pointers["/x-access/sales/fields/contract_amount"]


def test_a_required_field_a_creating_role_cannot_write_is_refused():
    doc = copy.deepcopy(_customer())
    doc["required"] = sorted(set(doc.get("required", [])) | {"region"})
    doc["x-access"]["intern"]["fields"]["region"] = "read"
    with pytest.raises(Invalid) as exc:
        checked_definition(doc)
    assert [d["pointer"] for d in exc.value.details] == ["/x-access/intern/fields/region"]
