"""Old form versions stay first-class: an older record opens with its own fields, editing moves
it to the current version, a removed field's value stays readable in the history."""
import copy
import uuid

from formwarden.access.actor import Actor
from formwarden.catalog import publishing
from formwarden.forms import versions
from formwarden.records import history, service
from tests.conftest import actor_of


def _doc(key):
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False,
        "required": ["title"],
        "x-form": {"key": key, "title": {"zh-CN": "拜访报告", "en": "Visit report"}, "owner_field": "owner"},
        "properties": {
            "title": {"type": "string", "maxLength": 50, "x-label": {"zh-CN": "主题", "en": "Subject"}},
            "owner": {"type": "string", "x-widget": "member", "x-label": {"zh-CN": "负责人", "en": "Owner"}},
            "mood": {"type": "string", "enum": ["good", "bad"], "x-label": {"zh-CN": "气氛", "en": "Mood"}},
            "secret": {"type": "string", "x-sensitivity": "restricted", "x-label": {"zh-CN": "暗号", "en": "Code word"}},
        },
        "x-access": {"admin": {"scope": "all", "actions": ["create", "read", "update", "delete"], "fields": {"*": "write"}},
                     "sales": {"scope": "own", "actions": ["create", "read", "update"],
                               "fields": {"title": "write", "owner": "read", "mood": "write"}}},
    }


def test_an_older_record_opens_with_its_fields_and_moves_up_when_edited(clean_db):
    key = "visit_" + uuid.uuid4().hex[:8]
    admin = actor_of("admin")
    v1 = _doc(key)
    publishing.publish(Actor.system("t"), v1)
    rec = service.create_record(admin, key, {"title": "首访", "mood": "good", "secret": "芝麻开门", "owner": "sales01"})
    v2 = copy.deepcopy(v1)
    del v2["properties"]["mood"], v2["properties"]["secret"], v2["x-access"]["sales"]["fields"]["mood"]
    v2["properties"]["budget"] = {"type": "number", "x-label": {"zh-CN": "预算", "en": "Budget"}}
    form, version, _ = publishing.publish(Actor.system("t"), v2)
    versions.forget_forms()
    assert version == 2

    view = service.get_record(admin, key, rec.id)
    assert view.form_version == 1 and view.data["mood"] == "good" and "budget" not in view.data
    assert view.data["secret"] != "芝麻开门"  # restricted: masked unless revealed
    # a removed field stays readable (never writable) for the roles that could see it when it was removed
    assert service.get_record(actor_of("sales01"), key, rec.id).data["mood"] == "good"

    updated = service.update_record(admin, key, rec.id, {"title": "首次拜访"}, expected_version=1)
    assert updated.form_version == 2 and "mood" not in updated.data  # (budget: new, hidden until decided)
    timeline = history.history(admin, key, rec.id)
    last = timeline[-1].changes
    assert last["mood"] == ["good", None] and last["title"] == ["首访", "首次拜访"]
    assert history.record_at(admin, key, rec.id, 1)["mood"] == "good"


def test_removed_fields_are_labelled_on_the_page_and_an_old_record_shows_its_own_fields(login_as):
    key = "visit_" + uuid.uuid4().hex[:8]
    admin = actor_of("admin")
    v1 = _doc(key)
    publishing.publish(Actor.system("t"), v1)
    rec = service.create_record(admin, key, {"title": "首访", "mood": "good", "owner": "admin"})
    v2 = copy.deepcopy(v1)
    del v2["properties"]["mood"], v2["x-access"]["sales"]["fields"]["mood"]
    v2["properties"]["budget"] = {"type": "number", "x-label": {"zh-CN": "预算", "en": "Budget"}}
    v2["x-access"]["admin"]["fields"]["budget"] = "write"
    publishing.publish(Actor.system("t"), v2)
    versions.forget_forms()
    c = login_as("admin")
    page = c.get(f"/f/{key}/{rec.id}").text
    assert "气氛" in page and "在版本 2 中删除" in page and "预算" not in page.split('id="history"')[0]
    edit = c.get(f"/f/{key}/{rec.id}/edit").text
    assert "预算" in edit and "气氛" in edit.split("upgrade-note")[1].split("</div>")[0]
    r = c.post(f"/f/{key}/{rec.id}/edit", data={"csrf_token": c.csrf, "version": "1", "_present": ["title", "budget"],
                                                "title": "首访", "budget": "12"})
    assert r.status_code == 302
    page = c.get(f"/f/{key}/{rec.id}").text
    assert "在版本 2 中删除" in page  # the history still names the removed field and its value
    assert "good" in page or "气氛" in page
