"""Sign in and out, change password, choose language."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm
from formwarden.audit import record_event
from formwarden.auth.sessions import account_usable, revoke_session, start_session
from formwarden.auth.users import authenticate, change_password, set_locale
from formwarden.db import write_transaction
from formwarden.errors import DomainError
from formwarden.http.context import LoginUser, actor, client_ip
from formwarden.http.guard import public, requires
from formwarden.http.i18n import COOKIE, LOCALES

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str:
    """Only same-site relative paths; anything else goes home."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("records.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("records.home")
    return target


def _anon(username: str) -> Actor:
    return Actor(kind="user", user_id=None, name=username[:64], ip=client_ip(),
                 user_agent=request.headers.get("User-Agent", "")[:255], request_id=g.request_id)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    error = None
    username = ""
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        user = authenticate(username, password) if username and password else None
        if user is not None and account_usable(user):
            raw = start_session(user, client_ip(), request.headers.get("User-Agent", ""))
            login_user(LoginUser(user, raw))
            who = Actor(kind="user", user_id=user.id, name=user.username, ip=client_ip(),
                        user_agent=request.headers.get("User-Agent", "")[:255], request_id=g.request_id)
            with write_transaction():
                record_event(who, "login")
            return redirect(safe_next(request.args.get("next")))
        with write_transaction():
            record_event(_anon(username), "login_failed", diff={"username": [None, username[:64]]})
        error = _("Wrong username or password, or the account is not active.")
    return render_template("auth/login.html", error=error, username=username,
                           next=request.args.get("next", "")), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
@requires(Perm.ACCOUNT)
def logout():
    who = actor()
    if current_user.is_authenticated:
        revoke_session(current_user.session_token)
    logout_user()
    with write_transaction():
        record_event(who, "logout")
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires(Perm.ACCOUNT)
def password():
    errors = {}
    if request.method == "POST":
        new = request.form.get("new_password") or ""
        if new != (request.form.get("confirm_password") or ""):
            errors["confirm_password"] = _("The two new passwords differ.")
        else:
            try:
                change_password(actor(), current_user.user, request.form.get("old_password") or "", new,
                                keep_session=current_user.session_token)
            except DomainError as exc:
                errors[exc.field or "new_password"] = _(exc.message)
            else:
                flash(_("Password changed. Your other sessions were signed out."), "success")
                return redirect(url_for("records.home"))
    return render_template("auth/password.html", errors=errors), (422 if errors else 200)


@bp.route("/locale", methods=["POST"])
@public
def switch_locale():
    locale = request.form.get("locale", "")
    if locale not in LOCALES:
        locale = "zh-CN"
    if current_user.is_authenticated:
        set_locale(current_user.user, locale)
    resp = redirect(safe_next(request.form.get("next")))
    resp.set_cookie(COOKIE, locale, max_age=365 * 86400, samesite="Lax", httponly=True)
    return resp
