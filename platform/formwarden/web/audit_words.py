"""Audit entries that are not a record's fields, said in the reader's words: a policy change as
"销售 · 手机号：隐藏 → 脱敏", a person's roles as "经理、表单设计", counts and lists as people write
them, never `admin.fields.mobile`, `['read']` or `{'contract': 1}`."""
from __future__ import annotations

import datetime as dt
import json
import re

from flask_babel import gettext as _

from formwarden.audit import actions
from formwarden.audit.alerts import RESPONSIBLE
from formwarden.auth import roles as role_service
from formwarden.forms.messages import N_
from formwarden.http.i18n import current_locale, local_time, zone_label
from formwarden.web.console import action_labels, level_labels, perm_labels, role_title, scope_labels, scope_names

KEYS = {
    "roles": N_("Roles"), "teams": N_("Teams"), "display_name": N_("Name"), "expires_at": N_("Expires"),
    "locale": N_("Language"), "time_zone": N_("Time zone"), "is_active": N_("Active"), "scopes": N_("Scopes"),
    "status": N_("Status"), "records": N_("Records"), "to": N_("To"), "from": N_("From"), "count": N_("Count"),
    "note": N_("Note"), "permissions": N_("Permissions"), "members": N_("Members"), "manager": N_("Manager"),
    "as": N_("Seen as"), "page": N_("Page"), "form": N_("Form"), "record": N_("Record"), "field": N_("Field"),
    "fields": N_("Fields"), "sessions_ended": N_("Sessions ended"), "tokens_revoked": N_("Tokens revoked"),
    "username": N_("Account"), "password": N_("Password"), "name": N_("Name"), "title_zh": N_("Name in Chinese"),
    "title_en": N_("Name in English"), "policy_version": N_("Policy version"), "key": N_("Key"),
    "archive": N_("Archive"), "reason": N_("Reason"), "kind": N_("Kind"), "user": N_("Account"),
    "role": N_("Role"), "team": N_("Team"), "token": N_("Token"), "rule": N_("Rule"), "job": N_("Job"),
    "file": N_("File"), "rows": N_("Rows"), "via": N_("By way of"), "locks": N_("Locks"), "format": N_("Format"),
    "undecided": N_("Waiting for a decision"), "id": N_("Id"), "retired": N_("Retired"), "email": N_("E-mail"),
}
_POLICY = re.compile(r"^([a-z][a-z0-9_]*)\.(fields|scope|actions)(?:\.([a-z0-9_*]+))?$")


def _roles() -> dict[str, str]:
    locale = current_locale()
    return {r.name: role_title(r, locale) for r in role_service.list_roles()}


def _join(items) -> str:
    return ("、" if current_locale() == "zh-CN" else ", ").join(items)


def value_words(value, formdef=None, key: str = "") -> str:
    """A value of an audit entry as people read it."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list | tuple):
        return _join(value_words(v, formdef, key) for v in value)
    if isinstance(value, dict):
        return _join(f"{label_words(str(k), formdef)}: {value_words(v, formdef, str(k))}" for k, v in value.items())
    text = str(value)
    for words in (level_labels(), action_labels(), scope_labels()):
        if text in words:
            return words[text]
    if key in ("roles", "role", "as") and text in _roles():
        return _roles()[text]
    if key == "scopes":
        return scope_names().get(text, text)
    if key in ("fields", "field") and formdef is not None and text in formdef.fields:
        return formdef.fields[text].label(current_locale())
    return text


def label_words(name: str, formdef=None) -> str:
    """The name of what changed: a field by its label, a policy entry by role and field."""
    locale = current_locale()
    if formdef is not None and name in formdef.fields:
        return formdef.fields[name].label(locale)
    policy = _POLICY.match(name)
    if policy:
        role, part, field = policy.groups()
        who = _roles().get(role, role)
        if part == "fields":
            what = _("every field") if field == "*" else (
                formdef.fields[field].label(locale) if formdef is not None and field in formdef.fields else field)
        else:
            what = _("Whose records") if part == "scope" else _("Actions")
        return f"{who} · {what}"
    return _(KEYS[name]) if name in KEYS else name.replace("_", " ")


SEVERITIES = {"critical": N_("critical"), "warning": N_("warning"), "info": N_("info")}


def alert_words(alert) -> str:
    """What an alert found, in the reader's language: alerts store an English sentence marked for
    translation and its parameters (an alert stored before that has only its English summary)."""
    try:
        details = json.loads(alert.details or "{}")
    except ValueError:
        details = {}
    words, params = details.get("words"), details.get("params")
    if not isinstance(words, str) or not isinstance(params, dict):
        return alert.summary
    said = {}
    for key, value in params.items():
        if key == "action":
            said[key] = _(actions.LABELS[value]) if value in actions.LABELS else value
        elif key == "zone":
            said[key] = zone_label(value)
        elif key == "permissions":
            said[key] = _join(perm_labels().get(p, p) for p in value)
        elif key == "at":
            try:
                said[key] = local_time(dt.datetime.fromisoformat(value.replace("Z", "")))
            except (AttributeError, ValueError):
                said[key] = value
        elif isinstance(value, list):
            said[key] = _join(str(v) for v in value)
        else:
            said[key] = value
    try:
        return _(words) % said + (_(RESPONSIBLE) % said if "responsible" in said else "")
    except (KeyError, TypeError, ValueError):
        return alert.summary
