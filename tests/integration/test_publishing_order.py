"""A published definition keeps its author's field order (the checksum ignores it)."""
import json

from formwarden.access.actor import Actor
from formwarden.catalog import publishing
from formwarden.config import REPO_ROOT
from formwarden.forms import versions
from formwarden.models import Form, FormVersion


def test_fields_keep_the_order_the_definition_lists_them(restore_customer):
    doc = json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8"))
    del doc["x-layout"]
    names = list(doc["properties"])
    doc["properties"] = {"zz_first": {"type": "string", "maxLength": 10, "x-label": {"zh-CN": "首", "en": "First"}},
                         **{n: doc["properties"][n] for n in reversed(names)}}
    form, version, changed = publishing.publish(Actor.system("t"), doc)
    assert changed
    stored = json.loads(FormVersion.get(FormVersion.form == form, FormVersion.version == version).definition)
    assert list(stored["properties"]) == ["zz_first", *reversed(names)]
    versions.forget_forms()
    _form, formdef = versions.current("customer")
    assert formdef.layout_order == ("zz_first", *reversed(names))
    same = dict(doc, properties=dict(sorted(doc["properties"].items())))
    assert publishing.publish(Actor.system("t"), same)[2] is False  # order alone is not a new version
    assert Form.get(Form.key == "customer").current_version == version
