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


def test_keys_are_made_from_the_name_and_follow_it_until_published():
    doc = builder.new_form("", "售后工单")  # no key, no English name
    assert doc["x-form"]["key"] == "shou_hou_gong_dan"
    assert doc["x-form"]["title"] == {"zh-CN": "售后工单", "en": "售后工单"}
    doc, key = builder.add_field(doc, "number", "退款金额")
    assert key == "tui_kuan_jin_e"
    doc, english = builder.add_field(doc, "text", "产品", "Product")
    assert english == "product"  # an English name, when given, makes the key
    # renamed before publishing: the key follows the name, everywhere the definition names it
    doc = builder.add_rule(doc, [builder.condition(doc, key, "gt", ["0"])], "all", [], [english])
    doc["x-form"]["list_fields"] = [key]
    before = doc["properties"][key]
    renamed = builder.update_field(doc, key, MultiDict({"label_zh": "退货金额", "kind": "number"}))
    renamed, new = builder.settle_key(renamed, key, before=before)
    assert new == "tui_huo_jin_e" and key not in renamed["properties"]
    assert renamed["x-rules"][0]["when"]["field"] == new and renamed["x-form"]["list_fields"] == [new]
    assert check_definition(renamed) == []
    # published (frozen): the key stays whatever the name becomes, and cannot be typed over
    kept, same = builder.settle_key(renamed, new, before=renamed["properties"][new], frozen={new})
    assert same == new
    with pytest.raises(Invalid) as err:
        builder.settle_key(renamed, new, "other", frozen={new})
    assert err.value.code == "key_frozen"
    # a key the designer typed stays when the name changes again
    typed, chosen = builder.settle_key(renamed, new, "refund")
    again = builder.update_field(typed, chosen, MultiDict({"label_zh": "金额", "kind": "number"}))
    assert builder.settle_key(again, chosen, before=typed["properties"][chosen])[1] == "refund"
    with pytest.raises(Invalid):
        builder.settle_key(typed, chosen, "Not A Key")
    with pytest.raises(Invalid):
        builder.settle_key(typed, chosen, "product")  # taken by another field


def test_the_option_list_editor_adds_moves_removes_and_takes_pasted_lines():
    doc, kind, *_ = _form()

    def edit(**form):
        rows = builder.option_rows(doc["properties"][kind])
        data = MultiDict([("label_zh", "拜访方式"), ("kind", "select")] +
                         [("opt_value", v) for v, _zh, _en in rows] + [("opt_zh", zh) for _v, zh, _en in rows] +
                         [("opt_en", en) for _v, _zh, en in rows] + list(form.items()))
        return builder.option_rows(builder.update_field(doc, kind, data)["properties"][kind])

    assert edit(option_op="add")[-1] == ("option_3", "选项3", "Option 3")
    assert [v for v, *_ in edit(option_op="down:0")] == ["phone_call", "on_site"]
    assert [v for v, *_ in edit(option_op="remove:1")] == ["on_site"]
    pasted = edit(opt_paste="微信\n邮件 | Email\n\n")
    assert pasted[2:] == [("wei_xin", "微信", "微信"), ("email", "邮件", "Email")]
    # a renamed option keeps its stored value (records that hold it keep their choice)
    rows = builder.option_rows(doc["properties"][kind])
    data = MultiDict([("label_zh", "拜访方式"), ("kind", "select"), ("opt_value", rows[0][0]), ("opt_zh", "到店"),
                      ("opt_en", ""), ("opt_value", rows[1][0]), ("opt_zh", rows[1][1]), ("opt_en", rows[1][2])])
    assert builder.option_rows(builder.update_field(doc, kind, data)["properties"][kind])[0] == ("on_site", "到店", "到店")
    with pytest.raises(Invalid):  # every row emptied
        builder.update_field(doc, kind, MultiDict([("label_zh", "x"), ("kind", "select"), ("opt_zh", ""), ("opt_en", "")]))


def test_a_rule_is_edited_in_place_and_a_field_moves_to_another_section():
    doc, kind, km, note = _form()
    doc = builder.add_rule(doc, [builder.condition(doc, kind, "in", ["on_site"])], "all", [km], [])
    doc = builder.add_rule(doc, [builder.condition(doc, km, "gt", ["10"])], "all", [], [note])
    doc = builder.replace_rule(doc, 0, [builder.condition(doc, kind, "in", ["phone_call"])], "all", [km], [km])
    assert doc["x-rules"][0] == {"when": {"field": kind, "in": ["phone_call"]}, "show": [km], "require": [km]}
    assert doc["x-rules"][1]["require"] == [note]
    with pytest.raises(Invalid):
        builder.replace_rule(doc, 5, [builder.condition(doc, kind, "in", ["on_site"])], "all", [km], [])
    doc = builder.add_section(doc, "补充信息", "")
    second = doc["x-layout"]["sections"][1]
    assert second["key"] == "bu_chong_xin_xi" and second["title"]["en"] == "补充信息"
    moved = builder.update_field(doc, note, MultiDict({"label_zh": "纪要", "section": second["key"]}))
    assert moved["x-layout"]["sections"][1]["fields"] == [note]
    doc, placed = builder.add_field(doc, "text", "地点", section=second["key"], index=0)
    assert doc["x-layout"]["sections"][1]["fields"][0] == placed == "di_dian"


def test_an_auto_number_is_configured_in_the_panel_and_never_required():
    doc = builder.new_form("", "售后工单")
    doc, key = builder.add_field(doc, "autonumber", "工单号")
    assert builder.kind_of(doc["properties"][key]) == "autonumber"
    doc = builder.update_field(doc, key, MultiDict({"label_zh": "工单号", "an_prefix": "SH-", "an_date": "YYMMDD",
                                                    "an_digits": "6", "required": "1"}))
    assert doc["properties"][key]["x-autonumber"] == {"prefix": "SH-", "date": "YYMMDD", "digits": 6}
    assert key not in doc["required"] and check_definition(doc) == []
    for bad in ({"an_prefix": "SH 1"}, {"an_date": "DD"}, {"an_digits": "12"}):
        with pytest.raises(Invalid):
            builder.update_field(doc, key, MultiDict({"label_zh": "工单号", **bad}))
    # its settings are how numbers look, not a check of stored values
    changed = builder.update_field(doc, key, MultiDict({"label_zh": "工单号", "an_prefix": "AS-"}))
    assert not builder.stored_shape_changed(doc["properties"][key], changed["properties"][key])


def test_a_new_options_made_up_english_name_goes_once_it_is_named():
    from werkzeug.datastructures import MultiDict

    from formwarden.forms.builder import options_from_editor

    rows = options_from_editor(MultiDict([("opt_value", "option_1"), ("opt_zh", "维修"), ("opt_en", "Option 1"),
                                          ("opt_value", "option_2"), ("opt_zh", "选项二"), ("opt_en", "Option 2"),
                                          ("opt_value", "option_3"), ("opt_zh", "退款"), ("opt_en", "Refund")]))
    assert rows == [("option_1", "维修", "维修"), ("option_2", "选项二", "Option 2"), ("option_3", "退款", "Refund")]
