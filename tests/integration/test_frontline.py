"""A frontline day: what sales, support and finance see on their pages."""
import datetime as dt
import re
from zoneinfo import ZoneInfo

from formwarden.models import User
from formwarden.records import service
from tests.conftest import VALID_CUSTOMER, actor_of


def test_times_show_in_the_readers_zone_with_utc_on_hover(login_as):
    rec = service.create_record(actor_of("admin"), "customer", {**VALID_CUSTOMER, "owner": "sales01"})
    User.update(time_zone="America/New_York").where(User.username == "sales01").execute()
    page = login_as("sales01").get(f"/f/customer/{rec.id}").text
    stamps = re.findall(r'<time datetime="([^"]+)Z" title="([^"]+) UTC">([^<]+)</time>', page)
    assert stamps, "the record page shows its times"
    for iso, utc, shown in stamps:
        at = dt.datetime.fromisoformat(iso).replace(tzinfo=dt.UTC)
        assert shown.startswith(at.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M"))
        assert utc == at.strftime("%Y-%m-%d %H:%M:%S")
    listed = login_as("support").get("/f/customer/").text  # default zone: the instance's (Asia/Shanghai)
    iso, _utc, shown = re.findall(r'<time datetime="([^"]+)Z" title="([^"]+) UTC">([^<]+)</time>', listed)[0]
    at = dt.datetime.fromisoformat(iso).replace(tzinfo=dt.UTC)
    assert shown == at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
