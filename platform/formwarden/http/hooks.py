"""Request hooks shared by pages and API: connection, acting user, CSRF, guard, security headers."""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import unquote_to_bytes, urlencode

from flask import Flask, current_app, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf.csrf import CSRFProtect, generate_csrf
from markupsafe import Markup

from formwarden import db
from formwarden.access.permissions import Perm, has_perm
from formwarden.audit import actions, alerts
from formwarden.auth.roles import role_titles
from formwarden.auth.users import display_names
from formwarden.catalog import decisions
from formwarden.config import instance_zone
from formwarden.errors import BadRequest, NotFound
from formwarden.forms import versions
from formwarden.forms.messages import N_
from formwarden.http import guard
from formwarden.http.context import load_actor, login_manager
from formwarden.http.drafts import form_session
from formwarden.http.errors import init_errors
from formwarden.http.i18n import current_locale, current_zone, init_i18n, local_time, zone_label
from formwarden.http.rendering import add_plugin_templates, kept_typing

csrf = CSRFProtect()
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}  # JSON bodies are checked where parsed
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


FIRST_SIGN_IN = {"auth.password", "auth.logout", "auth.switch_locale", "auth.login", "static"}
INT64_MAX = 2**63 - 1  # the database's largest integer
PATH_IDS = ("record_id", "version", "team_id", "token_id")  # path arguments that name a row by number


def _undecodable(raw: bytes) -> str | None:
    """The name of the first `name=value` pair of a query string or urlencoded body that is not
    UTF-8 (an encoded lone surrogate, a stray byte), or None. Werkzeug would quietly turn those
    bytes into U+FFFD; we refuse them instead."""
    try:
        unquote_to_bytes(raw).decode("utf-8")
        return None  # the usual case: one pass over the whole string
    except UnicodeDecodeError:
        pass
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        for part in (name, value):
            try:
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                return unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace")
    return None


def _reject_bad_text() -> None:
    """NUL cannot be stored (PostgreSQL refuses it) and is never meaningful in a form value; text
    that is not UTF-8, a lone surrogate among it, cannot be stored either."""
    has_form = request.method in UNSAFE and request.mimetype in FORM_TYPES
    raws = [request.query_string]
    if has_form and request.mimetype == "application/x-www-form-urlencoded":
        raws.append(request.get_data(cache=True))
    for raw in raws:
        name = _undecodable(raw) if raw else None
        if name is not None:
            raise BadRequest("the value is not valid UTF-8 text (a lone surrogate or a stray byte)",
                             field=name.replace("\x00", ""), code="invalid_character")
    for name, value in (request.view_args or {}).items():  # a path segment such as a form key
        if isinstance(value, str) and "\x00" in value:
            raise BadRequest("a NUL character is not allowed", field=name, code="invalid_character")
    sources = (request.args, request.form, request.files) if has_form else (request.args,)
    for source in sources:
        for key, values in source.lists():
            if not isinstance(key, str):  # a part without a name: Werkzeug keys it None
                raise BadRequest("every part of a multipart body needs a name", field="",
                                 code="malformed_multipart")
            texts = [getattr(v, "filename", None) or "" if source is request.files else v for v in values]
            if "\x00" in key or any("\x00" in v for v in texts):
                raise BadRequest("a NUL character is not allowed", field=key.replace("\x00", ""),
                                 code="invalid_character")


def _check_path_ids() -> None:
    """A record, team or token id or a version in the path is a whole number the database can hold; any other
    path names nothing, so 404, with the reason."""
    for name in PATH_IDS:
        value = (request.view_args or {}).get(name)
        if value is None:
            continue
        text = str(value)
        if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= INT64_MAX):
            raise NotFound(f"{name} must be a whole number from 0 to {INT64_MAX}", field=name, code="invalid_id")


def _before():
    db.ensure_connection()
    versions.forget_forms()  # each request reads the form rows afresh: a new policy applies at once
    guard.bind_view(current_app)
    limit = guard.upload_limit()
    if limit:
        request.max_content_length = limit
    load_actor()
    guard.require_signed_in()
    _reject_bad_text()
    _check_path_ids()
    if request.method in UNSAFE and g.auth_via != "token":
        csrf.protect()
    guard.enforce()
    if g.get("must_change_password") and request.endpoint not in FIRST_SIGN_IN:
        # signed in with a one-time password an administrator saw: replace it before anything else
        target = url_for("auth.password")
        if request.headers.get("HX-Request"):
            return "", 204, {"HX-Redirect": target}
        return redirect(target)
    return None


def _after(resp):
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("Content-Security-Policy", CSP)
    if request.endpoint != "static":
        resp.headers.setdefault("Cache-Control", "no-store")
    rid = g.get("request_id")
    if rid:
        resp.headers["X-Request-Id"] = rid
    return resp


def _status_labels() -> dict:
    return {"open": _("Open"), "acknowledged": _("Acknowledged"), "resolved": _("Resolved")}


def _rule_labels() -> dict:
    return {"mass_export": _("Mass export"), "mass_delete": _("Mass delete"), "bulk_edit": _("Bulk edits"),
            "off_hours": _("Off-hours activity"), "failed_logins": _("Repeated failed sign-ins"),
            "failed_logins_ip": _("Failed sign-ins from one IP"), "reveal_burst": _("Burst of reveals"),
            "dormant_account": _("Dormant account active"), "audit_chain": _("Audit chain broken"),
            "backup_failed": _("Backup failed"), "backup_degraded": _("Backup missing on a target"),
            "backup_stale": _("No recent backup"), "drill_failed": _("Restore drill failed"),
            "access_burst": _("Burst of access changes"), "access_off_hours": _("Access changed outside working hours"),
            "account_expiring": _("Account expires soon"), "sign_in_locked": _("Sign-in locked"),
            "permission_orphaned": _("A permission has no holder"),
            "worker_down": _("No worker is running"), "scheduler_down": _("The scheduler is not running"),
            "reset_sign_in": _("Signed in with a password the administrator set, from the administrator's session or address")}


def _who_label(who, locale: str) -> str:
    """The top bar's "name · roles", in words: the display name and the roles' titles."""
    if who is None:
        return ""
    titles = role_titles(who.roles, locale)
    sep = "、" if locale == "zh-CN" else ", "
    return f"{g.get('display_name') or who.name} · {sep.join(titles)}" if titles else g.get("display_name") or who.name


def event_sentence(action: str, changes: dict, formdef=None) -> str:
    """Events about many records at once, said as a sentence ("Imported 12 records from a.xlsx");
    "" for events shown field by field."""
    def new(key):
        pair = changes.get(key)
        return pair[1] if isinstance(pair, list | tuple) and len(pair) == 2 else None

    def labels(names) -> str:
        words = [formdef.fields[n].label(current_locale()) if formdef and n in formdef.fields else str(n)
                 for n in names or []]
        return ("、" if current_locale() == "zh-CN" else ", ").join(words)

    def count(key):
        value = new(key)
        return len(value) if isinstance(value, list) else value if isinstance(value, int) else 0

    if action == "import":
        return ngettext("Imported %(num)s record from %(file)s", "Imported %(num)s records from %(file)s",
                        count("rows"), file=new("file") or "–")
    if action == "export":
        return ngettext("Exported %(num)s record", "Exported %(num)s records", count("count"))
    if action == "bulk_delete":
        return ngettext("Moved %(num)s record to the recycle bin", "Moved %(num)s records to the recycle bin",
                        count("records"))
    if action == "bulk_update":
        return ngettext("Changed %(fields)s on %(num)s record", "Changed %(fields)s on %(num)s records",
                        count("records"), fields=labels(new("fields")))
    if action == "reveal" and new("via") == "search":
        return _("Searched %(fields)s for one exact value", fields=labels(new("fields")))
    return ""


_SYSTEM_REASONS = (
    (re.compile(r"converted for form version (\d+)"), N_("converted for form version %(v)s")),
    (re.compile(r"form version (\d+) published"), N_("form version %(v)s published")),
)


def reason_words(reason: str) -> str:
    """A reason the system wrote (a conversion, a publish) in the reader's language; a person's
    own reason as they wrote it."""
    for pattern, words in _SYSTEM_REASONS:
        found = pattern.fullmatch(reason or "")
        if found:
            return _(words) % {"v": found.group(1)}
    return reason


def remember_people(usernames) -> None:
    """Look up the display names a page is about to show in one query (see `person_label`)."""
    cache = g.setdefault("person_labels", {})
    missing = {u for u in usernames if isinstance(u, str) and u and u not in cache and ":" not in u}
    if missing:
        found = display_names(missing)
        cache.update({u: found.get(u, u) for u in missing})


def person_label(name) -> str:
    """Who did something, as a person reads it: an account's display name (once per request;
    pages look up theirs together with `remember_people`), or what the system was doing (demo
    data, a background job, the command line)."""
    if not name or name == "system":
        return _("the system")
    if name == "job:demo" or name == "cli:demo":
        return _("demo data")
    if name.startswith("job:"):
        return _("a background job")
    if name.startswith("cli:"):
        return _("the command line")
    remember_people([name])
    return g.person_labels[name]


def header_counts(who) -> dict[str, int]:
    """What the header counts: open alerts (for those who see alerts) and decisions waiting (for
    access managers). Called by full pages only (not by the fragments HTMX swaps in)."""
    out = {"alerts": 0, "waiting": 0}
    if who is None:
        return out
    if has_perm(who, Perm.ALERTS_VIEW):
        out["alerts"] = alerts.open_count()
    if has_perm(who, Perm.ACCESS_MANAGE):
        out["waiting"] = len(decisions.waiting(who))
    return out


def _action_labels() -> dict:
    return {name: _(label) for name, label in actions.LABELS.items()}


def init_http(app: Flask) -> None:
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config["WTF_CSRF_HEADERS"] = ["X-CSRFToken"]
    csrf.init_app(app)
    login_manager.init_app(app)
    init_i18n(app)
    init_errors(app)
    add_plugin_templates(app)
    app.before_request(_before)
    app.after_request(_after)

    @app.template_filter("merge_page")
    def _merge_page(args: dict, page: int) -> str:
        return urlencode([(k, v) for k, vs in args.items() if k != "page" for v in vs] + [("page", page)])

    @app.template_filter("with_args")
    def _with_args(args, **changes) -> str:
        """The query string of `args` with `changes` (None drops a key); back to page 1."""
        kept = [(k, v) for k, vs in args.lists() if k not in changes and k != "page" for v in vs]
        return urlencode(kept + [(k, v) for k, v in changes.items() if v is not None])

    @app.template_filter("local")
    def _local(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return local_time(value, fmt)

    @app.template_filter("when")
    def _when(value, fmt: str = "%Y-%m-%d %H:%M"):
        """A time in the reader's zone, the stored UTC time on hover (and for machines)."""
        if value is None:
            return ""
        return Markup('<time datetime="{}Z" title="{} UTC">{}</time>').format(
            value.strftime("%Y-%m-%dT%H:%M:%S"), value.strftime("%Y-%m-%d %H:%M:%S"), local_time(value, fmt))

    @app.template_filter("when_iso")
    def _when_iso(text, fmt: str = "%Y-%m-%d %H:%M"):
        """A time written as ISO text (an archive's manifest) in the reader's zone, like `when`."""
        try:
            value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            return text or "–"
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return _when(value, fmt)

    @app.template_global("zone_name")
    def _zone_name(instance: bool = False) -> str:
        """The reader's time zone (or the instance's, which schedules follow), as pages label their
        times (China's as people call it)."""
        return zone_label(instance_zone() if instance else str(current_zone()))

    @app.template_filter("reason_words")
    def _reason_words(reason: str) -> str:
        return reason_words(reason)

    @app.template_global("event_sentence")
    def _event_sentence(action: str, changes: dict, formdef=None) -> str:
        return event_sentence(action, changes, formdef)

    @app.template_global("person")
    def _person(name) -> str:
        return person_label(name)

    @app.template_filter("label_of")
    def _label_of(name: str, formdef, locale: str) -> str:
        return formdef.fields[name].label(locale)

    @app.context_processor
    def _globals():
        who = g.get("actor")
        locale = current_locale()
        return {"actor": who, "locale": locale, "csrf_token": generate_csrf, "form_session": form_session,
                "kept_typing": kept_typing,
                "who_label": _who_label(who, locale),
                "action_labels": _action_labels(), "status_labels": _status_labels(), "rule_labels": _rule_labels(),
                "can_audit": bool(who and has_perm(who, Perm.AUDIT_READ)),
                "can_alerts": bool(who and has_perm(who, Perm.ALERTS_VIEW)),
                "can_backups": bool(who and has_perm(who, Perm.BACKUPS)),
                "can_people": bool(who and has_perm(who, Perm.USERS_MANAGE)),
                "can_access": bool(who and has_perm(who, Perm.ACCESS_MANAGE)),
                "can_design": bool(who and has_perm(who, Perm.FORMS_MANAGE)),
                "can_tokens": bool(who and has_perm(who, Perm.TOKENS_OWN)),
                "header_counts": lambda: header_counts(who)}
