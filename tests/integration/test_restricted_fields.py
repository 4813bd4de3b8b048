"""Restricted fields: sealed in records and in audit events, found by blind index, shown in
clear only on an explicit, audited reveal."""
import glob

from formwarden import db
from formwarden.models import AuditEvent

URL = "/api/v1/forms/customer/records"
ID1, ID2 = "11010519491231002X", "110101199003074477"


def _raw_database_text(settings) -> str:
    if db.is_postgres():
        rows = db.fetchall("SELECT CAST(data AS text) FROM record") + db.fetchall("SELECT diff FROM audit_event")
        return "\n".join(r[0] for r in rows)
    db.database.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")
    blobs = [open(p, "rb").read() for p in glob.glob(settings.database_url[len("sqlite:///"):] + "*")]
    return "\n".join(b.decode("utf-8", "replace") for b in blobs)


def test_no_restricted_value_in_clear_anywhere_in_the_database(login_as, clean_db):
    c = login_as("admin")
    rid = c.post(URL, json={"data": {"name": "密封", "status": "lead", "owner": "sales01", "id_number": ID1}}).json["id"]
    r = c.patch(f"{URL}/{rid}", json={"data": {"id_number": ID2}}, headers={"If-Match": '"1"'})
    assert r.status_code == 200
    text = _raw_database_text(clean_db)
    assert "密封" in text  # the check can see ordinary values
    assert ID1 not in text and ID2 not in text
    assert ID1[:6] + "********" not in text  # not even masked copies are stored


def test_blind_index_finds_exact_values_for_readers_only(login_as, clean_db):
    c = login_as("admin")
    rid = c.post(URL, json={"data": {"name": "查找", "status": "lead", "owner": "sales01", "id_number": ID1}}).json["id"]
    c.post(URL, json={"data": {"name": "别人", "status": "lead", "owner": "sales01", "id_number": ID2}})
    found = c.get(URL, query_string={"filter[id_number]": ID1}).json
    assert [i["id"] for i in found["items"]] == [rid]
    assert c.get(URL, query_string={"filter[id_number]": ID1[:10]}).json["total"] == 0  # exact match only
    assert login_as("manager").get(URL, query_string={"filter[id_number]": ID1}).status_code == 403  # masked level
    assert c.get(URL, query_string={"sort": "id_number"}).status_code == 422
    # a search is a reveal: audited (so the burst alert counts it), one candidate at a time
    searches = AuditEvent.select().where(AuditEvent.action == "reveal").count()
    assert searches == 2
    r = c.get(URL, query_string=[("filter[id_number]", ID1), ("filter[id_number]", ID2)])
    assert r.status_code == 422 and r.json["error"]["code"] == "one_value_only"


def test_reveal_is_explicit_and_audited(login_as, clean_db):
    c = login_as("admin")
    rid = c.post(URL, json={"data": {"name": "揭示", "status": "lead", "owner": "sales01", "id_number": ID1}}).json["id"]
    assert c.get(f"{URL}/{rid}").json["data"]["id_number"] == "110105********002X"
    assert c.get(f"{URL}/{rid}?reveal=id_number").status_code == 400  # never by a GET
    assert AuditEvent.select().where(AuditEvent.action == "reveal").count() == 0
    assert c.post(f"{URL}/{rid}/reveal", json={"fields": ["id_number"]}).json["data"]["id_number"] == ID1
    event = AuditEvent.select().order_by(AuditEvent.seq.desc()).first()
    assert (event.action, event.actor_name, event.record_id) == ("reveal", "admin", rid)
    m = login_as("manager")
    r = m.post(f"{URL}/{rid}/reveal", json={"fields": ["id_number"]})
    assert r.status_code == 403 and r.json["error"]["field"] == "id_number"
    assert m.post(f"{URL}/{rid}/reveal", json={"fields": ["name"]}).status_code == 422
    page = c.post(f"/f/customer/{rid}/reveal/id_number", data={"csrf_token": c.csrf}, headers={"HX-Request": "true"})
    assert page.status_code == 200 and ID1 in page.get_data(as_text=True)
    assert ID1 not in c.get(f"/f/customer/{rid}").get_data(as_text=True)


def test_history_shows_authorised_readers_old_values_and_records_it(login_as, clean_db):
    c = login_as("admin")
    rid = c.post(URL, json={"data": {"name": "旧值", "status": "lead", "owner": "sales01", "id_number": ID1}}).json["id"]
    c.patch(f"{URL}/{rid}", json={"data": {"id_number": ID2}}, headers={"If-Match": '"1"'})
    items = c.get(f"{URL}/{rid}/history").json["items"]
    assert items[1]["changes"]["id_number"] == ["110105********002X", "110101********4477"]  # GET: masked
    assert AuditEvent.select().where(AuditEvent.action == "reveal").count() == 0
    items = c.post(f"{URL}/{rid}/history/reveal").json["items"]
    assert items[1]["changes"]["id_number"] == [ID1, ID2]
    assert AuditEvent.select().where(AuditEvent.action == "reveal").count() == 1
    support = login_as("support").get(f"{URL}/{rid}/history").json["items"]
    assert support[1]["changes"]["id_number"] == ["110105********002X", "110101********4477"]


def test_edit_page_keeps_a_restricted_value_left_empty(login_as, clean_db):
    c = login_as("admin")
    rid = c.post(URL, json={"data": {"name": "编辑", "status": "lead", "owner": "sales01", "id_number": ID1}}).json["id"]
    page = c.get(f"/f/customer/{rid}/edit").get_data(as_text=True)
    assert ID1 not in page and "110105********002X" not in page
    form = {"_present": ["name", "id_number"], "name": "编辑后", "id_number": "", "version": "1", "csrf_token": c.csrf}
    assert c.post(f"/f/customer/{rid}/edit", data=form).status_code == 302
    assert c.post(f"{URL}/{rid}/reveal", json={"fields": ["id_number"]}).json["data"] == {
        "name": "编辑后", "status": "lead", "owner": "sales01", "id_number": ID1}
