"""One stateful test across features: Hypothesis interleaves record creates and edits, access
policy changes in the matrix, publishes that convert stored option values, team and role changes, deactivation and handover, delete, restore
from the recycle bin and purge, backups and the restore of an older archive, as several people.

After every step it checks the platform against a small model of its own (not the gate's code):
each person sees exactly the records and fields the current policy gives them (scope by owner
and team, level per field, masked values never in clear); every acknowledged write is there;
nothing closed since an archive comes back with its restore; the audit chain verifies and every
step left its event. The suite runs it with a fixed budget (FW_STATEFUL_STEPS steps, 500 by default); bench/stateful.py runs it long, seeded and resumable.
"""
from __future__ import annotations

import copy
import itertools
import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from formwarden.access.actor import Actor
from formwarden.audit.verify import verify_chain
from formwarden.auth import people, teams
from formwarden.auth.sessions import account_usable
from formwarden.backup.dump import write_archive
from formwarden.backup.restore import restore
from formwarden.catalog import designs, handover, policies
from formwarden.config import REPO_ROOT
from formwarden.errors import Invalid, NotFound
from formwarden.forms import versions
from formwarden.models import AuditEvent, Team, User, UserTeam
from formwarden.records import service
from formwarden.records.query import ListQuery
from tests.conftest import actor_of

PEOPLE = ("sales01", "sales11", "intern", "manager", "finance", "support")
OWNERS = ("sales01", "sales11", "intern")
ROLES = {"sales01": {"sales"}, "sales11": {"sales"}, "intern": {"intern"}, "manager": {"manager", "form_designer"},
         "finance": {"finance"}, "support": {"support"}}
LEVEL = {"hidden": 0, "masked": 1, "read": 2, "write": 3}
# The policy changes the steps choose from: (role, field, levels it moves between).
TOGGLES = [("sales", "notes", ("write", "hidden")), ("sales", "mobile", ("write", "masked")),
           ("finance", "company", ("read", "hidden")), ("support", "mobile", ("read", "masked")),
           ("intern", "mobile", ("masked", "hidden")), ("manager", "notes", ("write", "read"))]
STATUSES = ("lead", "negotiating", "won")
INDUSTRIES = ("manufacturing", "retail", "finance", "technology")
NARROW = ("manufacturing", "retail")  # the option list a publish narrows industry to, and back
STEPS = {"steps": 0, "pairs": set(), "checks": 0}  # what the runs exercised, for the bench's report


def _policy_doc() -> dict:
    return json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8"))["x-access"]


def _policy_doc_options() -> list:
    return json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8"))["properties"]["industry"]["enum"]


def _industry_labels() -> dict:
    return json.loads((REPO_ROOT / "form_defs" / "customer.json").read_text("utf-8"))["properties"]["industry"][
        "x-enum-labels"]


def _stored_industries() -> list:
    from formwarden.models import Record
    values = set()
    form = versions.get_form("customer")
    for rec in Record.select(Record.data).where(Record.form == form.id):
        data = rec.data if isinstance(rec.data, dict) else json.loads(rec.data)
        if data.get("industry") is not None:
            values.add(data["industry"])
    return sorted(values)


class Model:
    """What the platform must show, computed from the steps alone."""

    def __init__(self):
        self.policy = _policy_doc()
        self.narrow = False  # is industry's option list narrowed (published as version N+1)?
        self.retired: set[str] = set()  # industries kept as retired options by the last narrowing
        self.records: dict[int, dict] = {}  # id → {"owner", "data", "deleted"}
        self.south_manager = True  # is manager a member of 华南销售 (sales11's team)?
        self.active = {p: True for p in PEOPLE}
        self.roles = {p: set(r) for p, r in ROLES.items()}

    def teams_of(self, person: str) -> set[str]:
        teams_ = {"sales01": {"East"}, "intern": {"East"}, "sales11": {"South"},
                  "manager": {"East"} | ({"South"} if self.south_manager else set())}
        return teams_.get(person, set())

    def covers(self, scope: str, person: str, owner: str) -> bool:
        return scope == "all" or (scope == "own" and owner == person) or (
            scope == "team" and (owner == person or bool(self.teams_of(person) & self.teams_of(owner))))

    def levels(self, person: str, owner: str) -> dict[str, str] | None:
        """Each field's level for `person` on a record of `owner`; None when they may not see it."""
        best: dict[str, str] | None = None
        for role in self.roles[person]:
            block = self.policy.get(role)
            if not block or "read" not in block["actions"] or not self.covers(block["scope"], person, owner):
                continue
            best = best or {}
            for name in FIELDS:
                level = block["fields"].get(name, block["fields"].get("*", "hidden"))
                if LEVEL[level] > LEVEL[best.get(name, "hidden")]:
                    best[name] = level
        return best


FIELDS = ("name", "mobile", "company", "status", "notes", "owner", "contract_amount", "id_number", "industry",
          "region", "tags", "next_followup")


class Seams(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.model = Model()
        self.archives: list[tuple[Path, dict]] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="fw-stateful-"))
        self.n = itertools.count(1)
        self.last_step = "start"
        self.expected_events: list[str] = []
        self.verified: tuple[int, str] | None = None  # the head verified so far

    @initialize()
    def reset(self):
        """Each run starts from the demo form, policy, teams and accounts (earlier runs changed them),
        and no customers (lists then hold only this run's, however long the whole run)."""
        from formwarden import db
        from formwarden.models import Record
        db.execute("DELETE FROM record_search")
        Record.delete().execute()
        admin = actor_of("admin")
        from formwarden.catalog import publishing
        publishing.publish(Actor.system("stateful"), json.loads((REPO_ROOT / "form_defs" / "customer.json")
                                                                  .read_text("utf-8")), keep_policy=True)
        designs.discard(admin, "customer")
        policies.save(admin, "customer", _policy_doc(), reason="stateful test: start")
        policies.discard_draft(admin, "customer")
        south = Team.get(Team.name == "华南销售")
        if not UserTeam.select().join(User).where(UserTeam.team == south.id, User.username == "manager").exists():
            teams.set_members(admin, south.id, add=["manager"])
        for name in PEOPLE:
            if not User.get(User.username == name).is_active:
                people.reactivate(admin, name, "stateful test: start")
            if set(people.person(name).roles) != ROLES[name]:
                people.update_person(admin, name, roles=sorted(ROLES[name]))
        versions.forget_forms()

    # --- steps ---------------------------------------------------------------------------------

    def _step(self, name: str, *events: str) -> None:
        STEPS["pairs"].add((self.last_step, name))
        STEPS["steps"] += 1
        self.last_step = name
        self.expected_events = list(events)

    @rule(owner=st.sampled_from(OWNERS), status=st.sampled_from(STATUSES), notes=st.text(
        alphabet="客户备注abc123 ", min_size=1, max_size=12).map(str.strip).filter(bool),
        industry=st.sampled_from(INDUSTRIES))
    def create(self, owner, status, notes, industry):
        if self.model.narrow and industry not in NARROW:
            industry = NARROW[0]
        data = {"name": f"客户{next(self.n)}", "mobile": f"138{next(self.n) % 10**8:08d}", "status": status,
                "company": "某公司", "notes": notes, "owner": owner, "industry": industry}
        if not self.model.active[owner]:  # nobody gives records to a deactivated account
            with pytest.raises(Invalid):
                service.create_record(actor_of("admin"), "customer", data)
            self._step("create_refused")
            return
        view = service.create_record(actor_of("admin"), "customer", data)
        self.model.records[view.id] = {"owner": owner, "data": {k: v for k, v in data.items() if k != "owner"},
                                       "deleted": False}
        self._step("create", "create")

    def _live(self):
        return sorted(i for i, r in self.model.records.items() if not r["deleted"])

    def _stale(self, rid: int) -> bool:
        """The record holds an industry the current version dropped (a restore of an older archive
        brought it back): saving it moves it to the current version, which asks for a new choice."""
        value = self.model.records[rid]["data"].get("industry")
        return self.model.narrow and value is not None and value not in NARROW and value not in self.model.retired

    def _refused_as_stale(self, who, rid: int, change: dict, version: int) -> bool:
        if not self._stale(rid):
            return False
        with pytest.raises(Invalid) as refused:
            service.update_record(who, "customer", rid, change, expected_version=version)
        assert [d["field"] for d in refused.value.details] == ["industry"], refused.value.details
        self._step("edit_refused_stale")
        return True

    @precondition(lambda self: self._live())
    @rule(data=st.data(), notes=st.sampled_from(["改过的备注", "跟进中", "再次联系"]))
    def edit_as_admin(self, data, notes):
        rid = data.draw(st.sampled_from(self._live()), label="record")
        rec = service.get_record(actor_of("admin"), "customer", rid)
        if rec.data.get("notes") == notes or self._refused_as_stale(actor_of("admin"), rid, {"notes": notes},
                                                                    rec.version):
            return
        service.update_record(actor_of("admin"), "customer", rid, {"notes": notes}, expected_version=rec.version)
        self.model.records[rid]["data"]["notes"] = notes
        self._step("edit", "update")

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def edit_as_owner(self, data):
        rid = data.draw(st.sampled_from(self._live()), label="record")
        owner = self.model.records[rid]["owner"]
        levels = self.model.levels(owner, owner) or {}
        if levels.get("company") != "write" or not self.model.active[owner]:
            return
        rec = service.get_record(actor_of(owner), "customer", rid)
        new = rec.data.get("company", "") + "改"
        if self._refused_as_stale(actor_of(owner), rid, {"company": new[:100]}, rec.version):
            return
        service.update_record(actor_of(owner), "customer", rid, {"company": new[:100]}, expected_version=rec.version)
        self.model.records[rid]["data"]["company"] = new[:100]
        self._step("edit_as_owner", "update")

    @rule(toggle=st.sampled_from(TOGGLES))
    def change_policy(self, toggle):
        role, field, (a, b) = toggle
        access = copy.deepcopy(self.model.policy)
        fields = access[role]["fields"]
        current = fields.get(field, fields.get("*", "hidden"))
        fields[field] = b if current == a else a
        policies.save(actor_of("admin"), "customer", access, reason="stateful test")
        policies.discard_draft(actor_of("admin"), "customer")
        versions.forget_forms()
        self.model.policy = access
        self._step("policy", "policy_change")

    @rule(into=st.sampled_from(("retail", "__keep__", "")))
    def publish_narrower_or_wider_options(self, into):
        """Narrow industry to NARROW (converting each dropped value: into another option, kept as a
        retired option, or emptied) or widen it back; the builder's publish, as the access manager."""
        admin = actor_of("admin")
        wanted = list(NARROW) if not self.model.narrow else [o for o in _policy_doc_options()]

        def change(doc):
            doc["properties"]["industry"]["enum"] = wanted
            labels = dict(zip(_policy_doc_options(), _industry_labels()["zh-CN"]))
            labels_en = dict(zip(_policy_doc_options(), _industry_labels()["en"]))
            doc["properties"]["industry"]["x-enum-labels"] = {"zh-CN": [labels[o] for o in wanted],
                                                              "en": [labels_en[o] for o in wanted]}
            return doc
        designs.edit(admin, "customer", designs.draft("customer")["rev"], change)
        held = sorted({r["data"].get("industry") for r in self.model.records.values()} - set(wanted) - {None})
        stored = _stored_industries()
        mapping = {"industry": {old: (into or None) for old in stored if old not in wanted}}
        convert = ["industry"] if mapping["industry"] else []
        designs.publish(admin, "customer", designs.draft("customer")["rev"], convert_fields=convert, mapping=mapping)
        versions.forget_forms()
        for rec in self.model.records.values():
            value = rec["data"].get("industry")
            if value is not None and value not in wanted and into != "__keep__":
                if into:
                    rec["data"]["industry"] = into
                else:
                    rec["data"].pop("industry")
        self.model.retired = set(stored) - set(wanted) if into == "__keep__" and not self.model.narrow else set()
        self.model.narrow = not self.model.narrow
        del held
        self._step("publish", "form_publish")

    @rule()
    def toggle_south_membership(self):
        south = Team.get(Team.name == "华南销售")
        if self.model.south_manager:
            if south.manager_id is not None:
                teams.update_team(actor_of("admin"), south.id, manager="")  # a team's manager cannot just leave
            teams.set_members(actor_of("admin"), south.id, remove=["manager"])
        else:
            teams.set_members(actor_of("admin"), south.id, add=["manager"])
        self.model.south_manager = not self.model.south_manager
        self._step("team", "team_update")

    @rule(who=st.sampled_from(("sales11", "intern")))
    def toggle_support_role(self, who):
        """Grant or revoke a second role (support reads every customer's name, mobile, company)."""
        admin = actor_of("admin")
        current = set(people.person(who).roles)
        if "support" in self.model.roles[who]:
            people.update_person(admin, who, roles=sorted(current - {"support"}))
            self.model.roles[who].discard("support")
        else:
            people.update_person(admin, who, roles=sorted(current | {"support"}))
            self.model.roles[who].add("support")
        self._step("role", "user_update")

    @rule(who=st.sampled_from(("sales11", "intern")))
    def toggle_active(self, who):
        admin = actor_of("admin")
        if self.model.active[who]:
            people.deactivate(admin, who, "stateful test: leaves")
        else:
            people.reactivate(admin, who, "stateful test: back")
        self.model.active[who] = not self.model.active[who]
        self._step("activation", "user_deactivate" if not self.model.active[who] else "user_activate")

    @precondition(lambda self: any(r["owner"] == "sales11" for r in self.model.records.values()))
    @rule()
    def hand_over_sales11(self):
        handover.hand_over(actor_of("admin"), "sales11", "sales01", reason="stateful test")
        for rec in self.model.records.values():
            if rec["owner"] == "sales11":
                rec["owner"] = "sales01"
        self._step("handover", "bulk_handover")

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def delete(self, data):
        rid = data.draw(st.sampled_from(self._live()), label="record")
        service.delete_record(actor_of("admin"), "customer", rid)
        self.model.records[rid]["deleted"] = True
        self._step("delete", "delete")

    def _binned(self):
        return sorted(i for i, r in self.model.records.items() if r["deleted"])

    @precondition(lambda self: self._binned())
    @rule(data=st.data(), purge=st.booleans())
    def restore_or_purge(self, data, purge):
        rid = data.draw(st.sampled_from(self._binned()), label="record")
        if purge:
            service.purge_record(actor_of("admin"), "customer", rid, reason="stateful test")
            del self.model.records[rid]
            self._step("purge", "purge")
        else:
            service.restore_record(actor_of("admin"), "customer", rid)
            self.model.records[rid]["deleted"] = False
            self._step("bin_restore", "restore")

    @precondition(lambda self: len(self.archives) < 3)
    @rule()
    def back_up(self):
        path = self.tmp / f"a{len(self.archives)}.fwb"
        write_archive(path)
        self.archives.append((path, {"records": copy.deepcopy(self.model.records),
                                     "south_manager": self.model.south_manager,
                                     "active": dict(self.model.active),
                                     "roles": copy.deepcopy(self.model.roles)}))
        self._step("backup")

    @precondition(lambda self: self.archives)
    @rule(data=st.data())
    def restore_older_archive(self, data):
        path, snap = data.draw(st.sampled_from(self.archives), label="archive")
        restore(path, Actor.system("stateful"), reason="stateful test")
        versions.forget_forms()
        self.model.records = copy.deepcopy(snap["records"])
        # closings since the archive stay closed; what was open then and closed now stays closed
        self.model.south_manager = snap["south_manager"] and self.model.south_manager
        self.model.active = {p: snap["active"][p] and self.model.active[p] for p in PEOPLE}
        self.model.roles = {p: snap["roles"][p] & self.model.roles[p] for p in PEOPLE}  # revoked since: stays revoked
        self.archives = [(p, s) for p, s in self.archives]
        self._step("restore", "backup_restore")

    # --- what must hold after every step --------------------------------------------------------

    @invariant()
    def the_step_left_its_event(self):
        if self.expected_events:
            recent = [e.action for e in AuditEvent.select(AuditEvent.action).order_by(AuditEvent.seq.desc()).limit(200)]
            for action in self.expected_events:
                assert action in recent, (self.last_step, action, recent[:10])
        STEPS["checks"] += 1

    @invariant()
    def each_person_sees_exactly_what_the_policy_gives(self):
        model = self.model
        ours = set(model.records)
        for person in PEOPLE:
            who = actor_of(person)
            try:
                page = service.list_records(who, "customer", ListQuery(per_page=200))
                listed = {item.id: item for item in page.items if item.id in ours}
            except Exception as exc:  # a role without read on the form lists nothing
                assert getattr(exc, "status", None) == 403, exc
                listed = {}
            expected = {rid for rid, rec in model.records.items()
                        if not rec["deleted"] and model.levels(person, rec["owner"]) is not None}
            assert set(listed) == expected, (person, sorted(set(listed) ^ expected), self.last_step)
            for rid, item in listed.items():
                rec = model.records[rid]
                levels = model.levels(person, rec["owner"])
                for name in ("name", "mobile", "company", "status", "notes", "industry"):
                    level = levels.get(name, "hidden")
                    raw = rec["data"].get(name)
                    shown = item.data.get(name)
                    if level == "hidden" or raw in (None, ""):
                        assert name not in item.data or shown in (None, ""), (person, rid, name, level)
                    elif level == "masked":
                        assert shown != raw, (person, rid, name, "masked value in clear")
                    else:
                        assert shown == raw, (person, rid, name, level, shown, raw)
            for rid in sorted(ours - set(listed))[:3]:  # and one by one: the record page answers 404
                with pytest.raises((NotFound, Exception)) as refused:
                    service.get_record(who, "customer", rid)
                assert getattr(refused.value, "status", 404) in (403, 404)
        STEPS["checks"] += 1

    @invariant()
    def every_acknowledged_write_is_there(self):
        admin = actor_of("admin")
        for rid, rec in self.model.records.items():
            if rec["deleted"]:
                continue
            view = service.get_record(admin, "customer", rid)
            for name, value in rec["data"].items():
                assert view.data.get(name) == value, (rid, name, view.data.get(name), value, self.last_step)
            assert view.data.get("owner") == rec["owner"], (rid, view.data.get("owner"), rec["owner"])
        STEPS["checks"] += 1

    @invariant()
    def nothing_closed_comes_back(self):
        south = Team.get(Team.name == "华南销售")
        member = UserTeam.select().join(User).where(UserTeam.team == south.id, User.username == "manager").exists()
        assert member == self.model.south_manager, self.last_step
        for person in PEOPLE:
            assert account_usable(User.get(User.username == person)) == self.model.active[person], (person,
                                                                                                  self.last_step)
            assert set(people.person(person).roles) == self.model.roles[person], (person, self.last_step)
        STEPS["checks"] += 1

    @invariant()
    def the_audit_chain_verifies(self):
        """The events since the last check link to it and verify (the whole chain was verified
        when the run started; restores here are rollbacks, so the trail only grows)."""
        from formwarden.audit import chain
        from formwarden.audit.verify import event_rows
        from formwarden.crypto.keys import load_key

        if self.verified is None:
            report = verify_chain(write_checkpoint=False)
        else:
            report = chain.verify_rows(event_rows(after=self.verified[0]), load_key("audit"), start=self.verified)
        assert report.ok, (report.finding, self.last_step)
        self.verified = (report.head_seq, report.head_hash)
        STEPS["checks"] += 1

    def teardown(self):
        for path, _snap in self.archives:
            path.unlink(missing_ok=True)
        report = verify_chain(write_checkpoint=False)  # and the whole trail once more at the end
        assert report.ok, report.finding


def run(examples: int, steps: int, *, shrink: bool = False, database=None) -> None:
    """`shrink`: make a failing sequence minimal (slow); the suite reports the sequence as found."""
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if shrink else [])
    run_state_machine_as_test(Seams, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, phases=phases,
        suppress_health_check=list(HealthCheck), database=database))


def run_at_least(total_steps: int, steps_per_example: int = 25, **kw) -> dict:
    """Run batches of examples until `total_steps` steps were taken (Hypothesis chooses each
    example's length, up to `steps_per_example`); returns what was exercised."""
    start = STEPS["steps"]
    while STEPS["steps"] - start < total_steps:
        run(10, steps_per_example, **kw)
    return {"steps": STEPS["steps"] - start, "pairs": len(STEPS["pairs"]), "checks": STEPS["checks"]}


def test_features_meet_without_losing_data_or_reopening_access(clean_db, restore_customer):
    """The suite's budget: 500 steps. bench/stateful.py sets FW_STATEFUL_STEPS (10,000 and more)
    and FW_STATEFUL_DB, a folder where Hypothesis keeps what it found, so a long run resumes and
    replays failures first; the seed comes from pytest's --hypothesis-seed."""
    from hypothesis.database import DirectoryBasedExampleDatabase

    folder = os.environ.get("FW_STATEFUL_DB")
    database = DirectoryBasedExampleDatabase(folder) if folder else None
    done = run_at_least(int(os.environ.get("FW_STATEFUL_STEPS", "500")), database=database)
    assert done["steps"] >= 500 or os.environ.get("FW_STATEFUL_STEPS")
    print(f"stateful: {done['steps']} steps, {done['pairs']} distinct step pairs, {done['checks']} invariant checks")
