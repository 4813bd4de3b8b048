"""An administrator backs up from the browser, watches it finish, previews the archive and
brings back one customer that was deleted for good."""
import os
import subprocess
import sys

import pytest

from formwarden.access.actor import Actor
from formwarden.jobs.queue import redis_url_for
from formwarden.records import service
from tests.conftest import VALID_CUSTOMER

pytestmark = [pytest.mark.browser, pytest.mark.worker]


@pytest.fixture()
def worker(base_db, tmp_path, monkeypatch):
    monkeypatch.setenv("FORMWARDEN_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.delenv("FORMWARDEN_BACKUP_TARGETS", raising=False)
    env = dict(os.environ, FORMWARDEN_INSTANCE=str(base_db.instance), DATABASE_URL=base_db.database_url,
               REDIS_URL=redis_url_for(base_db), SECRET_KEY=base_db.secret_key)
    proc = subprocess.Popen([sys.executable, "-m", "formwarden.cli", "worker", "--queue", "backups"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield proc
    proc.terminate()  # a warm shutdown; on a busy machine it may take longer: then for sure
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_back_up_preview_and_restore_one_deleted_customer(page, worker):
    system = Actor.system("tests")
    customer = service.create_record(system, "customer", dict(VALID_CUSTOMER, name="浏览器备份客户", owner="sales01"))
    page.login("admin")
    page.click("text=备份")
    page.wait_for_url("**/backups")
    page.shot("dashboard")
    page.click("button:has-text('立即备份')")
    page.wait_for_url("**/backups/runs/*")
    page.wait_for_selector(".alert.success", timeout=90_000)
    page.shot("backup-done")
    assert page.locator("progress").get_attribute("value") == "100"

    service.delete_record(system, "customer", customer.id)
    service.purge_record(system, "customer", customer.id, reason="误删")

    page.click("text=返回备份")
    page.click("table.backups a[href*='/backups/archives/local/']")
    page.wait_for_selector("text=备份内容")
    page.shot("preview")
    assert "客户" in page.inner_text("table.records")  # the form by its title, not its key
    page.select_option("#r-form", "customer")
    page.fill("#r-id", str(customer.id))
    page.fill("#r-reason", "客户被误删，从备份找回")
    page.click("button:has-text('恢复这条记录')")
    page.wait_for_selector(".alert.success", timeout=90_000)
    page.shot("record-restored")
    assert service.get_record(system, "customer", customer.id).data["name"] == "浏览器备份客户"
    page.goto(f"{page.base}/f/customer/{customer.id}")
    assert "浏览器备份客户" in page.inner_text("main")


def test_the_backup_page_fits_a_phone(page):
    page.set_viewport_size({"width": 390, "height": 844})
    page.login("admin")
    page.goto(f"{page.base}/backups")
    page.shot("phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
