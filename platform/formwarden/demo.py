"""Demo roles, teams, users and records (deterministic), as described in shared WORKLOAD.md."""
from __future__ import annotations

import datetime as dt
import random

from formwarden.access.actor import Actor
from formwarden.auth.passwords import hash_password
from formwarden.auth.roles import seed_builtin_roles
from formwarden.auth.users import create_user, ensure_role
from formwarden.db import write_transaction
from formwarden.models import Record, Team, User, UserRole, UserTeam
from formwarden.records.service import create_record

TEAMS = {"华东销售": [f"sales{i:02d}" for i in range(1, 11)] + ["intern"],
         "华南销售": [f"sales{i:02d}" for i in range(11, 21)]}
_FORMER_TEAM_NAMES = {"East sales": "华东销售", "South sales": "华南销售"}  # demo instances made before
SALES = [f"sales{i:02d}" for i in range(1, 21)]
USERS = [("admin", ["admin"]), ("manager", ["manager", "form_designer"]), ("finance", ["finance"]), ("support", ["support"]),
         ("intern", ["intern"]), ("auditor", ["auditor"])] + [(s, ["sales"]) for s in SALES]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "霞", "平", "刚", "桂英"]
COMPANIES = ["华信科技", "东方物流", "长江制造", "南山零售", "北辰医疗", "西湖教育", "明德金融", "天成电子"]
INDUSTRIES = ["manufacturing", "retail", "finance", "technology", "healthcare", "education", "logistics", "other"]
STATUSES = ["lead", "contacted", "negotiating", "won", "lost"]
REGIONS = ["north", "east", "south", "central", "southwest", "northwest"]


def resident_id(rng: random.Random) -> str:
    from_weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    born = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(0, 15000))
    body = f"{rng.choice(['110101', '310104', '440305', '330106'])}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, from_weights)) % 11]


def customer_data(rng: random.Random, owner: str) -> dict:
    status = rng.choice(STATUSES)
    data: dict = {
        "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
        "mobile": f"1{rng.choice('3456789')}{rng.randrange(0, 10**9):09d}",
        "id_number": resident_id(rng),
        "company": rng.choice(COMPANIES),
        "industry": rng.choice(INDUSTRIES),
        "status": status,
        "owner": owner,
        "region": rng.choice(REGIONS),
        "notes": "客户关注交付周期与售后服务。",
        "tags": rng.sample(["重点", "老客户", "转介绍", "展会", "线上"], k=rng.randrange(0, 3)),
        "next_followup": (dt.date(2026, 12, 1) + dt.timedelta(days=rng.randrange(0, 60))).isoformat(),
    }
    if status in ("negotiating", "won"):
        data["contract_amount"] = round(float(rng.uniform(5000, 900000)), 2)
    return data


# Demo people go by names, as people do; they sign in with their usernames.
DISPLAY_NAMES = {"admin": "周敏（管理员）", "manager": "王强（销售经理）", "finance": "李娜（财务）", "support": "陈静（客服）",
                 "intern": "刘洋（实习生）", "auditor": "赵磊（审计）"}
SALES_NAMES = ["张伟", "王芳", "李军", "刘洋", "陈杰", "杨丽", "黄磊", "赵静", "吴超", "周婷",
               "徐明", "孙红", "马涛", "朱琳", "胡斌", "郭敏", "何平", "高翔", "林娜", "罗宇"]


def display_name(username: str) -> str:
    if username.startswith("sales") and username[5:].isdigit() and 1 <= int(username[5:]) <= len(SALES_NAMES):
        return f"{SALES_NAMES[int(username[5:]) - 1]}（销售）"
    return DISPLAY_NAMES.get(username, username)


def ensure_people(password: str) -> list[str]:
    """Create missing demo roles, teams and users; set `password` for every demo user."""
    system = Actor.system("demo")
    seed_builtin_roles()
    created = []
    for username, roles in USERS:
        user = User.get_or_none(User.username == username)
        if user is None:
            create_user(system, username, password, roles=roles, display_name=display_name(username),
                        check_strength=False)
            created.append(username)
        else:
            with write_transaction():
                User.update(password_hash=hash_password(password), is_active=True).where(User.id == user.id).execute()
                for r in roles:
                    UserRole.get_or_create(user=user, role=ensure_role(r))
    with write_transaction():
        for old, new in _FORMER_TEAM_NAMES.items():  # the same teams (ids, members, policies), named in Chinese
            if not Team.select().where(Team.name == new).exists():
                Team.update(name=new).where(Team.name == old).execute()
        for team_name, members in TEAMS.items():
            team, _ = Team.get_or_create(name=team_name)
            for m in members:
                UserTeam.get_or_create(user=User.get(User.username == m), team=team)
        manager = User.get(User.username == "manager")
        for team in Team.select():
            UserTeam.get_or_create(user=manager, team=team)
            if team.manager_id is None and team.name in TEAMS:
                Team.update(manager=manager).where(Team.id == team.id).execute()
    return created


def load_records(customers: int = 120, seed: int = 7) -> int:
    """Create demo records through the records service (validated and audited) unless some exist."""
    if Record.select().exists():
        return 0
    rng = random.Random(seed)
    system = Actor.system("demo")
    owners = SALES + ["intern"]
    ids = []
    for i in range(customers):
        owner = owners[i % len(owners)]
        ids.append(create_record(system, "customer", customer_data(rng, owner)).id)
    for i, cid in enumerate(ids[: customers // 2]):
        owner = owners[i % len(owners)]
        create_record(system, "followup", {
            "customer_id": cid, "kind": rng.choice(["visit", "call", "wechat"]), "owner": owner,
            "happened_on": (dt.date(2026, 11, 1) + dt.timedelta(days=rng.randrange(0, 28))).isoformat(),
            "summary": "沟通了报价与交付时间，客户需要内部评估。", "next_step": "一周后电话回访"})
    for i, cid in enumerate(ids[: customers // 6]):
        owner = owners[i % len(owners)]
        create_record(system, "contract", {
            "title": f"年度服务合同 {2026}-{i + 1:03d}", "customer_id": cid, "owner": owner,
            "amount": round(rng.uniform(10000, 500000), 2), "status": "draft",
            "payment_terms": "签约后 30 日内付款 50%，验收后付清。"})
    return customers + customers // 2 + customers // 6
