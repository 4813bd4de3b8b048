"""The RQ path end to end: a page queues an export, a real worker process runs it."""
import csv
import os
import subprocess
import sys

import pytest

from formwarden.access.actor import Actor
from formwarden.jobs.queue import redis_url_for
from formwarden.models import AuditEvent, JobRun
from formwarden.records import service
from tests.integration.test_route_walk import P1, P2

pytestmark = pytest.mark.worker


def run_worker_burst(settings):
    env = dict(os.environ, FORMWARDEN_INSTANCE=str(settings.instance), DATABASE_URL=settings.database_url,
               REDIS_URL=redis_url_for(settings), SECRET_KEY=settings.secret_key)
    done = subprocess.run([sys.executable, "-m", "formwarden.cli", "worker", "--burst"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_export_runs_in_a_real_worker_and_respects_field_access(login_as, base_db):
    system = Actor.system("tests")
    service.create_record(system, "customer", dict(P1))
    service.create_record(system, "customer", dict(P2))
    support = login_as("support")
    r = support.post("/f/customer/export", data={"csrf_token": support.csrf})
    assert r.status_code == 403  # support may read but not export
    finance = login_as("finance")
    r = finance.post("/f/customer/export", data={"csrf_token": finance.csrf, "filter[status]": "won"})
    assert r.status_code == 302
    job_id = r.headers["Location"].rsplit("/", 1)[1]
    page = finance.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "hx-trigger=\"every 1s\"" in page
    assert login_as("sales01").get(f"/jobs/{job_id}").status_code == 404  # not their job
    run_worker_burst(base_db)
    run = JobRun.get(JobRun.job_id == job_id)
    assert run.status == "done" and run.progress == 1, run.message
    r = finance.get(f"/jobs/{job_id}/download")
    assert r.status_code == 200
    rows = list(csv.reader(r.get_data(as_text=True).lstrip("\ufeff").splitlines()))
    # the form's order; no "created by": finance may not see whose a record is
    assert rows[0] == ["编号", "公司名称", "状态", "合同金额", "版本", "创建时间", "更新时间"]
    assert rows[1][1:4] == ["探针公司", "已成交", "7654321.09"]  # choices by their label in the reader's language  # choices by their label in the reader's language
    assert "13911112222" not in r.get_data(as_text=True)
    assert AuditEvent.select().where(AuditEvent.action == "export").count() == 1


def test_export_of_deactivated_requester_fails_cleanly(login_as, base_db, make_user):
    from formwarden.models import User

    user = make_user(roles=("finance",))
    c = login_as(user.username)
    r = c.post("/f/customer/export", data={"csrf_token": c.csrf})
    job_id = r.headers["Location"].rsplit("/", 1)[1]
    User.update(is_active=False).where(User.id == user.id).execute()
    run_worker_burst(base_db)
    run = JobRun.get(JobRun.job_id == job_id)
    assert run.status == "failed" and "deactivated" in run.message
