"""API tokens for partner systems: `fw_<prefix>_<secret>`, stored as a SHA-256 digest."""
from __future__ import annotations

import datetime as dt
import ipaddress
import re

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm, has_perm
from formwarden.audit import record_event
from formwarden.auth.roles import check_may_manage
from formwarden.auth.secrets import digest, new_secret
from formwarden.auth.sessions import account_usable
from formwarden.db import write_transaction
from formwarden.errors import Forbidden, Invalid, NotFound
from formwarden.forms.versions import all_forms
from formwarden.models import ApiToken, User, utcnow

SCOPE_RE = re.compile(
    r"^(?:(?:[a-z][a-z0-9_]*:)?(?:read|write|delete|export)|purge|audit|alerts|users|forms|tokens|backups|access)$")
DEFAULT_SCOPES = ("read",)
FIELD_RE = re.compile(r"^[a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
MAX_LIST = 200


def parse_scopes(scopes) -> list[str]:
    out = []
    for s in scopes:
        for part in str(s).replace(",", " ").split():
            if not SCOPE_RE.match(part):
                raise Invalid(f"unknown scope {part!r} (use read, write, delete, export, optionally form:scope;"
                              " purge, audit, alerts, users, forms, tokens for platform functions)",
                              field="scopes", code="invalid_scope")
            out.append(part)
    return sorted(set(out)) or list(DEFAULT_SCOPES)


def _words(values) -> list[str]:
    if isinstance(values, str):
        values = [values]
    return [part for v in values or () for part in str(v).replace(",", " ").split()]


def parse_fields(values) -> list[str]:
    """A field allowlist, `form.field` each (the names are checked against the forms by the caller)."""
    out = sorted(set(_words(values)))
    if len(out) > MAX_LIST:
        raise Invalid(f"at most {MAX_LIST} fields", field="fields", code="too_many")
    for f in out:
        if not FIELD_RE.match(f):
            raise Invalid(f"{f[:80]!r} is not form.field", field="fields", code="invalid_field")
    return out


def parse_networks(values) -> list[str]:
    """An IP allowlist: addresses or networks (CIDR), IPv4 or IPv6."""
    out = []
    for v in _words(values):
        try:
            out.append(str(ipaddress.ip_network(v, strict=False)))
        except ValueError:
            raise Invalid(f"{v[:80]!r} is not an IP address or network", field="ip_allow", code="invalid_ip") from None
    if len(out) > MAX_LIST:
        raise Invalid(f"at most {MAX_LIST} addresses", field="ip_allow", code="too_many")
    return sorted(set(out))


def ip_allowed(allow: str, ip: str) -> bool:
    """Whether `ip` may use a token with the stored allowlist `allow` ("" = anywhere)."""
    if not allow:
        return True
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(n) for n in allow.split())


def create_token(actor: Actor, user: User, *, name: str = "", scopes=DEFAULT_SCOPES,
                 expires_at: dt.datetime | None = None, fields=(), ip_allow=()) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns the row and the secret, which is shown only once.

    `fields` (form.field …) narrows the token to those fields, `ip_allow` to those addresses;
    both only ever narrow what the user may do."""
    scopes = parse_scopes(scopes)
    field_list, networks = parse_fields(fields), parse_networks(ip_allow)
    _check_names(scopes, field_list)
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("expiry must be in the future", field="expires", code="invalid_expiry")
    prefix = new_secret(6)[:8].replace("_", "x").replace("-", "x")
    raw = f"fw_{prefix}_{new_secret()}"
    with write_transaction():
        token = ApiToken.create(user=user, name=name.strip()[:80], prefix=prefix, token_hash=digest(raw),
                                scopes=" ".join(scopes), expires_at=expires_at, fields=" ".join(field_list),
                                ip_allow=" ".join(networks))
        diff = {"token": [None, prefix], "user": [None, user.username], "scopes": [None, " ".join(scopes)],
                "name": [None, token.name],
                "expires_at": [None, expires_at.isoformat(timespec="minutes") if expires_at else None]}
        if field_list:
            diff["fields"] = [None, " ".join(field_list)]
        if networks:
            diff["ip_allow"] = [None, " ".join(networks)]
        record_event(actor, "token_create", diff=diff)
    return token, raw


_LOOKUP = (
    "SELECT t.id, t.prefix, t.scopes, t.expires_at, t.last_used_at, t.last_used_ip, t.fields, t.ip_allow,"
    " u.id, u.username, u.locale, u.is_active, u.expires_at FROM api_token t JOIN \"user\" u ON u.id = t.user_id"
    " WHERE t.token_hash = ? AND t.revoked_at IS NULL"
)


def authenticate_token(raw: str, ip: str = "") -> tuple[User, ApiToken] | None:
    """The active user and token behind `raw` used from `ip`, or None (unknown, revoked,
    expired, deactivated, or an address outside the token's allowlist)."""
    if not raw.startswith("fw_"):
        return None
    row = db.fetchone(_LOOKUP, (digest(raw),))
    if row is None:
        return None
    tid, prefix, scopes, expires, last_used, last_ip, fields, allow, uid, username, locale, active, user_expires = row
    user = User(id=uid, username=username, locale=locale, is_active=bool(active),
                expires_at=db.py_datetime(user_expires))
    token = ApiToken(id=tid, user=uid, prefix=prefix, scopes=scopes, expires_at=db.py_datetime(expires),
                     fields=fields or "", ip_allow=allow or "")
    now = utcnow()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if not account_usable(user, now) or not ip_allowed(token.ip_allow, ip):
        return None
    last_used = db.py_datetime(last_used)
    if last_used is None or now - last_used > dt.timedelta(minutes=5) or (last_ip or "") != ip[:64]:
        ApiToken.update(last_used_at=now, last_used_ip=ip[:64]).where(ApiToken.id == tid).execute()
    return user, token


def issue_token(actor: Actor, owner: User, **kw) -> tuple[ApiToken, str]:
    """Create a token from the console: people create their own (tokens.own); an administrator
    (users.manage) creates them for integration accounts only, never to act as a person."""
    own = actor.user_id == owner.id and owner.kind == "person"
    if own and not has_perm(actor, Perm.TOKENS_OWN):
        raise Forbidden("your role may not hold API tokens", code="missing_permission")
    if not own and not (owner.kind == "integration" and has_perm(actor, Perm.USERS_MANAGE)):
        raise Forbidden("tokens are made by their owner, or by an administrator for an integration",
                        code="missing_permission")
    if not own:
        check_may_manage(actor, owner.id)
        if not has_perm(actor, Perm.ACCESS_MANAGE):  # record rights: only roles one holds oneself
            theirs = {r for (r,) in db.fetchall("SELECT r.name FROM user_role ur JOIN role r ON r.id = ur.role_id"
                                                " WHERE ur.user_id = ?", (owner.id,))}
            if not theirs <= set(actor.roles):
                raise Forbidden("the integration holds roles you do not hold", code="beyond_own_rights")
    if not account_usable(owner):
        raise Invalid("the account is deactivated or expired", field="user", code="unusable_account")
    return create_token(actor, owner, **kw)


def _check_names(scopes, fields) -> None:
    """Scopes and allowlisted fields name forms and fields that exist."""
    forms = {form.key: formdef for form, formdef in all_forms()}
    for scope in scopes:
        form, _, _what = scope.rpartition(":")
        if form and form not in forms:
            raise Invalid(f"no form {form!r}", field="scopes", code="unknown_form")
    for name in fields:
        form, _, field = name.partition(".")
        if form not in forms or field not in forms[form].fields:
            raise Invalid(f"no field {name!r}", field="fields", code="unknown_field")


def may_revoke(actor: Actor, token: ApiToken) -> bool:
    """Its owner, or an administrator who may manage the owner's account."""
    if token.user_id == actor.user_id:  # type: ignore[attr-defined]
        return True
    if not has_perm(actor, Perm.USERS_MANAGE):
        return False
    try:
        check_may_manage(actor, token.user_id)  # type: ignore[attr-defined]
    except Forbidden:
        return False
    return True


def get_token(actor: Actor, token_id) -> ApiToken:
    """A token the actor may see and revoke (its own, or any for an administrator); NotFound otherwise."""
    try:
        token = ApiToken.get_or_none(ApiToken.id == int(token_id))
    except (TypeError, ValueError, OverflowError):
        token = None
    if token is None or not may_revoke(actor, token):
        raise NotFound("no such token", field="token", code="unknown_token")
    return token


def tokens_of(user: User | None = None, *, include_revoked: bool = False) -> list[ApiToken]:
    """A user's tokens (None: everyone's), newest first, with their user loaded."""
    q = ApiToken.select(ApiToken, User).join(User)
    if user is not None:
        q = q.where(ApiToken.user == user.id)
    if not include_revoked:
        q = q.where(ApiToken.revoked_at.is_null())
    return list(q.order_by(ApiToken.id.desc()).limit(500))


def revoke_token(actor: Actor, token: ApiToken, reason: str = "") -> None:
    with write_transaction():
        n = ApiToken.update(revoked_at=utcnow()).where(ApiToken.id == token.id, ApiToken.revoked_at.is_null()).execute()
        if n:
            owner = User.get_by_id(token.user_id).username  # type: ignore[attr-defined]
            record_event(actor, "token_revoke", diff={"token": [token.prefix, None], "user": [owner, owner]},
                         reason=reason)
