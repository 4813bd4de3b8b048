"""Records linked both ways: a customer's page lists the follow-ups and contracts that link to it
(through the gate), offers a new one with the link filled in, and a record titled by a link is
named by the linked record's title."""
from formwarden.records import service
from tests.conftest import VALID_CUSTOMER, actor_of


def _customer(owner="sales01", name="王伟"):
    return service.create_record(actor_of("admin"), "customer", dict(VALID_CUSTOMER, owner=owner, name=name)).id


def _followup(cid, owner="sales01", summary="电话沟通"):
    return service.create_record(actor_of("admin"), "followup", {
        "customer_id": cid, "kind": "call", "happened_on": "2026-12-01", "summary": summary, "owner": owner}).id


def test_a_record_lists_what_links_to_it_through_the_gate(login_as):
    cid = _customer()
    _followup(cid, summary="第一次电话")
    newest = _followup(cid, summary="上门拜访")
    _followup(cid, owner="sales02", summary="别人的跟进")  # sales01 may not read sales02's follow-ups
    service.create_record(actor_of("admin"), "contract", {"title": "年度合同", "customer_id": cid, "amount": 1000,
                                                          "status": "draft", "owner": "sales02"})
    page = login_as("sales01").get(f"/f/customer/{cid}").get_data(as_text=True)
    linked = page.split('id="linked"')[1].split("</section>")[0]
    assert "跟进记录 (2)" in linked and "别人的跟进" not in linked
    assert linked.index("上门拜访") < linked.index("第一次电话")  # newest first
    assert f"/f/followup/{newest}" in linked
    assert "合同 (0)" in linked and "年度合同" not in linked  # sales may create contracts, reads only their own
    assert f"/f/followup/new?customer_id={cid}" in linked
    admin = login_as("admin").get(f"/f/customer/{cid}").get_data(as_text=True)
    assert "跟进记录 (3)" in admin and "合同 (1)" in admin and "年度合同" in admin


def test_new_with_the_link_filled_in_only_for_a_record_the_reader_may_open(login_as):
    mine, theirs = _customer(), _customer(owner="sales02", name="李娜")
    sales = login_as("sales01")
    form = sales.get(f"/f/followup/new?customer_id={mine}").get_data(as_text=True)
    assert f'value="{mine}"' in form and "王伟" in form
    form = sales.get(f"/f/followup/new?customer_id={theirs}").get_data(as_text=True)
    assert f'value="{theirs}"' not in form and "李娜" not in form
    assert sales.get("/f/followup/new?customer_id=abc").status_code == 200  # ignored, never an error


def test_a_record_titled_by_a_link_is_named_by_the_linked_title(login_as):
    from formwarden.catalog import publishing
    from formwarden.forms import versions

    doc = versions.current("followup")[1].doc
    changed = {**doc, "x-form": {**doc["x-form"], "title_field": "customer_id"}}
    changed.pop("$id", None)
    changed["x-form"].pop("version", None)
    from formwarden.access.actor import Actor
    publishing.publish(Actor.system("t"), changed)
    try:
        cid = _customer(name="赵敏")
        fid = _followup(cid)
        sales = login_as("sales01")
        page = sales.get(f"/f/followup/{fid}").get_data(as_text=True)
        assert f"#{fid}" in page and "· 赵敏</h1>" in page.replace("\n", "").replace("  ", "")
        confirm = sales.get(f"/f/followup/{fid}/delete").get_data(as_text=True)
        assert "赵敏" in confirm and f">{cid}<" not in confirm
    finally:
        restored = {**changed, "x-form": {**changed["x-form"], "title_field": "summary"}}
        publishing.publish(Actor.system("t"), restored)


def test_search_finds_records_by_what_they_link_to_as_the_reader_sees_it(login_as):
    from formwarden.records.query import ListQuery

    wang, li = _customer(name="王伟"), _customer(owner="sales02", name="李娜")
    mine = _followup(wang, summary="报价")
    _followup(li, owner="sales01", summary="回访")  # sales01's follow-up of a customer sales01 may not read
    found = service.list_records(actor_of("sales01"), "followup", ListQuery(search="王伟"))
    assert [r.id for r in found.items] == [mine]
    # the customer's name is not readable to sales01 on 李娜: no answer about it through the link
    assert service.list_records(actor_of("sales01"), "followup", ListQuery(search="李娜")).total == 0
    assert service.list_records(actor_of("admin"), "followup", ListQuery(search="李娜")).total == 1
    page = login_as("sales01").get("/f/followup/?q=王伟").get_data(as_text=True)
    assert f"/f/followup/{mine}" in page


def test_a_link_field_filters_with_a_picker(login_as):
    wang = _customer(name="王伟")
    mine = _followup(wang, summary="报价")
    _followup(_customer(name="张三"), summary="别的")
    sales = login_as("sales01")
    page = sales.get("/f/followup/").get_data(as_text=True)
    assert 'name="filter[customer_id]"' in page and 'name="from[customer_id]"' not in page  # no range of ids
    page = sales.get(f"/f/followup/?filter[customer_id]={wang}&_pick_q=").get_data(as_text=True)
    assert f"/f/followup/{mine}" in page and "别的" not in page and "王伟" in page  # the chosen customer, by name
    picker = sales.get("/pick/customer?for=filter[customer_id]&_pick_q=王伟")
    assert picker.status_code == 200 and "王伟" in picker.get_data(as_text=True)
    assert sales.get("/pick/customer?for=filter[x y]&_pick_q=a").status_code == 400


def test_a_link_field_names_linked_records_by_its_display_field_through_the_gate(login_as, tmp_path):
    """A designer picks the field that names linked records (the customer's mobile instead of its
    name): pages, the picker and exports show it as each reader may see it, never more."""
    from formwarden.access.actor import Actor
    from formwarden.catalog import designs, publishing
    from formwarden.forms import versions

    cid = _customer(name="钱多多")
    fid = _followup(cid)
    manager = login_as("manager")
    panel = manager.get("/design/followup?field=customer_id").get_data(as_text=True)
    assert 'name="ref_display"' in panel and "手机号" in panel  # the customer form's fields, by name
    choices = panel.split('name="ref_display"')[1].split("</select>")[0]
    assert 'value="mobile"' in choices and 'value="id_number"' not in choices  # restricted: always masked
    r = manager.post("/design/followup/fields/customer_id", headers={"HX-Request": "true"}, data={
        "csrf_token": manager.csrf, "rev": designs.draft("followup")["rev"], "label_zh": "客户编号",
        "ref": "customer", "ref_display": "mobile", "required": "1"})
    assert r.status_code == 200
    doc = designs.draft("followup")["doc"]
    assert doc["properties"]["customer_id"]["x-ref-display"] == "mobile"
    wrong = {**doc, "properties": {**doc["properties"], "customer_id": {
        **doc["properties"]["customer_id"], "x-ref-display": "no_such_field"}}}
    assert any(p.pointer.endswith("/x-ref-display") for p in designs.problems(wrong, actor_of("admin")))
    before = versions.current("followup")[1].doc
    publishing.publish(Actor.system("t"), doc)
    try:
        sales = login_as("sales01")
        page = sales.get(f"/f/followup/{fid}").get_data(as_text=True)
        assert "13812345678" in page
        picked = sales.get("/pick/customer?for=customer_id&by=mobile&_pick_q=钱多多").get_data(as_text=True)
        assert "13812345678" in picked and "by=mobile" in picked
        from formwarden.records.export import export_csv
        from formwarden.records.query import ListQuery
        path = tmp_path / "f.csv"
        assert export_csv(actor_of("admin"), "followup", ListQuery(), path) >= 1  # exports name it the same way
        assert f"13812345678 (#{cid})" in path.read_text("utf-8-sig")
        # finance reads every customer but not their mobile: the link shows, the number never
        assert service.ref_titles(actor_of("finance"), "customer", [cid], "mobile") == {cid: ""}
        assert service.ref_titles(actor_of("finance"), "customer", [cid], "company") == {cid: "测试公司"}
    finally:
        restored = {**before, "x-form": {k: v for k, v in before["x-form"].items() if k != "version"}}
        restored.pop("$id", None)
        publishing.publish(Actor.system("t"), restored)
