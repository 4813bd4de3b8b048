"""Field-key rotation: a real worker re-seals stored values under the new key, resumably."""
import json

import pytest

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.audit.verify import verify_chain
from formwarden.crypto import fields
from formwarden.jobs import keys as key_jobs
from formwarden.jobs.queue import connection
from formwarden.jobs.runs import get_run, submit
from formwarden.models import JobRun, Record
from formwarden.records import service
from tests.integration.test_jobs import run_worker_burst

pytestmark = pytest.mark.worker
ID = "11010519491231002X"


@pytest.fixture()
def rotated(clean_db, monkeypatch):
    keys_dir = clean_db.instance / "keys"
    before = {p.name for p in keys_dir.iterdir()}
    current = keys_dir / "field.current"
    old = current.read_text() if current.exists() else None
    yield clean_db
    for p in keys_dir.iterdir():  # put the instance back as it was for the other tests
        if p.name not in before:
            p.unlink()
    if old is None:
        current.unlink(missing_ok=True)
    else:
        current.write_text(old)


def _kids():
    return [json.loads(r[0])["id_number"]["kid"] if not isinstance(r[0], dict) else r[0]["id_number"]["kid"]
            for r in db.fetchall("SELECT data FROM record ORDER BY id")]


def test_rotation_reseals_every_value_with_a_real_worker(rotated):
    system = Actor.system("tests")
    ids = [service.create_record(system, "customer", {"name": f"轮换{i}", "status": "lead", "owner": "sales01",
                                                      "id_number": ID}).id for i in range(7)]
    assert set(_kids()) == {"k1"}
    kid = fields.rotate_key(rotated.instance)
    assert kid == "k2"
    run = submit(connection(rotated), "reseal", "formwarden.jobs.keys.run_reseal", queue="default",
                 requested_by=None, params={"kid": kid})
    run_worker_burst(rotated)
    run = get_run(run.job_id)
    assert run.status == "done" and run.progress == 7, run.message
    assert set(_kids()) == {"k2"}
    versions_after = {r.id: r.version for r in Record.select()}
    assert versions_after == dict.fromkeys(ids, 1)  # values did not change, so versions did not either
    admin = Actor.system("reader")
    assert service.get_record(admin, "customer", ids[0], reveal=["id_number"]).data["id_number"] == ID
    assert verify_chain(write_checkpoint=False).ok


def test_an_interrupted_reseal_resumes_where_it_stopped(rotated, monkeypatch):
    system = Actor.system("tests")
    for i in range(5):
        service.create_record(system, "customer", {"name": f"续{i}", "status": "lead", "owner": "sales01",
                                                   "id_number": ID})
    fields.rotate_key(rotated.instance)
    JobRun.create(job_id="reseal-test", kind="reseal", params="{}")
    real = key_jobs.reseal_batch
    calls = {"n": 0}

    def flaky(actor, form, formdef, names, after_id, limit=500):
        calls["n"] += form.key == "customer"  # every form is walked; the customers hold the values
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real(actor, form, formdef, names, after_id, limit=2)

    monkeypatch.setattr(key_jobs, "reseal_batch", flaky)
    with pytest.raises(RuntimeError):
        key_jobs.run_reseal("reseal-test")
    assert get_run("reseal-test").status == "failed"
    assert _kids().count("k2") == 2  # the first batch committed and its position was saved
    monkeypatch.setattr(key_jobs, "reseal_batch", lambda *a, **kw: real(*a[:5], limit=2))
    assert key_jobs.run_reseal("reseal-test") == 5  # 2 before the stop + the 3 left
    assert set(_kids()) == {"k2"} and get_run("reseal-test").status == "done"


def test_reseal_never_overwrites_a_change_made_meanwhile(rotated, monkeypatch):
    """A record changed between the batch's read and its write keeps the change; the next batch
    starts before it and re-seals it then."""
    from formwarden.forms import versions
    from formwarden.records import reseal

    system = Actor.system("tests")
    ids = [service.create_record(system, "customer", {"name": f"并发{i}", "status": "lead", "owner": "sales01",
                                                      "id_number": ID}).id for i in range(3)]
    fields.rotate_key(rotated.instance)
    real_fetchall = reseal.db.fetchall

    def read_then_someone_writes(sql, params=()):
        rows = real_fetchall(sql, params)
        if sql == reseal._BATCH:  # a user's change lands after the batch was read
            service.update_record(system, "customer", ids[1], {"status": "contacted"}, expected_version=1)
        return rows

    monkeypatch.setattr(reseal.db, "fetchall", read_then_someone_writes)
    form, formdef = versions.current("customer")
    after, seen, changed = reseal.reseal_batch(system, form, formdef, formdef.restricted_fields, 0)
    assert (after, seen) == (ids[0], 1) and changed == 2  # ids[1] left for the next batch
    monkeypatch.setattr(reseal.db, "fetchall", real_fetchall)
    assert Record.get_by_id(ids[1]).data["status"] == "contacted"  # the user's change stands
    after, seen, changed = reseal.reseal_batch(system, form, formdef, formdef.restricted_fields, after)
    assert seen == 2 and changed == 1
    assert set(_kids()) == {"k2"} and Record.get_by_id(ids[1]).data["status"] == "contacted"
