"""Roles, teams and people as data: each change applies on the next request, is audited with
old → new, and cannot leave the instance without someone who administers it. Offboarding hands
every record over; tokens narrow to fields and addresses."""
import datetime as dt
import json
import re

import pytest

from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm, has_perm
from formwarden.auth import people, roles, teams
from formwarden.auth.tokens import authenticate_token, create_token
from formwarden.catalog import handover
from formwarden.errors import Forbidden, Invalid
from formwarden.models import AuditEvent, Record, Role, Team, User, UserRole, utcnow
from formwarden.records import service
from tests.conftest import VALID_CUSTOMER, Client, actor_of


def _last(action):
    return AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.seq.desc()).first()


@pytest.fixture()
def scratch_role(clean_db):
    made = []

    def make(name, **kw):
        made.append(name)
        return roles.create_role(actor_of("admin"), name, **kw)
    yield make
    for name in made:
        UserRole.delete().where(UserRole.role.in_(Role.select(Role.id).where(Role.name == name))).execute()
        Role.delete().where(Role.name == name).execute()


def test_role_permissions_are_data_and_apply_on_the_next_request(app, make_user, scratch_role):
    scratch_role("reviewer", title_zh="复核员", title_en="Reviewer", permissions=["records"])
    user = make_user(roles=("reviewer",))
    c = Client(app.test_client()).login(user.username)
    assert c.get("/audit").status_code == 403
    roles.update_role(actor_of("admin"), "reviewer", permissions=["records", "audit.read"])
    assert c.get("/audit").status_code == 200
    diff = json.loads(_last("role_update").diff)
    assert diff["permissions"] == [["account", "records"], ["account", "audit.read", "records"]]


def test_a_role_in_use_cannot_be_retired_or_deleted(make_user, scratch_role):
    scratch_role("temp_role")
    user = make_user(roles=("temp_role",))
    for op in (roles.retire_role, roles.delete_role):
        with pytest.raises(Invalid) as exc:
            op(actor_of("admin"), "temp_role")
        assert user.username in exc.value.message
    people.update_person(actor_of("admin"), user.username, roles=["sales"])
    roles.retire_role(actor_of("admin"), "temp_role")
    with pytest.raises(Invalid):  # a retired role cannot be given
        people.update_person(actor_of("admin"), user.username, roles=["temp_role"])
    roles.reinstate_role(actor_of("admin"), "temp_role")
    roles.delete_role(actor_of("admin"), "temp_role")
    assert not Role.select().where(Role.name == "temp_role").exists()


def test_a_role_a_policy_names_cannot_be_deleted(scratch_role):
    assert "customer" in roles.policies_naming("sales")
    scratch_role("unused_role")
    assert roles.policies_naming("unused_role") == []
    roles.delete_role(actor_of("admin"), "unused_role")
    assert json.loads(_last("role_delete").diff)["role"] == ["unused_role", None]


def test_a_retired_role_grants_nothing(make_user, scratch_role):
    scratch_role("lapsed", permissions=["records", "audit.read"])
    user = make_user(roles=("lapsed",))
    from formwarden.auth.users import actor_for
    assert has_perm(actor_for(user), Perm.AUDIT_READ)
    UserRole.delete().where(UserRole.user == user.id).execute()
    roles.retire_role(actor_of("admin"), "lapsed")
    UserRole.create(user=user, role=Role.get(Role.name == "lapsed"))  # even if a link survives somehow
    assert not has_perm(actor_for(user), Perm.AUDIT_READ)


def test_nobody_can_remove_the_last_administrator(clean_db):
    with pytest.raises(Invalid) as exc:
        roles.update_role(actor_of("admin"), "admin", permissions=["records"])
    assert exc.value.code == "last_administrator"
    with pytest.raises(Forbidden):  # one's own account: another administrator does it
        people.deactivate(actor_of("admin"), "admin", "leaving")
    with pytest.raises(Invalid) as exc:
        people.deactivate(Actor.system("cli"), "admin", "leaving")
    assert exc.value.code == "last_administrator"
    assert User.get(User.username == "admin").is_active
    assert "users.manage" in Role.get(Role.name == "admin").permissions


def test_every_platform_permission_keeps_an_active_holder(make_user, scratch_role):
    """Dropping backups, access management or audit reading from the last role that holds it (or
    its last holder) could never be undone from the console: refused, naming the permission."""
    admin = actor_of("admin")
    every = sorted(p.value for p in Perm)
    for perm in ("backups", "access.manage", "records.purge"):  # (the auditor reads the audit, the manager designs)
        with pytest.raises(Invalid) as exc:
            roles.update_role(admin, "admin", permissions=[p for p in every if p != perm])
        assert exc.value.code == "last_holder" and perm in exc.value.message
    assert sorted(roles.get_role("admin").permissions.split()) == every
    # with another active holder, the permission may go from the admin role; then that holder is the last
    scratch_role("backup_officer", permissions=["account", "backups"])
    officer = make_user(roles=("backup_officer",))
    try:
        roles.update_role(admin, "admin", permissions=[p for p in every if p != "backups"])
        with pytest.raises(Invalid) as exc:
            people.deactivate(admin, officer.username, "leaving")
        assert exc.value.code == "last_holder"
        with pytest.raises(Invalid) as exc:
            people.update_person(admin, officer.username, roles=["intern"])
        assert exc.value.code == "last_holder"
        with pytest.raises(Invalid) as exc:  # an expiry would end it too
            people.update_person(admin, officer.username, expires_at=utcnow() + dt.timedelta(days=3))
        assert exc.value.code == "last_holder"
    finally:
        Role.update(permissions=" ".join(every)).where(Role.name == "admin").execute()


def test_break_glass_grants_a_permission_back_audited(scratch_role):
    scratch_role("vault", permissions=["account"])
    with pytest.raises(Forbidden):  # not from the console: only the command line
        roles.break_glass_grant(actor_of("admin"), "vault", "backups", "lost the last holder")
    with pytest.raises(Invalid) as exc:
        roles.break_glass_grant(Actor.system("cli:access"), "vault", "backups", "  ")
    assert exc.value.field == "reason"
    with pytest.raises(Invalid) as exc:
        roles.break_glass_grant(Actor.system("cli:access"), "vault", "everything", "why not")
    assert exc.value.code == "unknown_permission"
    roles.break_glass_grant(Actor.system("cli:access"), "vault", "backups", "lost the last holder")
    assert "backups" in roles.get_role("vault").permissions.split()
    event = _last("role_update")
    assert event.reason == "lost the last holder" and json.loads(event.diff)["break_glass"] == [None, True]


def test_only_user_administrators_manage(clean_db):
    for who in ("manager", "auditor", "sales01"):
        with pytest.raises(Forbidden):
            roles.create_role(actor_of(who), "sneaky")
        with pytest.raises(Forbidden):
            people.update_person(actor_of(who), "sales02", roles=["admin"])
        with pytest.raises(Forbidden):
            teams.create_team(actor_of(who), "Shadow team")
        with pytest.raises(Forbidden):
            handover.hand_over(actor_of(who), "sales02", who)


def test_team_scope_follows_membership_at_once(app, make_user, clean_db):
    manager = make_user(roles=("manager",))
    member = make_user(roles=("sales",))
    rec = service.create_record(Actor.system("t"), "customer", dict(VALID_CUSTOMER, owner=member.username))
    c = Client(app.test_client()).login(manager.username)
    assert c.get(f"/f/customer/{rec.id}").status_code == 404
    team = teams.create_team(actor_of("admin"), "North sales", manager=manager.username)
    teams.set_members(actor_of("admin"), team.id, add=[member.username])
    assert c.get(f"/f/customer/{rec.id}").status_code == 200
    teams.set_members(actor_of("admin"), team.id, remove=[member.username])
    assert c.get(f"/f/customer/{rec.id}").status_code == 404
    with pytest.raises(Invalid):
        teams.set_members(actor_of("admin"), team.id, remove=[manager.username])  # the manager stays a member
    teams.update_team(actor_of("admin"), team.id, name="North sales 2")
    assert json.loads(_last("team_update").diff)["name"] == ["North sales", "North sales 2"]
    teams.delete_team(actor_of("admin"), team.id)


def test_people_are_created_with_a_one_time_password_and_found_by_filters(app, clean_db):
    admin = actor_of("admin")
    user, password = people.create_person(admin, "zhang.wei", display_name="张伟", roles=["intern"],
                                          teams=["华东销售"], time_zone="Asia/Shanghai",
                                          expires_at=utcnow() + dt.timedelta(days=3))
    try:
        assert len(password) >= 12
        Client(app.test_client()).login("zhang.wei", password)
        found, total = people.find_people(admin, q="zhang.w")
        assert [p.user.username for p in found] == ["zhang.wei"]
        found, _ = people.find_people(admin, status="expiring")
        assert "zhang.wei" in [p.user.username for p in found]
        found, _ = people.find_people(admin, role="intern", team="华东销售")
        assert "zhang.wei" in [p.user.username for p in found]
        assert User.get(User.username == "zhang.wei").last_login_at is not None
        with pytest.raises(Invalid):
            people.update_person(admin, "zhang.wei", time_zone="Mars/Olympus")
        people.update_person(admin, "zhang.wei", display_name="张伟（实习）", expires_at=None)
        diff = json.loads(_last("user_update").diff)
        assert diff["display_name"] == ["张伟", "张伟（实习）"] and diff["expires_at"][1] is None
    finally:
        User.delete().where(User.username == "zhang.wei").execute()


def test_integration_accounts_cannot_sign_in(app, clean_db):
    user, password = people.create_person(actor_of("admin"), "crm_sync", kind="integration", roles=["sales"])
    try:
        assert password == ""
        _, raw = create_token(actor_of("admin"), user, scopes=["read"])
        assert app.test_client().get("/api/v1/forms", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    finally:
        User.delete().where(User.username == "crm_sync").execute()


def test_dormant_accounts_are_listed(make_user):
    old = make_user(roles=("sales",))
    User.update(created_at=utcnow() - dt.timedelta(days=90), last_login_at=utcnow() - dt.timedelta(days=70)).where(
        User.id == old.id).execute()
    found, _ = people.find_people(actor_of("admin"), status="dormant")
    assert old.username in [p.user.username for p in found]
    people.deactivate_many(actor_of("admin"), [old.username], "dormant for 70 days")
    assert not User.get_by_id(old.id).is_active


def test_deactivation_with_a_reason_ends_everything_and_handover_moves_every_record(app, make_user):
    leaver = make_user(roles=("sales",))
    heir = make_user(roles=("sales",))
    browser = Client(app.test_client()).login(leaver.username)
    _, raw = create_token(Actor.system("t"), leaver, scopes=["read"])
    ids = [service.create_record(Actor.system("t"), "customer", dict(VALID_CUSTOMER, owner=leaver.username)).id
           for _ in range(3)]
    service.delete_record(Actor.system("t"), "customer", ids[2])  # the recycle bin moves too
    with pytest.raises(Invalid):
        people.deactivate(actor_of("admin"), leaver.username, "   ")
    people.deactivate(actor_of("admin"), leaver.username, "left the company")
    assert browser.get("/f/customer/").status_code in (302, 401)
    assert authenticate_token(raw) is None
    assert handover.preview(actor_of("admin"), leaver.username)["counts"] == {"customer": 3}
    counts = handover.hand_over(actor_of("admin"), leaver.username, heir.username, "offboarding")
    assert counts == {"customer": 3}
    for rid in ids:
        rec = Record.get_by_id(rid)
        assert rec.owner_id == heir.id and rec.data["owner"] == heir.username and rec.version == 2
    assert handover.owned_counts(leaver.username) == {}
    events = AuditEvent.select().where(AuditEvent.action == "handover", AuditEvent.record_id.in_(ids))
    assert {json.loads(e.diff)["owner"][1] for e in events} == {heir.username}
    assert json.loads(_last("bulk_handover").diff)["counts"] == [None, {"customer": 3}]
    with pytest.raises(Invalid):
        handover.hand_over(actor_of("admin"), heir.username, leaver.username)  # not to an inactive account


def test_token_field_allowlist_and_ip_allowlist_only_narrow(app, clean_db):
    rec = service.create_record(Actor.system("t"), "customer", dict(VALID_CUSTOMER, owner="sales01"))
    sales01 = User.get(User.username == "sales01")
    _, raw = create_token(Actor.system("t"), sales01, scopes=["read"], fields=["customer.name", "customer.status"])
    body = app.test_client().get(f"/api/v1/forms/customer/records/{rec.id}",
                                 headers={"Authorization": f"Bearer {raw}"}).get_json()
    assert set(body["data"]) <= {"name", "status"} and body["data"]["name"] == VALID_CUSTOMER["name"]
    _, raw = create_token(Actor.system("t"), sales01, scopes=["read"], ip_allow=["10.1.0.0/16"])
    assert authenticate_token(raw, "10.1.2.3") is not None
    assert authenticate_token(raw, "127.0.0.1") is None
    assert app.test_client().get("/api/v1/forms", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    for bad in (dict(fields=["customer"]), dict(ip_allow=["not-an-ip"])):
        with pytest.raises(Invalid):
            create_token(Actor.system("t"), sales01, scopes=["read"], **bad)


@pytest.fixture()
def hr(clean_db, make_user):
    """Someone who administers people and nothing else."""
    roles.create_role(actor_of("admin"), "hr_only", permissions=["users.manage"])
    user = make_user(roles=("hr_only",))
    yield actor_of(user.username)
    UserRole.delete().where(UserRole.role.in_(Role.select(Role.id).where(Role.name == "hr_only"))).execute()
    Role.delete().where(Role.name == "hr_only").execute()


def test_user_administration_cannot_be_turned_into_other_powers(hr, make_user):
    with pytest.raises(Forbidden):
        roles.update_role(hr, "hr_only", permissions=["users.manage", "access.manage"])
    with pytest.raises(Forbidden):
        roles.create_role(hr, "backup_op", permissions=["backups"])
    with pytest.raises(Forbidden):
        people.update_person(hr, hr.username, roles=["hr_only", "admin"])
    with pytest.raises(Forbidden):
        people.create_person(hr, "crm_bot", kind="integration", roles=["admin"])
    for op in (lambda: people.reset_password(hr, "admin"), lambda: people.deactivate(hr, "admin", "x"),
               lambda: people.update_person(hr, "admin", expires_at=utcnow() + dt.timedelta(days=1))):
        with pytest.raises(Forbidden):
            op()
    newcomer = make_user(roles=("intern",))
    with pytest.raises(Forbidden):  # record rights hr does not hold are not theirs to give either
        people.update_person(hr, newcomer.username, roles=["sales"])
    people.update_person(actor_of("admin"), newcomer.username, roles=["sales"])  # an administrator's to give
    assert "sales" in people.person(newcomer.username).roles


def test_the_last_administrator_cannot_be_given_an_expiry(clean_db):
    with pytest.raises(Invalid) as exc:
        people.update_person(Actor.system("cli"), "admin", expires_at=utcnow() + dt.timedelta(days=30))
    assert exc.value.code == "last_administrator"
    with pytest.raises(Forbidden):  # and never by themselves
        people.update_person(actor_of("admin"), "admin", expires_at=utcnow() + dt.timedelta(days=30))
    from formwarden.auth.users import change_role
    with pytest.raises(Invalid):
        change_role(Actor.system("cli"), "admin", "admin", False)


def test_usernames_are_ascii_and_unique_ignoring_case(clean_db):
    for bad in ("张三", "аdmin", "two words", ""):
        with pytest.raises(Invalid) as exc:
            people.create_person(actor_of("admin"), bad, roles=["sales"])
        assert exc.value.code == "invalid_username", bad
    with pytest.raises(Invalid) as exc:
        people.create_person(actor_of("admin"), "Admin", roles=["sales"])
    assert exc.value.code == "duplicate_username"
    with pytest.raises(Invalid) as exc:
        people.create_person(actor_of("admin"), "no.roles")
    assert exc.value.code == "no_role"


def test_a_token_narrowed_to_fields_reaches_no_other_form_and_creates_only_with_every_required_field(app, clean_db):
    admin = User.get(User.username == "admin")
    _, raw = create_token(Actor.system("t"), admin, scopes=["read", "write", "delete"], fields=["customer.name"])
    h = {"Authorization": f"Bearer {raw}"}
    c = app.test_client()
    follow = service.create_record(Actor.system("t"), "customer", dict(VALID_CUSTOMER, owner="sales01"))
    assert c.get("/api/v1/forms/followup/records", headers=h).status_code == 403
    assert c.post("/api/v1/forms/followup/records", json={"data": {}}, headers=h).status_code == 403
    assert c.post("/api/v1/forms/customer/records", json={"data": {"name": "x"}}, headers=h).status_code == 403
    assert c.get(f"/api/v1/forms/customer/records/{follow.id}", headers=h).status_code == 200
    from formwarden.auth.tokens import issue_token
    for bad in (dict(fields=["nonexist.foo"]), dict(fields=["customer.nofield"]), dict(scopes=["nonexist:read"])):
        with pytest.raises(Invalid):
            issue_token(actor_of("manager"), User.get(User.username == "manager"), **{"scopes": ["read"], **bad})


def test_user_administration_stops_at_accounts_roles_and_teams_above_it(hr, make_user):
    etl, _ = people.create_person(actor_of("admin"), "etl_feed", kind="integration", roles=["auditor"])
    try:
        from formwarden.auth.tokens import issue_token
        with pytest.raises(Forbidden):  # an integration holding powers hr lacks
            issue_token(hr, etl, name="mine", scopes=["read", "audit"])
        with pytest.raises(Forbidden):
            roles.update_role(hr, "admin", permissions=["records", "users.manage"])
        with pytest.raises(Forbidden):
            roles.update_role(hr, "admin", title_en="Boss")
        team = Team.get(Team.name == "华东销售")
        with pytest.raises(Forbidden):
            teams.set_members(hr, team.id, add=["admin"])
        with pytest.raises(Forbidden):
            teams.update_team(hr, team.id, manager=hr.username)  # replaces manager, whose roles hr lacks
        with pytest.raises(Forbidden):
            people.update_person(hr, hr.username, roles=["hr_only", "finance"])  # never one's own access
        admin_token = create_token(Actor.system("t"), User.get(User.username == "admin"), scopes=["read"])[0]
        from formwarden.auth.tokens import may_revoke
        assert not may_revoke(hr, admin_token)
        with pytest.raises(Invalid):
            people.update_person(actor_of("admin"), "sales05", roles=[])
        for bad in (".", "..", "new", "New", "_x"):
            with pytest.raises(Invalid):
                people.create_person(actor_of("admin"), bad, roles=["sales"])
    finally:
        User.delete().where(User.username == "etl_feed").execute()


def test_a_token_narrowed_to_fields_cannot_skip_fields_a_rule_requires(app, clean_db):
    admin = User.get(User.username == "admin")
    _, raw = create_token(Actor.system("t"), admin, scopes=["read", "write"], fields=["customer.name", "customer.status"])
    r = app.test_client().post("/api/v1/forms/customer/records", json={"data": {"name": "X", "status": "won"}},
                               headers={"Authorization": f"Bearer {raw}"})
    assert r.status_code in (403, 422)


def test_user_management_alone_cannot_become_someone_who_reads_more(hr, make_user):
    """A password reset or "view as" is becoming the account: refused when its record rights
    (finance reads every customer) exceed the administrator's own, whatever their platform rights."""
    with pytest.raises(Forbidden) as exc:
        people.reset_password(hr, "finance")
    assert exc.value.code == "beyond_own_data" and "customer" in exc.value.message
    assert User.get(User.username == "finance").must_change_password is False  # nothing changed
    nobody = make_user(roles=("hr_only",))  # nothing on any form: within hr's reach
    assert people.reset_password(hr, nobody.username)
    from formwarden.catalog import simulate

    roles.update_role(actor_of("admin"), "hr_only", permissions=["users.manage", "access.manage"])
    with pytest.raises(Forbidden):
        simulate.actor_as(actor_of(hr.name), "finance")
    assert simulate.actor_as(actor_of("admin"), "finance").name == "finance"  # who holds it all may


def test_the_first_sign_in_after_a_reset_from_the_resetters_browser_raises_an_alert(app, login_as):
    from formwarden.audit.alerts import scan
    from formwarden.models import Alert, AlertCursor

    Alert.delete().execute()
    AlertCursor.delete().execute()
    admin = login_as("admin")
    page = admin.post("/admin/people/sales05/password", data={"csrf_token": admin.csrf}).get_data(as_text=True)
    found = re.search(r'class="secret"><code>([^<]+)</code>', page)
    password = found.group(1) if found else None
    assert password, "the page shows the one-time password"
    admin.refresh_csrf()
    r = admin.c.post("/login", data={"username": "sales05", "password": password, "csrf_token": admin.csrf})
    assert r.status_code == 302
    login = _last("login")
    assert json.loads(login.diff)["after_reset_by"] == [None, "admin"]
    scan()
    alert = Alert.get(Alert.rule == "reset_sign_in")
    assert alert.subject == "sales05" and alert.severity == "critical"
    from formwarden.auth.passwords import hash_password
    from tests.conftest import DEMO_PASSWORD
    User.update(password_hash=hash_password(DEMO_PASSWORD), must_change_password=False).where(
        User.username == "sales05").execute()


def test_the_console_says_in_words_why_a_reset_is_refused(app, hr):
    from formwarden.models import User as U
    c = Client(app.test_client()).login(U.get_by_id(hr.user_id).username)
    r = c.post("/admin/people/finance/password", data={"csrf_token": c.csrf})
    assert r.status_code == 403
    text = r.get_data(as_text=True)
    assert "只有拥有其全部权限的管理员" in text and "合同 · 金额" in text and "contract." not in text


def test_user_management_alone_cannot_make_an_account_that_reads_more(hr, make_user):
    """Creating an account with the finance role (or adding it to one) handed out customer data
    to whoever holds user management alone (found by an outside attack)."""
    with pytest.raises(Forbidden) as exc:
        people.create_person(hr, "alt_reader", roles=["finance"])
    assert exc.value.code == "beyond_own_data"
    assert not User.select().where(User.username == "alt_reader").exists()
    nobody = make_user(roles=("hr_only",))
    with pytest.raises(Forbidden):
        people.update_person(hr, nobody.username, roles=["hr_only", "finance"])
    assert people.person(nobody.username).roles == ["hr_only"]
    created, _password = people.create_person(hr, "alt_plain", roles=["hr_only"])  # within reach: fine
    assert created.username == "alt_plain"
