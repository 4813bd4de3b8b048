"""Shared pieces of the admin console pages: messages for the services' error codes in the
reader's language, labels of permissions, statuses and levels, and parsing dates typed in the
reader's time zone."""
from __future__ import annotations

import datetime as dt

from flask import g
from flask_babel import gettext as _

from formwarden.errors import DomainError, Invalid
from formwarden.forms.messages import N_
from formwarden.forms.versions import all_forms
from formwarden.http.errors import page_message
from formwarden.http.i18n import current_locale, current_zone

MESSAGES = {
    "duplicate": N_("That name is taken."),
    "duplicate_username": N_("That username is taken (usernames ignore upper and lower case)."),
    "no_role": N_("Choose at least one role."),
    "own_account": N_("You cannot change your own roles, teams, expiry or activation: ask another administrator."),
    "beyond_own_rights": N_("You cannot grant or change powers you do not hold yourself: %(detail)s."),
    "invalid_name": N_("A role key is lowercase letters, digits and _ (up to 40), starting with a letter."),
    "invalid_username": N_("A username is ASCII letters, digits, _ and . only (up to 64), starting with a letter or digit: no Chinese characters or spaces; put the name in the display name."),
    "reserved_username": N_("This word is used by the console itself; choose another username."),
    "role_in_use": N_("This role is still held by: %(detail)s. Give them another role first."),
    "role_in_policy": N_("A form's access policy names this role, now or in an earlier version. Retire the role instead: it then grants nothing."),
    "draft_changed": N_("Someone changed the draft after you opened it. Look at it again, then save."),
    "last_administrator": N_("This would leave nobody who can manage people. Keep at least one active administrator."),
    "beyond_own_data": N_("This person may see or do more with records than you may (%(detail)s): only an "
                          "administrator who holds all of their rights can set their password or view as them."),
    "last_holder": N_("Nobody active would hold %(detail)s any more, and nobody could grant it again from here. "
                      "Give it to another role or person first."),
    "unknown_role": N_("There is no active role by that name."),
    "unknown_team": N_("There is no team by that name."),
    "unknown_user": N_("There is no account by that name."),
    "invalid_time_zone": N_("Unknown time zone. Use a name such as Asia/Shanghai."),
    "invalid_expiry": N_("The expiry must be in the future."),
    "invalid_date": N_("Enter a date as YYYY-MM-DD."),
    "reason_required": N_("Say why: the reason is kept in the audit trail."),
    "too_long": N_("This is too long."),
    "required": N_("This is required."),
    "is_manager": N_("This person manages the team. Choose another manager first."),
    "same_user": N_("Choose someone else to take the records over."),
    "cannot_read_records": N_("That person may not read records of every form involved, so they could not see what they would own."),
    "unusable_account": N_("That account cannot take records over (inactive, expired or an integration)."),
    "integration": N_("An integration signs in with API tokens only."),
    "invalid_locale": N_("Choose zh-CN or English."),
    "invalid_kind": N_("Choose a person or an integration."),
    "invalid_policy": N_("The policy has problems: see the marked cells."),
    "stale_version": N_("Someone saved this policy meanwhile. Discard your draft and start again from the new version."),
    "unknown_version": N_("That version does not exist."),
    "invalid_json": N_("The file is not readable JSON."),
    "no_access_block": N_("The file holds no x-access block."),
    "wrong_form": N_("The file belongs to another form."),
    "invalid_scope": N_("Choose a scope or permission that exists."),
    "invalid_field": N_("Name fields as form.field, e.g. customer.mobile."),
    "invalid_ip": N_("Enter IP addresses or networks, e.g. 10.0.0.0/8."),
    "too_many": N_("Too many entries."),
    "last_role": N_("A policy keeps at least one role."),
    "unknown_field": N_("There is no such field."),
    "invalid_level": N_("Choose hidden, masked, read or write."),
}


def clean(text: str, limit: int = 300) -> str:
    """Text that came from a request or a file, safe to keep in a message (the session cookie
    holds flashed messages): no lone surrogates or control characters, and short."""
    text = str(text).encode("utf-8", "replace").decode("utf-8")
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[:limit] + "…"


def say(exc: DomainError) -> str:
    """The error in the reader's language (the service's own words when there is no template)."""
    template = MESSAGES.get(exc.code)
    if template is None:
        return clean(page_message(exc))
    detail = ""
    if exc.code == "last_holder":
        labels_ = perm_labels()
        detail = ("、" if current_locale() == "zh-CN" else ", ").join(
            labels_.get(d.get("permission", ""), d.get("permission", "")) for d in exc.details)
    elif exc.code == "beyond_own_data":
        words = [_rights_words(str(d.get("message", ""))) for d in exc.details]
        detail = ("、" if current_locale() == "zh-CN" else ", ").join(words[:6]) + (" …" if len(words) > 6 else "")
    elif exc.details:
        detail = str(exc.details[0].get("message", ""))
    elif exc.code == "beyond_own_rights":
        labels_ = perm_labels()
        detail = _(", ").join(labels_.get(p, p) for p in exc.message.rpartition(": ")[2].split(", "))
    return _(template) % {"detail": clean(detail)}


def _rights_words(key: str) -> str:
    """"customer.mobile" or "customer:export" in the reader's words: 客户 · 手机号, 客户 · 导出."""
    form_key, sep, rest = key.partition(".") if "." in key else key.partition(":")
    formdef = dict((f.key, d) for f, d in all_forms()).get(form_key)
    if formdef is None:
        return key
    locale = current_locale()
    what = (formdef.fields[rest].label(locale) if sep == "." and rest in formdef.fields
            else action_labels().get(rest, rest))
    return f"{formdef.title(locale)} · {what}"


def parse_date(raw: str, field: str = "expires_at") -> dt.datetime | None:
    """A date typed as YYYY-MM-DD: the end of that day in the reader's time zone, as naive UTC."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise Invalid("not a date", field=field, code="invalid_date") from None
    end = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=current_zone())
    return end.astimezone(dt.UTC).replace(tzinfo=None)


def date_value(value: dt.datetime | None) -> str:
    """A stored expiry as the date input shows it (the reader's time zone)."""
    if value is None:
        return ""
    return value.replace(tzinfo=dt.UTC).astimezone(current_zone()).date().isoformat()


def perm_labels() -> dict[str, str]:
    return {
        "account": _("Own account (always)"), "records": _("Work with records (each form's policy decides)"),
        "records.purge": _("Delete records for good"), "forms.manage": _("Design forms"),
        "users.manage": _("Manage people, roles and teams"), "audit.read": _("Search the audit trail"),
        "tokens.own": _("Own API tokens"), "alerts.manage": _("Handle alerts"), "alerts.view": _("See alerts"),
        "backups": _("Run, restore and configure backups"), "access.manage": _("Edit access policies"),
    }


def status_labels() -> dict[str, str]:
    return {"active": _("Active"), "inactive": _("Deactivated"), "expiring": _("Expires soon"),
            "expired": _("Expired"), "dormant": _("Dormant")}


def level_labels() -> dict[str, str]:
    return {"hidden": _("Hidden"), "masked": _("Masked"), "read": _("Read"), "write": _("Write")}


def scope_labels() -> dict[str, str]:
    return {"own": _("Own records"), "team": _("Team's records"), "all": _("All records")}


def action_labels() -> dict[str, str]:
    return {"create": _("Create"), "read": _("View"), "update": _("Update"), "delete": _("Delete"),
            "export": _("Export")}


def relation_labels() -> dict[str, str]:
    return {"own": _("their own"), "team": _("a teammate's"), "all": _("anyone else's")}


def role_title(role, locale: str) -> str:
    return (role.title_zh if locale == "zh-CN" else role.title_en) or role.name


def _defs() -> dict:
    """The current definitions by form key, read once per request (pages ask per row)."""
    if "console_defs" not in g:
        g.console_defs = {form.key: formdef for form, formdef in all_forms()}
    return g.console_defs


def form_title(key: str) -> str:
    formdef = _defs().get(key)
    return formdef.title(current_locale()) if formdef is not None else key


def field_labels(names: str) -> str:
    """"customer.mobile customer.name" as "客户 · 手机号, 客户 · 客户姓名"."""
    out = []
    for name in names.split():
        form, _sep, field = name.partition(".")
        fd = _defs().get(form)
        out.append(f"{fd.title(current_locale())} · {fd.fields[field].label(current_locale())}"
                   if fd is not None and field in fd.fields else name)
    return _(", ").join(out)


def scope_names() -> dict[str, str]:
    """API token scopes in words."""
    return {"read": _("read"), "write": _("create and change"), "delete": _("delete"),
            "export": _("export"), "purge": _("delete for good"), "audit": _("audit trail"),
            "alerts": _("alerts"), "users": _("people and roles"), "forms": _("form design"),
            "tokens": _("tokens"), "backups": _("backups"), "access": _("access policies")}


def scope_text(scopes: str) -> str:
    """"customer:read export" as "客户: 查看, 导出"."""
    names = scope_names()
    out = []
    for s in scopes.split():
        form, _sep, what = s.rpartition(":")
        out.append((form_title(form) + ": " if form else "") + names.get(what, what))
    return _(", ").join(out)


def labels() -> dict:
    return {"form_title": form_title, "field_labels": field_labels, "scope_names": scope_names(),
            "scope_text": scope_text,"perm_labels": perm_labels(), "person_status_labels": status_labels(), "level_labels": level_labels(),
            "scope_labels": scope_labels(), "access_action_labels": action_labels(),
            "relation_labels": relation_labels(), "role_title": role_title}
