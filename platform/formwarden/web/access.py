"""The permission matrix (access.manage): one page per form, fields × roles, each change saved
to the draft through HTMX and checked at once; saving makes a policy version (with a reason),
the history shows each version's diff with rollback; x-access export and import. And for one
person (users.manage): effective rights, "view as" and "why?"."""
from __future__ import annotations

import json
import re

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from formwarden.access import explain, gate
from formwarden.access.permissions import Perm, has_perm
from formwarden.arguments import page_arg
from formwarden.auth import people
from formwarden.auth import roles as role_service
from formwarden.auth.users import actor_for
from formwarden.catalog import policies, simulate
from formwarden.errors import DomainError, Forbidden, Invalid, NotFound
from formwarden.forms import versions
from formwarden.forms.messages import N_
from formwarden.http.context import actor
from formwarden.http.guard import accepts_upload, requires
from formwarden.http.hooks import person_label
from formwarden.http.i18n import current_locale
from formwarden.http.rendering import is_htmx, keep_typing, render_block
from formwarden.records import history, service
from formwarden.records.query import ListQuery
from formwarden.web.console import (
    action_labels,
    clean,
    labels,
    level_labels,
    relation_labels,
    role_title,
    say,
    scope_labels,
)

bp = Blueprint("access", __name__, url_prefix="/admin")

CHECK_MESSAGES = {
    "required_not_writable": N_("%(role)s may create records but cannot write the required field %(field)s: nobody with only this role could save."),
    "rule_not_writable": N_("%(role)s may set %(trigger)s, which then requires %(field)s, but cannot write %(field)s: their records save without it and wait for someone who may fill it."),
    "rule_trigger_hidden": N_("%(role)s may write %(field)s, but the rule that shows it reads %(trigger)s, which %(role)s cannot see: for them %(field)s stays hidden. Let them read %(trigger)s, or change the rule."),
    "restricted_export": N_("%(role)s may read the restricted field %(field)s and export records."),
    "write_without_read": N_("%(role)s may write %(field)s but cannot read records afterwards."),
    "fields_without_view": N_("%(role)s is given fields but may not view records: tick “View” in its actions, or it sees nothing."),
    "own_without_create": N_("%(role)s sees only its own records but may not create any: it will see only records handed over to it. Widen its records to the team or all, or allow Create."),
}
WHY_MESSAGES = {
    "role_gives": N_("Role %(role)s (scope: %(scope)s) gives %(level)s."),
    "role_hides": N_("Role %(role)s (scope: %(scope)s) hides this field."),
    "scope_does_not_cover": N_("Role %(role)s would give %(level)s, but only on %(scope)s; this is %(relation)s record."),
    "no_read_action": N_("Role %(role)s may not read records of this form."),
    "role_not_in_policy": N_("Role %(role)s has no rights in this form's policy."),
    "no_roles": N_("The account holds no role."),
    "token_fields": N_("The API token is limited to other fields."),
    "restricted": N_("The field is restricted: even readers see it masked until they reveal it, which is recorded."),
    "unknown_field": N_("There is no such field."),
}


@bp.context_processor
def _labels():
    return labels()


def _check_text(problem, formdef, role_rows: dict) -> str:
    """A check's finding in the reader's words: role titles and field labels, not keys."""
    template = CHECK_MESSAGES.get(problem.code)
    if not template:
        return problem.reason
    locale = current_locale()
    params = dict(problem.params)
    for key in ("field", "trigger"):
        if params.get(key) in formdef.fields:
            params[key] = formdef.fields[params[key]].label(locale)
    if params.get("role") in role_rows:
        params["role"] = role_title(role_rows[params["role"]], locale)
    return _(template) % params


def _matrix_context(form_key: str) -> dict:
    form, formdef = versions.current(form_key)
    role_rows = {r.name: r for r in role_service.list_roles()}
    draft = policies.draft(form_key)
    in_force = policies.current_access(form)
    _fd, blocking, warnings = policies.check(form, draft["access"])
    marks: dict[tuple[str, str], str] = {}
    for kind, items in (("warning", warnings), ("problem", blocking)):
        for p in items:
            parts = p.pointer.split("/")
            if len(parts) == 5 and parts[1] == "x-access":
                marks[(parts[2], parts[4])] = kind
            elif len(parts) == 4 and parts[1] == "x-access":
                marks[(parts[2], parts[3])] = kind  # a role's scope or actions
    columns = list(draft["access"])
    addable = [name for name, r in role_rows.items() if name not in columns and r.retired_at is None]
    held = role_service.holder_counts()
    locale = current_locale()
    left_out = [_("%(role)s (held by %(n)s people) has no rights in this form.",
                  role=role_title(role_rows[name], locale), n=held[role_rows[name].id])
                for name in addable if held.get(role_rows[name].id) and name in in_force]
    current = policies.current_version(form)
    titles = {r: role_title(role_rows[r], locale) if r in role_rows else r for r in columns}
    return {
        "titles": titles, "who_of": who_of, "reason_of": reason_of,
        "form_key": form_key, "formdef": formdef, "draft": draft, "access": draft["access"], "in_force": in_force,
        "columns": columns, "role_rows": role_rows, "addable": addable, "marks": marks,
        "problems": [_check_text(p, formdef, role_rows) for p in blocking],
        "warnings": [_check_text(p, formdef, role_rows) for p in warnings] + left_out,
        "undecided": set(draft.get("undecided") or []), "version": form.policy_version, "current": current,
        "changed": draft["access"] != in_force or sorted(draft.get("undecided") or []) != sorted(policies.undecided(form)),
    }


SYSTEM_REASON = re.compile(r"^form version (\d+) published$")
ROLLBACK_REASON = re.compile(r"^(.*) \(rollback to version (\d+)\)$", re.S)


def reason_of(reason: str) -> str:
    """A policy version's reason in the reader's words (the platform writes some itself)."""
    if m := SYSTEM_REASON.match(reason or ""):
        return _("form version %(v)s published", v=m.group(1))
    if m := ROLLBACK_REASON.match(reason or ""):
        return _("%(reason)s (rollback to version %(v)s)", reason=m.group(1), v=m.group(2))
    if reason == "taken over from the published form definition":
        return _("taken over from the form definition")
    return reason


def who_of(name: str) -> str:
    return person_label(name)


def change_rows(diff: dict, formdef, role_rows: dict) -> list[dict]:
    """A policy version's old → new diff as rows a person reads: role, what, old, new."""
    locale = current_locale()
    levels, scopes, acts = level_labels(), scope_labels(), action_labels()

    def words(part: str, value):
        if value is None:
            return _("as the role's other fields") if part == "fields" else "–"
        if part == "scope":
            return scopes.get(value, value)
        if part == "actions":
            ordered = [acts[a] for a in acts if a in value]  # in the matrix's order
            return ("、" if locale == "zh-CN" else ", ").join(ordered) or "–"
        return levels.get(value, value)

    rows = []
    for key, (old, new) in diff.items():
        role, _sep, rest = key.partition(".")
        if key in ("policy_version", "draft_by") or not rest:
            continue
        part, _sep, name = rest.partition(".")
        if part == "fields":
            what = _("other fields") if name == "*" else (
                formdef.fields[name].label(locale) if name in formdef.fields else name)
        else:
            what = _("Whose records") if part == "scope" else _("Actions")
        rows.append({"role": role_title(role_rows[role], locale) if role in role_rows else role, "what": what,
                     "old": words(part, old), "new": words(part, new)})
    return rows


def _level(block: dict, name: str) -> str:
    return block["fields"].get(name, block["fields"].get("*", "hidden"))


@bp.route("/access")
@requires(Perm.ACCESS_MANAGE)
def index():
    forms = versions.all_forms()
    return render_template("access/index.html", forms=[(f, d, len(policies.undecided(f))) for f, d in forms])


@bp.route("/access/<form_key>")
@requires(Perm.ACCESS_MANAGE)
def matrix(form_key):
    return render_template("access/matrix.html", level_of=_level, **_matrix_context(form_key))


@bp.route("/access/<form_key>/edit", methods=["POST"])
@requires(Perm.ACCESS_MANAGE)
def edit(form_key):
    """One matrix change into the draft; HTMX gets the matrix block back, a plain post the page."""
    change = {k: request.form.get(k) for k in ("op", "role", "field", "level", "scope", "action", "from")}
    change["on"] = request.form.get("on") in ("1", "on", "true")
    if change["op"] == "level" and not change["field"]:
        change["field"] = "*"
    if change["op"] == "cell":  # a select posts its value under its own name: "<role>|<field>"
        role, _sep, name = (request.form.get("cell") or "").partition("|")
        change = {"op": "level", "role": role, "field": name, "level": request.form.get(f"level:{role}|{name}")}
    error = None
    try:
        policies.edit_draft(actor(), form_key, change)
    except DomainError as exc:
        error = say(exc)
    ctx = _matrix_context(form_key)
    if is_htmx():
        return render_block("access/matrix.html", "matrix", level_of=_level, edit_error=error, **ctx), \
            (422 if error else 200), {"Vary": "HX-Request"}
    if error:
        flash(error, "error")
    return redirect(url_for("access.matrix", form_key=form_key))


@bp.route("/access/<form_key>/save", methods=["POST"])
@requires(Perm.ACCESS_MANAGE)
def save(form_key):
    rev = request.form.get("rev", "")[:64]
    try:
        row = policies.save_draft(actor(), form_key, request.form.get("reason", ""), rev)
    except Invalid as exc:  # the matrix shows the draft's problems itself
        ctx = _matrix_context(form_key)
        return render_template("access/matrix.html", level_of=_level, save_error=say(exc),
                               reason=request.form.get("reason", ""), **ctx), 422
    except DomainError as exc:
        flash(say(exc), "error")
        return redirect(url_for("access.matrix", form_key=form_key))
    if row is None:
        flash(_("Nothing to save: the draft is the policy in force."), "success")
    else:
        flash(_("Policy version %(v)s saved. It applies from everyone's next click.", v=row.version), "success")
    return redirect(url_for("access.matrix", form_key=form_key))


@bp.route("/access/<form_key>/discard", methods=["POST"])
@requires(Perm.ACCESS_MANAGE)
def discard(form_key):
    policies.discard_draft(actor(), form_key)
    flash(_("Draft discarded."), "success")
    return redirect(url_for("access.matrix", form_key=form_key))


@bp.route("/access/<form_key>/history")
@requires(Perm.ACCESS_MANAGE)
def policy_history(form_key):
    _form, formdef = versions.current(form_key)
    role_rows = {r.name: r for r in role_service.list_roles()}
    rows = [(row, change_rows(json.loads(row.diff), formdef, role_rows)) for row in policies.history(form_key)]
    return render_template("access/history.html", form_key=form_key, formdef=formdef, rows=rows,
                           version=_form.policy_version, who_of=who_of, reason_of=reason_of)


@bp.route("/access/<form_key>/rollback", methods=["POST"])
@requires(Perm.ACCESS_MANAGE)
def rollback(form_key):
    raw = request.form.get("version", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
        flash(_("Choose a version."), "error")
        return redirect(url_for("access.policy_history", form_key=form_key))
    version = int(raw)
    try:
        row = policies.rollback(actor(), form_key, version, request.form.get("reason", ""))
    except DomainError as exc:
        flash(say(exc), "error")
        keep_typing(f"rollback-{version}", request.form.get("reason", ""))
        return redirect(url_for("access.policy_history", form_key=form_key))
    if row is not None:
        flash(_("Version %(old)s is in force again, as version %(v)s.", old=version, v=row.version), "success")
    return redirect(url_for("access.policy_history", form_key=form_key))


@bp.route("/access/<form_key>/export.json")
@requires(Perm.ACCESS_MANAGE)
def export(form_key):
    body = json.dumps({"x-access": policies.download(actor(), form_key)}, ensure_ascii=False, indent=2, sort_keys=True)
    return Response(body + "\n", mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{form_key}-x-access.json"'})


@bp.route("/access/<form_key>/import", methods=["POST"])
@requires(Perm.ACCESS_MANAGE)
@accepts_upload
def import_policy(form_key):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a JSON file."), "error")
        keep_typing("import-reason", request.form.get("reason", ""))
        return redirect(url_for("access.matrix", form_key=form_key))
    try:
        text = upload.read(2 * 1024 * 1024 + 1).decode("utf-8")
        row = policies.import_access(actor(), form_key, text, request.form.get("reason", ""))
    except UnicodeDecodeError:
        flash(_("The file is not UTF-8 text."), "error")
        keep_typing("import-reason", request.form.get("reason", ""))
    except DomainError as exc:
        keep_typing("import-reason", request.form.get("reason", ""))
        details = "; ".join(f"{d.get('pointer', '')}: {d.get('reason', '')}" for d in exc.details[:5]
                            if "pointer" in d)
        flash(say(exc) + (f" ({clean(details)})" if details else ""), "error")
    else:
        flash(_("Imported as policy version %(v)s.", v=row.version) if row else _("The file holds the policy in force."),
              "success")
    return redirect(url_for("access.matrix", form_key=form_key))


# --- one person: effective rights, view as, why ------------------------------------------------

@bp.route("/people/<username>/rights")
@requires(Perm.USERS_MANAGE)
def rights(username):
    p = people.person(username)
    target = _target(username)
    forms = [(f, d, explain.effective(target, d)) for f, d in versions.all_forms()]
    locale = current_locale()
    titles = {r.name: role_title(r, locale) for r in role_service.list_roles()}
    return render_template("access/rights.html", p=p, forms=forms,
                           names=lambda keys: _(", ").join(titles.get(k, k) for k in keys),
                           can_view_as=has_perm(actor(), Perm.ACCESS_MANAGE))


def _target(username: str):
    """The account as the gate sees it (effective rights need users.manage only)."""
    return actor_for(people.get_user(username))


@bp.route("/view-as/<username>/")
@requires(Perm.USERS_MANAGE, Perm.ACCESS_MANAGE)
def view_as(username):
    target = simulate.actor_as(actor(), username)
    forms = [(f, d) for f, d in versions.all_forms() if gate.can(target, d, "read")]
    simulate.note_view(actor(), username, "forms")
    return render_template("access/view_as_home.html", target=target, p=people.person(username), forms=forms)


@bp.route("/view-as/<username>/<form_key>/")
@requires(Perm.USERS_MANAGE, Perm.ACCESS_MANAGE)
def view_as_list(username, form_key):
    target = simulate.actor_as(actor(), username)
    _form, formdef = versions.current(form_key)
    # Paging only: a search or filter would run in their name (and record reveals as theirs).
    number = page_arg(request.args)
    try:
        page = service.list_records(target, form_key, ListQuery(page=number, per_page=25))
    except (Forbidden, NotFound) as exc:
        return _refused_them(username, exc)
    r = gate.rights(target, formdef)
    columns = [n for n in formdef.list_fields if r.level(n) != "hidden"]
    simulate.note_view(actor(), username, "list", form_key)
    return render_template("access/view_as_list.html", target=target, p=people.person(username), formdef=formdef,
                           page=page, columns=columns, form_key=form_key)


@bp.route("/view-as/<username>/<form_key>/<int:record_id>")
@requires(Perm.USERS_MANAGE, Perm.ACCESS_MANAGE)
def view_as_record(username, form_key, record_id):
    target, formdef, view, refused = _their_record(username, form_key, record_id)
    if refused is not None:
        return refused
    timeline = history.history(target, form_key, record_id, reveal_restricted=False)[::-1]
    levels = {n: view.rights.level(n) for n in formdef.layout_order}
    simulate.note_view(actor(), username, "record", form_key, record_id)
    return render_template("access/view_as_record.html", target=target, p=people.person(username), formdef=formdef,
                           view=view, timeline=timeline, levels=levels, form_key=form_key)


@bp.route("/view-as/<username>/<form_key>/<int:record_id>/why/<field>")
@requires(Perm.USERS_MANAGE, Perm.ACCESS_MANAGE)
def why(username, form_key, record_id, field):
    target, formdef, view, refused = _their_record(username, form_key, record_id)
    if refused is not None:
        return refused
    owner_id = service.owner_of(form_key, view.id)
    if field not in formdef.fields:
        raise NotFound("there is no such field", field="field", code="unknown_field")
    answer = explain.why(target, formdef, owner_id, field)
    simulate.note_view(actor(), username, "why", form_key, record_id, field)
    lines = [_why_text(line, current_locale()) for line in answer["lines"]]
    ctx = {"answer": answer, "lines": lines, "field": field, "formdef": formdef, "p": people.person(username),
           "form_key": form_key, "record_id": record_id}
    if is_htmx():
        return render_block("access/why.html", "why", **ctx)
    return render_template("access/why.html", **ctx)


def _their_record(username: str, form_key: str, record_id: int):
    """(their actor, the form, the record as they see it, None), or the page saying they may not."""
    target = simulate.actor_as(actor(), username)
    _form, formdef = versions.current(form_key)
    try:
        return target, formdef, service.get_record(target, form_key, record_id), None
    except (Forbidden, NotFound) as exc:
        return target, formdef, None, _refused_them(username, exc)


def _refused_them(username: str, exc: DomainError):
    """What the viewed person would get, said about them (not about the administrator)."""
    p = people.person(username)
    message = (_("%(name)s may not see records of this form.", name=p.user.display_name or p.user.username)
               if isinstance(exc, Forbidden) else
               _("This record does not exist, or %(name)s may not see it.", name=p.user.display_name or p.user.username))
    return render_template("access/view_as_refused.html", p=p, message=message), exc.status


def _why_text(line: dict, locale: str) -> str:
    template = WHY_MESSAGES.get(line["code"], "")
    params = dict(line)
    if "role" in params:
        params["role"] = role_title(role_service.get_role(params["role"]), locale)
    params["level"] = level_labels().get(params.get("level", ""), params.get("level", ""))
    params["scope"] = scope_labels().get(params.get("scope", ""), params.get("scope", ""))
    params["relation"] = relation_labels().get(params.get("relation", ""), params.get("relation", ""))
    return _(template) % params if template else line["code"]
