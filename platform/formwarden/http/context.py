"""Who is asking: a session user or an API token, turned into an `Actor` once per request."""
from __future__ import annotations

import functools
import ipaddress
import uuid

from flask import current_app, g, request
from flask_login import LoginManager, UserMixin, current_user

from formwarden.access.actor import Actor
from formwarden.auth.sessions import session_user
from formwarden.auth.tokens import authenticate_token
from formwarden.auth.users import actor_for
from formwarden.errors import Unauthorized

API_PREFIX = "/api/"
login_manager = LoginManager()
login_manager.session_protection = "basic"


class LoginUser(UserMixin):
    """flask-login's view of a user: its id is the server-side session token, not the user id."""

    def __init__(self, user, session_token: str):
        self.user = user
        self.session_token = session_token

    def get_id(self) -> str:
        return self.session_token


@login_manager.user_loader
def _load_user(session_token: str):
    user = session_user(session_token)
    return LoginUser(user, session_token) if user else None


@functools.lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip() -> str:
    """The peer's address; behind a proxy listed in FORMWARDEN_TRUSTED_PROXIES, the nearest
    address in X-Forwarded-For that is not one of those proxies. From anyone else the header
    is ignored: a client cannot choose the IP the audit trail and sign-in limits see."""
    peer = request.remote_addr or ""
    settings = current_app.config.get("FORMWARDEN")
    networks = _networks(settings.trusted_proxies) if settings is not None else ()
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("X-Forwarded-For")).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a malformed hop: keep the proxy's own address
    return peer


def load_actor() -> None:
    # Always the server's own id: a client-chosen one could pose as another request or a job's.
    g.request_id = uuid.uuid4().hex
    g.actor = None
    g.auth_via = None
    info = dict(ip=client_ip(), user_agent=request.headers.get("User-Agent", "")[:255], request_id=g.request_id)
    header = request.headers.get("Authorization", "")
    if header:
        if not request.path.startswith(API_PREFIX):
            # Pages act on a person's session only: a token (say, a partner's) never drives them.
            raise Unauthorized("API tokens are accepted on /api/ only; sign in to use the pages",
                               code="token_not_accepted")
        scheme, _, raw = header.partition(" ")
        found = authenticate_token(raw.strip(), info["ip"]) if scheme.lower() == "bearer" else None
        if found is None:
            raise Unauthorized("invalid or expired API token", code="invalid_token")
        user, token = found
        g.actor, g.auth_via = actor_for(user, token=token, **info), "token"
        return
    if current_user.is_authenticated:
        g.actor, g.auth_via = actor_for(current_user.user, **info), "session"
        g.must_change_password = bool(current_user.user.must_change_password)
        g.display_name = current_user.user.display_name or current_user.user.username


def actor() -> Actor:
    a = g.get("actor")
    if a is None:
        raise Unauthorized("please sign in", code="login_required")
    return a
