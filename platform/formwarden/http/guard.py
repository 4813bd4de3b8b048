"""Every endpoint declares `@public` or `@requires(...)`; one guard enforces it, and the app
refuses to start if any endpoint (plugin ones included) declares neither."""
from __future__ import annotations

from functools import wraps

from flask import Flask, g, request

from formwarden.access.permissions import Perm, has_perm
from formwarden.errors import Forbidden, Unauthorized

PUBLIC = "public"


def public(view):
    view._fw_access = PUBLIC
    return view


def requires(*perms: Perm):
    if not perms:
        raise ValueError("requires() needs at least one permission")

    def mark(view):
        view._fw_access = tuple(perms)
        return view

    return mark


UPLOAD_BYTES = 8 * 1024 * 1024  # CSV imports: 5,000 rows with long notes fit well within this


def accepts_upload(view):
    """The endpoint takes a file larger than the usual body limit (set before the body is read)."""
    view._fw_upload = True
    return view


def upload_limit() -> int | None:
    view = g.get("_view")
    return UPLOAD_BYTES if view is not None and getattr(view, "_fw_upload", False) else None


def access_of(view):
    return getattr(view, "_fw_access", None)


def require_signed_in() -> None:
    """before_request, ahead of any look at the request's parameters: an endpoint that is not
    public answers 401 to a caller without credentials, whatever it sent."""
    view = g.get("_view")
    if view is not None and access_of(view) != PUBLIC and g.get("actor") is None:
        raise Unauthorized("please sign in", code="login_required")


def enforce() -> None:
    """before_request: resolve the endpoint's declaration and check the acting user against it."""
    view = g.get("_view")
    if view is None:
        return
    declared = access_of(view)
    if declared == PUBLIC:
        return
    actor = g.get("actor")
    if actor is None:
        raise Unauthorized("please sign in", code="login_required")
    for perm in declared:
        if not has_perm(actor, perm):
            raise Forbidden(f"missing permission {perm.value}", code="missing_permission")


def check_declared(app: Flask) -> None:
    missing = [
        ep for ep, view in app.view_functions.items()
        if ep != "static" and access_of(view) is None
    ]
    if missing:
        raise RuntimeError(f"endpoints without @public or @requires: {', '.join(sorted(missing))}")


def wrap_static(app: Flask) -> None:
    view = app.view_functions.get("static")
    if view is not None:
        @wraps(view)
        def static_view(*a, **kw):
            return view(*a, **kw)

        app.view_functions["static"] = public(static_view)


def bind_view(app: Flask) -> None:
    g._view = app.view_functions.get(request.endpoint) if request.endpoint else None
