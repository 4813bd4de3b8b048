"""Publishing refuses access blocks that would leave a role unable to save."""
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


def test_a_rule_requiring_a_field_the_role_cannot_write_is_refused():
    doc = _customer()
    doc["x-rules"].append({"when": {"field": "status", "in": ["won"]}, "require": ["contract_amount"]})
    with pytest.raises(Invalid) as exc:
        checked_definition(doc)
    pointers = {d["pointer"]: d["reason"] for d in exc.value.details}
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
