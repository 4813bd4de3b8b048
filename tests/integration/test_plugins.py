"""Broken plugins are reported and switched off; the platform keeps running with the others."""
import logging

import pluggy

from formwarden.forms.registry import FieldTypeRegistry
from formwarden.plugins.loader import discover
from formwarden.plugins.spec import PROJECT, FormwardenSpec

GOOD = '''
from formwarden.forms import FieldType
from formwarden.plugins import hookimpl

@hookimpl
def formwarden_field_types():
    return [FieldType("good-type", lambda v: True)]
'''
BAD_RESULT = '''
from formwarden.forms import FieldType
from formwarden.plugins import hookimpl

@hookimpl
def formwarden_field_types():
    return [FieldType("half-type", lambda v: True), "not a field type"]
'''
DUPLICATE = '''
from formwarden.forms import FieldType
from formwarden.plugins import hookimpl

@hookimpl
def formwarden_field_types():
    return [FieldType("good-type", lambda v: False)]
'''


def _discover(tmp_path):
    for name, body in (("a_good", GOOD), ("b_import_error", "import not_a_module_anywhere\n"),
                       ("c_bad_result", BAD_RESULT), ("d_duplicate", DUPLICATE), ("e_syntax", "def (:\n")):
        (tmp_path / f"{name}.py").write_text(body)
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(FormwardenSpec)
    registry = FieldTypeRegistry()
    return discover([tmp_path], None, registry, pm), registry, pm


def test_each_broken_plugin_is_reported_and_left_out_whole(tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        report, registry, pm = _discover(tmp_path)
    assert report.loaded == ["a_good"]
    assert set(report.broken) == {"b_import_error", "c_bad_result", "d_duplicate", "e_syntax"}
    assert "import failed" in report.broken["b_import_error"] and "FieldType" in report.broken["c_bad_result"]
    assert registry.get("good-type").plugin == "a_good" and registry.get("good-type").check("x") is True
    assert registry.get("half-type") is None  # registered before the bad item: taken back with its plugin
    assert [p for p in pm.get_plugins()] and all(pm.get_name(p) == "a_good" for p in pm.get_plugins())
    assert "c_bad_result" in caplog.text and "is broken" in caplog.text


def test_the_builder_page_lists_broken_plugins(login_as, app, monkeypatch):
    from formwarden.plugins.loader import PluginReport

    monkeypatch.setitem(app.extensions, "formwarden_plugins",
                        PluginReport(loaded=["cn_fields"], broken={"shady": "import failed: boom"}))
    page = login_as("admin").get("/design/").text
    assert 'id="broken-plugins"' in page and "shady" in page and "boom" in page
