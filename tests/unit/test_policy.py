from formwarden.access.masking import mask_value
from formwarden.access.policy import rights_for


def test_deny_by_default(customer):
    r = rights_for(customer, frozenset({"nobody"}))
    assert not r.can("read")
    assert r.level("name") == "hidden"


def test_workload_roles(customer):
    sales = rights_for(customer, frozenset({"sales"}))
    assert sales.scope("read") == "own"
    assert sales.level("id_number") == "hidden"
    assert sales.level("contract_amount") == "read"
    intern = rights_for(customer, frozenset({"intern"}))
    assert intern.level("mobile") == "masked"
    assert intern.level("contract_amount") == "hidden"
    assert not intern.can("delete") and not intern.can("export")
    finance = rights_for(customer, frozenset({"finance"}))
    assert [f for f in customer.fields if finance.level(f) != "hidden"] == ["company", "contract_amount", "status"]
    manager = rights_for(customer, frozenset({"manager"}))
    assert manager.scope("read") == "team" and manager.level("id_number") == "masked"


def test_union_over_roles(customer):
    both = rights_for(customer, frozenset({"intern", "finance"}))
    assert both.scope("read") == "all"  # finance's scope is wider
    assert both.level("contract_amount") == "read"  # finance grants read
    assert both.level("mobile") == "masked"
    assert both.can("export") and both.can("create")


def test_token_scopes_narrow_rights(customer):
    read_only = rights_for(customer, frozenset({"sales"}), frozenset({"read"}))
    assert read_only.can("read") and not read_only.can("create")
    assert read_only.level("name") == "read"
    other_form = rights_for(customer, frozenset({"sales"}), frozenset({"contract:write"}))
    assert not other_form.can("create") and not other_form.can("read")


def test_masks():
    assert mask_value("13812345678", "keep:3,4") == "138****5678"
    assert mask_value("11010519491231002X", "keep:6,4") == "110105********002X"
    assert mask_value("abc", "keep:3,4") == "***"
    assert mask_value(123456.5, "keep:1,1") == "******"
    assert mask_value(["a", "b"], "all") == "******"
    assert mask_value(None, "all") is None
