"""API token pages: everyone with tokens.own sees, creates and revokes their own; an
administrator sees every token, revokes any, and creates tokens for integration accounts. A new
token's secret is shown once."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from formwarden.access.permissions import TOKEN_SCOPE_PERMISSIONS, Perm, role_permissions
from formwarden.auth import people
from formwarden.auth.people import get_user
from formwarden.auth.tokens import get_token, issue_token, revoke_token, tokens_of
from formwarden.errors import DomainError, Invalid
from formwarden.forms.versions import all_forms
from formwarden.http.context import actor
from formwarden.http.guard import requires
from formwarden.web.console import labels, parse_date, say

bp = Blueprint("tokens", __name__)
RECORD_SCOPES = ("read", "write", "delete", "export")
DEFAULT_DAYS = 90


@bp.context_processor
def _labels():
    return {**labels(), "record_scopes": RECORD_SCOPES}


def _form_choices():
    return [(form.key, formdef) for form, formdef in all_forms()]


def _platform_scopes(owner) -> list[str]:
    """The platform scopes worth offering: those whose permissions the owner holds."""
    held = role_permissions(people.person(owner.username).roles)
    return [s for s, perms in sorted(TOKEN_SCOPE_PERMISSIONS.items()) if perms & held and s not in RECORD_SCOPES]


def _create(owner, back: str):
    """Create a token from the submitted form; the page shows the secret once."""
    f = request.form
    name, expires, ip_allow = f.get("name", ""), f.get("expires", ""), f.get("ip_allow", "")
    scopes, fields = f.getlist("scopes"), f.getlist("fields")
    values = {"name": name, "expires": expires, "scopes": scopes, "fields": fields, "ip_allow": ip_allow}
    try:
        if not name.strip():
            raise Invalid("a token needs a label", field="name", code="required")
        if not scopes:
            raise Invalid("choose at least one scope", field="scopes", code="required")
        token, raw = issue_token(actor(), owner, name=name, scopes=scopes, expires_at=parse_date(expires, "expires"),
                                 fields=fields, ip_allow=ip_allow)
    except DomainError as exc:
        return render_template("tokens/new.html", owner=owner, values=values, error=exc, error_text=say(exc),
                               forms=_form_choices(), back=back, platform_scopes=_platform_scopes(owner)), 422
    return render_template("tokens/created.html", token=token, raw=raw, owner=owner, back=back)


def _blank() -> dict:
    expires = (dt.date.today() + dt.timedelta(days=DEFAULT_DAYS)).isoformat()
    return {"name": "", "expires": expires, "scopes": [], "fields": [], "ip_allow": ""}  # nothing granted unasked


@bp.route("/account/tokens", methods=["GET", "POST"])
@requires(Perm.TOKENS_OWN)
def my_tokens():
    me = get_user(actor().username)
    if request.method == "POST":
        return _create(me, url_for("tokens.my_tokens"))
    return render_template("tokens/mine.html", tokens=tokens_of(me), owner=me, values=_blank(), forms=_form_choices(),
                           back=url_for("tokens.my_tokens"), platform_scopes=_platform_scopes(me))


@bp.route("/admin/tokens")
@requires(Perm.USERS_MANAGE)
def all_tokens():
    return render_template("tokens/all.html", tokens=tokens_of(None))


@bp.route("/admin/people/<username>/tokens/new", methods=["GET", "POST"])
@requires(Perm.USERS_MANAGE)
def new_token(username):
    owner = get_user(username)
    back = url_for("people.person", username=username)
    if request.method == "POST":
        return _create(owner, back)
    if owner.kind != "integration":
        flash(_("People create their own tokens (“API tokens” in the top bar); administrators create tokens for integrations only."),
              "error")
        return redirect(back)
    return render_template("tokens/new.html", owner=owner, values=_blank(), forms=_form_choices(), back=back,
                           platform_scopes=_platform_scopes(owner))


@bp.route("/tokens/<token_id>/revoke", methods=["POST"])
@requires(Perm.ACCOUNT)
def revoke(token_id):
    token = get_token(actor(), token_id)
    revoke_token(actor(), token, request.form.get("reason", ""))
    flash(_("Token “%(name)s” revoked: it stops working at once.", name=token.name or token.prefix), "success")
    target = request.form.get("back", "")
    return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("records.home"))
