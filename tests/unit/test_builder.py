"""The builder's edits: a form made without JSON is a sound definition; keys stay, labels change."""
import pytest
from werkzeug.datastructures import MultiDict

from formwarden.errors import Invalid
from formwarden.forms import builder
from formwarden.forms.definition import check_definition


def _form():
    doc = builder.new_form("visit_report", "拜访报告", "Visit report")
    doc, kind = builder.add_field(doc, "select", "拜访方式", "Kind")
    doc = builder.update_field(doc, kind, MultiDict({"label_zh": "拜访方式", "label_en": "Kind", "required": "1",
                                                     "options": "上门拜访 | On site\n电话 | Phone call"}))
    doc, km = builder.add_field(doc, "number", "里程", "Distance (km)")
    doc, note = builder.add_field(doc, "textarea", "纪要", "Notes")
    return doc, kind, km, note


def test_a_built_form_is_a_sound_definition():
    doc, kind, km, note = _form()
    assert (kind, km, note) == ("kind", "distance_km", "notes")
    assert doc["properties"]["kind"]["enum"] == ["on_site", "phone_call"]
    assert doc["required"] == ["kind"]
    assert check_definition(doc) == []


def test_rules_are_made_from_the_panel_and_checked():
    doc, *_ = _form()
    cond = builder.condition(doc, "kind", "in", ["on_site"])
    doc = builder.add_rule(doc, [cond, builder.condition(doc, "distance_km", "gt", ["50"])], "any", ["notes"], ["notes"])
    assert doc["x-rules"] == [{"when": {"any": [{"field": "kind", "in": ["on_site"]}, {"field": "distance_km", "gt": 50}]},
                               "show": ["notes"], "require": ["notes"]}]
    assert check_definition(doc) == []
    with pytest.raises(Invalid):
        builder.condition(doc, "distance_km", "gt", ["far"])


def test_removing_a_field_removes_it_everywhere_it_is_named():
    doc, *_ = _form()
    doc = builder.add_rule(doc, [builder.condition(doc, "kind", "in", ["on_site"])], "all", ["notes"], [])
    doc = builder.remove_field(doc, "kind")
    assert "kind" not in doc["properties"] and doc["x-rules"] == [] and doc["required"] == []
    assert check_definition(doc) == []


def test_moving_and_renaming_never_changes_keys():
    doc, *_ = _form()
    doc = builder.add_section(doc, "结果", "Outcome")
    doc = builder.move_field(doc, "notes", "outcome", 0)
    doc = builder.step_field(doc, "distance_km", -1)
    assert [s["fields"] for s in doc["x-layout"]["sections"]] == [["distance_km", "kind"], ["notes"]]
    doc = builder.update_field(doc, "notes", MultiDict({"label_zh": "会议纪要", "label_en": "Minutes"}))
    assert "notes" in doc["properties"] and doc["properties"]["notes"]["x-label"]["en"] == "Minutes"


@pytest.mark.parametrize("pattern", ["(a+)+$", "(?=x)", "a" * 300])
def test_unsafe_patterns_are_refused_on_the_field(pattern):
    doc, *_ = _form()
    with pytest.raises(Invalid) as err:
        builder.update_field(doc, "notes", MultiDict({"label_zh": "纪要", "label_en": "Notes", "pattern": pattern}))
    assert err.value.field == "pattern"


def test_changelog_names_added_removed_and_changed_fields():
    before, *_ = _form()
    after = builder.remove_field(before, "notes")
    after, _ = builder.add_field(after, "date", "下次拜访", "Next visit")
    after = builder.update_field(after, "kind", MultiDict({"label_zh": "方式", "label_en": "Kind",
                                                            "options": "上门拜访 | On site"}))
    log = builder.changelog(before, after)
    assert log["added"] == ["next_visit"] and log["removed"] == ["notes"]
    assert "enum" in log["changed"]["kind"] and "required" in log["changed"]["kind"]


def test_sections_move_and_only_an_empty_one_is_removed():
    doc, *_ = _form()
    doc = builder.add_section(doc, "结果", "Outcome")
    doc = builder.step_section(doc, "outcome", -1)
    assert [s["key"] for s in doc["x-layout"]["sections"]] == ["outcome", "main"]
    with pytest.raises(Invalid):
        builder.remove_section(doc, "main")
    doc = builder.remove_section(doc, "outcome")
    assert [s["key"] for s in doc["x-layout"]["sections"]] == ["main"]


def test_an_empty_new_section_is_left_out_when_checked():
    from formwarden.catalog.designs import tidy

    doc, *_ = _form()
    doc = builder.add_section(doc, "空", "Empty")
    assert check_definition(doc) and check_definition(tidy(doc)) == []
