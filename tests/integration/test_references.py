"""Records linked by name: reference fields show the linked record's title, through the gate."""
from formwarden.records import service
from tests.conftest import VALID_CUSTOMER, actor_of

FOLLOWUP = {"kind": "call", "happened_on": "2026-12-01", "summary": "回访"}


def _customer(owner, name):
    return service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "owner": owner, "name": name})


def _followup(owner, customer_id, **kw):
    return service.create_record(actor_of("admin"), "followup",
                                 {**FOLLOWUP, "owner": owner, "customer_id": customer_id, **kw})


def test_lists_record_pages_and_history_show_the_linked_title(login_as):
    mine, other = _customer("sales01", "王小明"), _customer("sales02", "李小红")
    f1 = _followup("sales01", mine.id)
    _followup("sales01", other.id, summary="别人的客户")  # set by an admin: sales01 may not open it
    sales = login_as("sales01")
    listed = sales.get("/f/followup/").text
    assert f'href="/f/customer/{mine.id}">王小明</a>' in listed
    assert "李小红" not in listed and listed.count('class="ref-locked"') == 1  # a link exists, its title is not shown
    service.update_record(actor_of("admin"), "followup", f1.id, {"customer_id": other.id}, expected_version=1)
    page = login_as("manager").get(f"/f/followup/{f1.id}").text  # history: both titles, for a reader of both
    assert "王小明" in page and "李小红" in page
    page = sales.get(f"/f/followup/{f1.id}").text
    assert "李小红" not in page and "王小明" in page  # the old value is one sales01 may open


def test_the_picker_offers_only_records_the_user_may_open(login_as):
    mine, other = _customer("sales01", "王小明"), _customer("sales02", "王大海")
    sales = login_as("sales01")
    found = sales.get("/pick/customer", query_string={"for": "customer_id", "_pick_q": "王"})
    assert found.status_code == 200 and "王小明" in found.text and "王大海" not in found.text
    chosen = sales.get(f"/pick/customer/{mine.id}", query_string={"for": "customer_id"})
    assert chosen.status_code == 200 and "王小明" in chosen.text and f'value="{mine.id}"' in chosen.text
    assert sales.get(f"/pick/customer/{other.id}", query_string={"for": "customer_id"}).status_code == 404
    assert sales.get(f"/pick/customer/{mine.id}", query_string={"for": "x<script>"}).status_code == 400
    assert login_as("finance").get("/pick/customer", query_string={"for": "customer_id", "_pick_q": "王"}).text.count("王") == 0


def test_a_followup_is_created_through_the_picker(login_as):
    mine = _customer("sales01", "王小明")
    sales = login_as("sales01")
    form = sales.get("/f/followup/new").text
    assert 'id="pick-customer_id"' in form and 'hx-get="/pick/customer?for=customer_id"' in form
    r = sales.post("/f/followup/new", data={**FOLLOWUP, "customer_id": str(mine.id),
                                             "_present": ["customer_id", "kind", "happened_on", "summary"]})
    assert r.status_code == 302
    page = sales.get(r.headers["Location"]).text
    assert f'href="/f/customer/{mine.id}">王小明</a>' in page


def test_exports_name_linked_records_and_choices_and_come_back_in_unchanged(tmp_path):
    from formwarden.records.bulk import import_rows, read_csv
    from formwarden.records.export import export_csv
    from formwarden.records.query import ListQuery

    mine = _customer("sales01", "王小明")
    _followup("sales01", mine.id)
    manager = actor_of("manager")
    path = tmp_path / "f.csv"
    assert export_csv(manager, "followup", ListQuery(), path) >= 1
    text = path.read_text("utf-8-sig")
    assert f"王小明 (#{mine.id})" in text and "电话" in text  # the kind "call" by its label
    formdef = __import__("formwarden.forms.versions", fromlist=["current"]).current("followup")[1]
    rows = [r for r in read_csv(formdef, text) if r["customer_id"] == mine.id]
    assert len(rows) == 1 and rows[0]["kind"] == "call"
    assert import_rows(actor_of("admin"), "followup", rows) == 1
