import datetime as dt

import pytest

from formwarden.models import AuditEvent, User
from tests.conftest import CSRF_RE, DEMO_PASSWORD, Client


def _cookie(client):
    return client.c.get_cookie("fw_session").value


def test_copied_session_cookie_dies_at_logout(app, login_as):
    c = login_as("sales01")
    stolen = _cookie(c)
    thief = app.test_client()
    thief.set_cookie("fw_session", stolen)
    assert thief.get("/api/v1/forms").status_code == 200
    r = c.post("/logout")
    assert r.status_code == 302
    assert thief.get("/api/v1/forms").status_code == 401
    assert thief.get("/f/customer/").status_code == 302


def test_password_change_ends_other_sessions(app, make_user):
    user = make_user(roles=("sales",))
    a = Client(app.test_client()).login(user.username)
    b = Client(app.test_client()).login(user.username)
    r = a.post("/account/password", data={"old_password": DEMO_PASSWORD, "new_password": "n3w-Passw0rd!",
                                          "confirm_password": "n3w-Passw0rd!", "csrf_token": a.csrf})
    assert r.status_code == 302
    assert a.get("/api/v1/forms").status_code == 200
    assert b.get("/api/v1/forms").status_code == 401
    Client(app.test_client()).login(user.username, "n3w-Passw0rd!")


def test_weak_or_mismatched_new_password_is_explained(login_as):
    c = login_as("sales01")
    r = c.post("/account/password", data={"old_password": DEMO_PASSWORD, "new_password": "short",
                                          "confirm_password": "short", "csrf_token": c.csrf})
    assert r.status_code == 422 and "10" in r.get_data(as_text=True)


def test_login_requires_csrf(anon):
    r = anon.c.post("/login", data={"username": "sales01", "password": DEMO_PASSWORD})
    assert r.status_code == 400


def test_failed_login_is_recorded_and_generic(anon):
    anon.refresh_csrf()
    r = anon.c.post("/login", data={"username": "sales01", "password": "wrong", "csrf_token": anon.csrf})
    assert r.status_code == 401
    body = r.get_data(as_text=True)
    assert "sales01" in body  # the username stays filled in
    assert AuditEvent.select().where(AuditEvent.action == "login_failed").count() == 1


@pytest.mark.parametrize("target,expected", [
    ("/f/customer/", "/f/customer/"),
    ("https://evil.example/", "/"),
    ("//evil.example/x", "/"),
    ("/\\evil.example", "/"),
])
def test_next_redirect_is_same_site(anon, target, expected):
    html = anon.c.get("/login").get_data(as_text=True)
    token = CSRF_RE.search(html).group(1)
    r = anon.c.post("/login", query_string={"next": target},
                    data={"username": "sales01", "password": DEMO_PASSWORD, "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == expected


def test_deactivated_or_expired_accounts_lose_access(app, make_user):
    user = make_user(roles=("sales",))
    c = Client(app.test_client()).login(user.username)
    User.update(is_active=False).where(User.id == user.id).execute()
    assert c.get("/api/v1/forms").status_code == 401
    other = make_user(roles=("intern",), expires_at=dt.datetime(2020, 1, 1))
    fresh = Client(app.test_client())
    fresh.refresh_csrf()
    r = fresh.c.post("/login", data={"username": other.username, "password": DEMO_PASSWORD, "csrf_token": fresh.csrf})
    assert r.status_code == 401


def test_session_cookie_flags(anon):
    anon.refresh_csrf()
    r = anon.c.post("/login", data={"username": "sales01", "password": DEMO_PASSWORD, "csrf_token": anon.csrf})
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("fw_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_locale_switch_is_saved_per_user(login_as):
    c = login_as("sales01")
    assert "退出" in c.get("/f/customer/").get_data(as_text=True)
    c.post("/locale", data={"locale": "en", "next": "/f/customer/", "csrf_token": c.csrf})
    assert "Sign out" in c.get("/f/customer/").get_data(as_text=True)
    assert User.get(User.username == "sales01").locale == "en"
    c.post("/locale", data={"locale": "zh-CN", "next": "/", "csrf_token": c.csrf})


def test_security_headers(anon):
    r = anon.get("/login")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"
