"""Sign in and out, change password, choose language."""
from __future__ import annotations

import logging
import math
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_user, logout_user

from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm
from formwarden.auth import signin, throttle
from formwarden.auth.passwords import MIN_LENGTH
from formwarden.auth.sessions import account_usable, revoke_session, start_session
from formwarden.auth.users import authenticate, change_password, set_locale
from formwarden.backup.overview import recent_restore
from formwarden.config import login_limits
from formwarden.errors import DomainError
from formwarden.http.context import LoginUser, actor, client_ip
from formwarden.http.guard import public, requires
from formwarden.http.i18n import COOKIE, LOCALES
from formwarden.jobs.queue import redis_url_for, track

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)


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


def limiter():
    """The Redis client that counts sign-in attempts, shared by every process (embedded or REDIS_URL)."""
    conn = current_app.extensions.get("formwarden_login_redis")
    if conn is None:
        try:
            url = redis_url_for(current_app.config["FORMWARDEN"])
        except Exception as exc:  # the embedded server would not start
            raise throttle.Unavailable(str(exc)) from exc
        conn = current_app.extensions["formwarden_login_redis"] = track(throttle.connect(url))
    return conn


def _login_page(username: str, error: str | None = None, status: int = 200, headers=None):
    return (render_template("auth/login.html", error=error, username=username, next=request.args.get("next", ""),
                            restored=recent_restore()), status, headers or {})


def _refused(username: str, refusal: throttle.Refusal):
    """The same words whether or not the account exists: the count is keyed by what was typed."""
    if refusal.locked:
        minutes = math.ceil(refusal.retry_after / 60)
        message = ngettext("Too many failed sign-ins. Signing in is paused for %(num)d minute.",
                           "Too many failed sign-ins. Signing in is paused for %(num)d minutes.", minutes)
    else:
        message = ngettext("Too many failed sign-ins. Wait %(num)d second, then try again.",
                           "Too many failed sign-ins. Wait %(num)d seconds, then try again.", refusal.retry_after)
    return _login_page(username, message, 429, {"Retry-After": str(refusal.retry_after)})


def _limiter_down(username: str, exc: Exception):
    log.error("sign-in refused: the attempt limiter cannot reach Redis (%s)", type(exc).__name__)
    return _login_page(username, _("Signing in is unavailable for a moment because failed attempts cannot be "
                                   "counted. Please try again in a minute."), 503, {"Retry-After": "60"})


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if request.method != "POST":
        return _login_page("")
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    limits, ip = login_limits(), client_ip()
    try:
        counter = limiter()
        refusal = throttle.check(counter, limits, username, ip)
    except throttle.Unavailable as exc:
        return _limiter_down(username, exc)  # fail closed: no uncounted attempts
    if refusal is not None:
        return _refused(username, refusal)
    user = authenticate(username, password) if username and password else None
    if user is not None and account_usable(user):
        try:
            throttle.clear_account(counter, username, ip)
        except throttle.Unavailable:
            log.warning("could not clear the failed sign-ins of an account after it signed in")
        previous = current_user.user.id if current_user.is_authenticated else None
        raw = start_session(user, ip, request.headers.get("User-Agent", ""))
        login_user(LoginUser(user, raw))
        who = Actor(kind="user", user_id=user.id, name=user.username, ip=ip,
                    user_agent=request.headers.get("User-Agent", "")[:255], request_id=g.request_id)
        signin.signed_in(who, previous, after_reset=bool(user.must_change_password))
        return redirect(safe_next(request.args.get("next")))
    down = None
    try:
        locked = throttle.record_failure(counter, limits, username, ip)
    except throttle.Unavailable as exc:
        locked, down = [], exc
    signin.sign_in_failed(_anon(username), username, locked, limits.lock_minutes)
    if down is not None:
        return _limiter_down(username, down)
    return _login_page(username, _("Wrong username or password, or the account is not active."), 401)


@bp.route("/logout", methods=["POST"])
@requires(Perm.ACCOUNT)
def logout():
    who = actor()
    if current_user.is_authenticated:
        revoke_session(current_user.session_token)
    logout_user()
    signin.signed_out(who)
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


PASSWORD_ERRORS = {
    "wrong_password": lambda: _("The current password is wrong."),
    "weak_password": lambda: _("Too weak: at least %(n)s characters, mixing letters with digits or symbols.",
                               n=MIN_LENGTH),
    "same_password": lambda: _("Choose a password different from the current one."),
}


@bp.route("/account/password", methods=["GET", "POST"])
@requires(Perm.ACCOUNT)
def password():
    errors = {}
    if request.method == "POST":
        new = request.form.get("new_password") or ""
        if new != (request.form.get("confirm_password") or ""):
            errors["confirm_password"] = _("The two new passwords differ.")
        else:
            # The current password is a guess like any sign-in: the same limiter counts it (per
            # account and address), and a wrong one is a failed sign-in for the alerts.
            username, limits, ip = current_user.user.username, login_limits(), client_ip()
            try:
                counter = limiter()
                refusal = throttle.check(counter, limits, username, ip)
            except throttle.Unavailable as exc:
                return _limiter_down(username, exc)
            if refusal is not None:
                return _refused(username, refusal)
            try:
                change_password(actor(), current_user.user, request.form.get("old_password") or "", new,
                                keep_session=current_user.session_token)
            except DomainError as exc:
                errors[exc.field or "new_password"] = PASSWORD_ERRORS[exc.code]() if exc.code in PASSWORD_ERRORS \
                    else _(exc.message)
                if exc.code == "wrong_password":
                    try:
                        locked = throttle.record_failure(counter, limits, username, ip)
                    except throttle.Unavailable:
                        locked = []
                    signin.sign_in_failed(_anon(username), username, locked, limits.lock_minutes)
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
