"""Account changes are audited; deactivation ends sessions and tokens at once; permission
changes to a form's access are recorded field by field."""
import json

from formwarden.access.actor import Actor
from formwarden.auth.tokens import create_token
from formwarden.auth.users import change_role, set_active
from formwarden.catalog import publishing
from formwarden.config import REPO_ROOT
from formwarden.models import AuditEvent
from tests.conftest import Client


def _last(action):
    return AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.seq.desc()).first()


def test_deactivation_ends_sessions_and_tokens(app, make_user):
    user = make_user(roles=("sales",))
    browser = Client(app.test_client()).login(user.username)
    _, token = create_token(Actor.system("t"), user, scopes=["read"])
    assert app.test_client().get("/api/v1/forms", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    set_active(Actor.system("admin-cli"), user.username, False)
    assert browser.get("/api/v1/forms").status_code == 401
    set_active(Actor.system("admin-cli"), user.username, True)  # reactivation does not revive the old token
    assert app.test_client().get("/api/v1/forms", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert _last("user_deactivate") is not None and _last("user_activate") is not None


def test_role_changes_take_effect_and_are_audited(app, make_user):
    user = make_user(roles=("intern",))
    c = Client(app.test_client()).login(user.username)
    assert c.get("/audit").status_code == 403
    change_role(Actor.system("admin-cli"), user.username, "auditor", True)
    assert c.get("/audit").status_code == 200
    change_role(Actor.system("admin-cli"), user.username, "auditor", False)
    assert c.get("/audit").status_code == 403
    assert json.loads(_last("role_revoke").diff)["role"] == ["auditor", None]


def test_access_changes_in_a_published_file_become_a_policy_version(clean_db):
    doc = json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8"))
    doc["x-access"]["intern"]["fields"]["mobile"] = "read"
    try:
        publishing.publish(Actor.system("t"), doc)
        diff = json.loads(_last("policy_change").diff)
        assert diff["intern.fields.mobile"] == ["masked", "read"]
    finally:
        publishing.publish(Actor.system("t"), json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8")))
