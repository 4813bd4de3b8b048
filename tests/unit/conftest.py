import json

import pytest

from formwarden.config import REPO_ROOT
from formwarden.forms import parse_definition
from formwarden.plugins import load_plugins


@pytest.fixture(scope="session", autouse=True)
def plugins():
    return load_plugins((REPO_ROOT / "plugins",))


@pytest.fixture(scope="session")
def customer_doc():
    return json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8"))


@pytest.fixture(scope="session")
def customer(customer_doc):
    return parse_definition(customer_doc)
