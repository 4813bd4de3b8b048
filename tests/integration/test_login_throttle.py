"""Sign-in throttling: per account (as typed, existing or not) and source, and per IP, a growing wait
and then a lock, state in Redis shared by every process, audited locks that raise an alert and that
an administrator can lift, failing closed without Redis."""
import json
import re

import pytest

from formwarden.audit.alerts import scan
from formwarden.auth import throttle
from formwarden.config import login_limits
from formwarden.models import Alert, AlertCursor, AuditEvent
from tests.conftest import DEMO_PASSWORD, Client


@pytest.fixture()
def limits(monkeypatch, clean_db):
    """Small numbers: 2 free failures, a lock at the 5th, per IP 4 free and a lock at the 8th."""
    for name, value in {"ACCOUNT_FREE": 2, "ACCOUNT_LOCK": 5, "IP_FREE": 4, "IP_LOCK": 8, "DELAY_SECONDS": 1,
                        "DELAY_MAX_SECONDS": 4, "LOCK_MINUTES": 15}.items():
        monkeypatch.setenv(f"FORMWARDEN_LOGIN_{name}", str(value))
    return monkeypatch


def _client(app, ip="127.0.0.1", locale="en"):
    c = Client(app.test_client())
    c.c.environ_base["REMOTE_ADDR"] = ip
    c.c.set_cookie("fw_locale", locale)
    c.refresh_csrf()
    return c


def _try(c, username, password="wrong-password"):
    return c.c.post("/login", data={"username": username, "password": password, "csrf_token": c.csrf})


def _pass_time(redis_conn, kind="wait"):
    """Let every wait (or lock) run out, without sleeping."""
    keys = list(redis_conn.scan_iter(match=f"{throttle.PREFIX}*:{kind}"))
    if keys:
        redis_conn.delete(*keys)


def _message(r, username):
    """The alert shown above the form."""
    found = re.search(r'role="alert">(.*?)</div>', r.get_data(as_text=True), re.S)
    return found.group(1).replace(username, "USERNAME") if found else None


def test_a_growing_wait_then_a_lock(app, limits, redis_conn):
    c = _client(app)
    assert [_try(c, "sales01").status_code for _ in range(3)] == [401, 401, 401]  # the 3rd earns a wait
    r = _try(c, "sales01", DEMO_PASSWORD)  # even the right password waits
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert "Wait 1 second, then try again" in r.get_data(as_text=True)
    _pass_time(redis_conn)
    assert _try(c, "sales01").status_code == 401  # the 4th: the wait doubles
    r = _try(c, "sales01")
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    assert "Wait 2 seconds" in r.get_data(as_text=True)
    _pass_time(redis_conn)
    assert _try(c, "sales01").status_code == 401  # the 5th locks
    r = _try(c, "sales01", DEMO_PASSWORD)
    assert r.status_code == 429 and 14 * 60 < int(r.headers["Retry-After"]) <= 15 * 60
    assert "paused for 15 minutes" in r.get_data(as_text=True)
    _pass_time(redis_conn)  # waits are gone, the lock is not
    assert _try(c, "sales01", DEMO_PASSWORD).status_code == 429
    _pass_time(redis_conn, "lock")
    assert _try(c, "sales01", DEMO_PASSWORD).status_code == 302


def test_only_checked_attempts_count_and_events(app, limits):
    c = _client(app)
    statuses = [_try(c, "sales02").status_code for _ in range(10)]
    assert statuses == [401, 401, 401] + [429] * 7  # hammering during the wait changes nothing
    events = AuditEvent.select().where(AuditEvent.action == "login_failed").count()
    assert events == 3


def test_same_words_whether_or_not_the_account_exists(app, limits, redis_conn):
    answers = {}
    for name in ("sales03", "no-such-user-7"):
        c = _client(app, ip=f"10.0.0.{len(answers) + 1}")
        seen = []
        for _ in range(3):
            r = _try(c, name)
            seen.append((r.status_code, r.headers.get("Retry-After"), _message(r, name)))
        r = _try(c, name)
        seen.append((r.status_code, r.headers.get("Retry-After"), _message(r, name)))
        _pass_time(redis_conn)
        for _ in range(2):
            _try(c, name)
            _pass_time(redis_conn)
        r = _try(c, name)
        seen.append((r.status_code, r.headers.get("Retry-After"), _message(r, name)))
        answers[name] = seen
    assert answers["sales03"] == answers["no-such-user-7"]
    assert [s for s, _, _ in answers["sales03"]] == [401, 401, 401, 429, 429]
    assert "Wait 1 second" in answers["sales03"][3][2] and "paused for 15 minutes" in answers["sales03"][4][2]


def test_each_lock_is_audited_once_without_the_password(app, limits, redis_conn):
    c = _client(app)
    for _ in range(5):
        _try(c, "sales04", "hunter2-secret")
        _pass_time(redis_conn)
    for _ in range(3):
        assert _try(c, "sales04", "hunter2-secret").status_code == 429
    locks = list(AuditEvent.select().where(AuditEvent.action == "login_locked"))
    assert len(locks) == 1
    lock = locks[0]
    assert lock.actor_id is None and lock.actor_name == "sales04" and lock.ip == "127.0.0.1"
    assert json.loads(lock.diff) == {"username": [None, "sales04"], "scope": [None, "account"], "minutes": [None, 15]}
    for event in AuditEvent.select():
        assert "hunter2-secret" not in json.dumps(event.__data__, default=str)


def test_success_clears_the_account_count(app, limits):
    c = _client(app)
    assert [_try(c, "sales05").status_code for _ in range(2)] == [401, 401]
    assert _try(c, "sales05", DEMO_PASSWORD).status_code == 302
    fresh = _client(app)
    assert [_try(fresh, "sales05").status_code for _ in range(3)] == [401, 401, 401]  # counting starts over


def test_per_ip_across_usernames(app, limits, redis_conn):
    c = _client(app, ip="192.0.2.7")
    assert [_try(c, f"guess{i}").status_code for i in range(5)] == [401] * 5  # the 5th earns the IP a wait
    r = _try(c, "sales06", DEMO_PASSWORD)
    assert r.status_code == 429  # a fresh name from the same address waits too
    assert _try(_client(app, ip="192.0.2.8"), "sales06", DEMO_PASSWORD).status_code == 302  # another address does not
    for i in range(3):
        _pass_time(redis_conn)
        _try(c, f"more{i}")
    assert _try(c, "sales07", DEMO_PASSWORD).status_code == 429
    lock = AuditEvent.get(AuditEvent.action == "login_locked")
    assert json.loads(lock.diff)["scope"] == [None, "ip"] and lock.ip == "192.0.2.7"


def test_a_successful_sign_in_does_not_reset_the_ip(app, limits, redis_conn):
    c = _client(app, ip="192.0.2.9")
    for i in range(4):
        _try(c, f"guess{i}")
    assert _try(c, "sales08", DEMO_PASSWORD).status_code == 302
    assert _try(c, "guess-after").status_code == 401  # the 5th failure from this address …
    assert _try(c, "sales08", DEMO_PASSWORD).status_code == 429  # … earns it a wait all the same


def test_state_is_shared_through_redis(app, limits, base_db):
    """Another process sees the same counts: here, a client of our own on the same Redis."""
    from formwarden.jobs.queue import connection

    c = _client(app)
    for _ in range(3):
        _try(c, "sales09")
    other = connection(base_db)
    refusal = throttle.check(other, login_limits(), "sales09", "127.0.0.1")
    assert refusal is not None and refusal.retry_after == 1 and not refusal.locked


def test_redis_unreachable_fails_closed(app, limits, monkeypatch):
    monkeypatch.setitem(app.extensions, "formwarden_login_redis", throttle.connect("redis://127.0.0.1:9/0"))
    c = _client(app)
    r = _try(c, "sales01", DEMO_PASSWORD)
    assert r.status_code == 503 and r.headers["Retry-After"] == "60"
    assert "failed attempts cannot be counted" in r.get_data(as_text=True)
    assert AuditEvent.select().where(AuditEvent.action == "login").count() == 0


def test_messages_in_chinese(app, limits, redis_conn):
    c = _client(app, locale="zh-CN")
    for _ in range(3):
        _try(c, "sales10")
    r = _try(c, "sales10")
    assert r.status_code == 429 and "请等待 1 秒后再试" in r.get_data(as_text=True)
    for _ in range(2):
        _pass_time(redis_conn)
        _try(c, "sales10")
    assert "登录已暂停 15 分钟" in _try(c, "sales10").get_data(as_text=True)
    limits.setitem(app.extensions, "formwarden_login_redis", throttle.connect("redis://127.0.0.1:9/0"))
    assert "暂时无法登录" in _try(c, "sales10").get_data(as_text=True)


def test_failed_sign_in_alerts_still_fire_with_default_limits(app, clean_db):
    Alert.delete().execute()
    AlertCursor.delete().execute()
    c = _client(app)
    for _ in range(5):  # the default: five free failures per account
        assert _try(c, "sales11").status_code == 401
    for i in range(10):  # and per address: all ten checked, each a login_failed event
        _try(c, f"other{i}")
    scan()
    rules = {(a.rule, a.subject) for a in Alert.select()}
    assert ("failed_logins", "sales11") in rules and ("failed_logins_ip", "127.0.0.1") in rules


def test_a_stranger_cannot_lock_the_owner_out_from_another_address(app, limits, redis_conn, login_as):
    """Ten wrong passwords every 15 minutes kept an administrator out for good: the lock is per
    account and address, raises an alert, and an administrator can lift it."""
    Alert.delete().execute()
    AlertCursor.delete().execute()
    attacker = _client(app, ip="198.51.100.66")
    for _ in range(5):
        _try(attacker, "manager")
        _pass_time(redis_conn)
    assert _try(attacker, "manager", DEMO_PASSWORD).status_code == 429  # locked from there
    assert _try(_client(app, ip="192.0.2.44"), "manager", DEMO_PASSWORD).status_code == 302  # not from the office
    scan()
    alert = Alert.get(Alert.rule == "sign_in_locked")
    assert alert.subject == "manager" and "198.51.100.66" in alert.summary
    admin = login_as("admin")
    page = admin.get("/admin/people/manager").get_data(as_text=True)
    assert "已从 1 个地址锁定登录" in page
    r = admin.post("/admin/people/manager/unlock", data={"csrf_token": admin.csrf})
    assert r.status_code == 302
    assert _try(attacker, "manager", DEMO_PASSWORD).status_code == 302
    event = AuditEvent.get(AuditEvent.action == "login_unlock")
    assert json.loads(event.diff) == {"user": ["manager", "manager"], "locks": [1, 0]}
    assert login_as("sales01").post("/admin/people/manager/unlock", data={}).status_code in (400, 403)


def test_failures_from_many_addresses_only_make_the_account_wait(app, limits, redis_conn):
    limits.setenv("FORMWARDEN_LOGIN_ACCOUNT_ANY_FREE", "6")
    for i in range(7):  # a guesser spread over addresses, under each address's own limit
        assert _try(_client(app, ip=f"203.0.113.{i + 1}"), "sales12").status_code == 401
    r = _try(_client(app, ip="192.0.2.1"), "sales12", DEMO_PASSWORD)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"  # a wait, never a lock
    _pass_time(redis_conn)
    assert _try(_client(app, ip="192.0.2.1"), "sales12", DEMO_PASSWORD).status_code == 302


def test_the_current_password_check_is_throttled_and_audited_like_a_sign_in(app, limits, redis_conn):
    """An open session was an unlimited oracle on its own password (found by an outside attack)."""
    c = _client(app)
    assert _try(c, "sales13", DEMO_PASSWORD).status_code == 302
    page = c.c.get("/account/password").get_data(as_text=True)
    c.refresh_csrf(page)
    answers = []
    for _ in range(4):
        r = c.c.post("/account/password", data={"csrf_token": c.csrf, "old_password": "guess-123456",
                                                 "new_password": "Another-pass-789", "confirm_password": "Another-pass-789"})
        answers.append(r.status_code)
    assert answers[:3] == [422, 422, 422] and answers[3] == 429  # 2 free, the 3rd earns a wait
    assert AuditEvent.select().where(AuditEvent.action == "login_failed").count() == 3
