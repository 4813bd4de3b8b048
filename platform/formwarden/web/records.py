"""Record pages and their HTMX partials: list, create, view, edit, delete, recycle bin."""
from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.datastructures import MultiDict

from formwarden.access import gate
from formwarden.access.permissions import Perm, has_perm
from formwarden.auth.roles import role_titles
from formwarden.catalog import decisions
from formwarden.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from formwarden.forms import builder, versions
from formwarden.forms.validation import (
    FieldError,
    coerce_form_input,
    required_fields,
    validate,
    visible_fields,
    waiting_fields,
    warnings,
    writers_of,
)
from formwarden.http.context import actor
from formwarden.http.drafts import take_typing
from formwarden.http.errors import page_message, translate_details
from formwarden.http.guard import accepts_upload, requires
from formwarden.http.hooks import person_label, remember_people
from formwarden.http.i18n import current_locale, local_now
from formwarden.http.rendering import is_htmx, page_or_block, render_block
from formwarden.records import attachments, bulk, history, overview, search, service
from formwarden.records.query import RANGE_TYPES, from_args
from formwarden.web import references

bp = Blueprint("records", __name__)


def _formdef(form_key: str):
    return versions.current(form_key)[1]


def _form_context(formdef, values, errors, mode, record=None, rights=None):
    """What a form page shows: on an existing record, the rights of the grants covering it."""
    who = actor()
    r = rights or (record.rights if record is not None else gate.rights(who, formdef))
    action = "create" if mode == "create" else "update"
    owner = formdef.owner_field
    if mode == "create" and owner and not r.may_write(owner, action) and not values.get(owner):
        values = {**values, owner: who.name}  # shown as who will own the record
    levels = {n: ("write" if r.may_write(n, action) else "read" if r.level(n) == "write" else r.level(n))
              for n in formdef.fields}
    return dict(
        formdef=formdef, values=values, errors=errors, mode=mode, record=record,
        levels=levels,
        visible_names=[n for n in formdef.fields if levels[n] != "hidden"],
        reason_fields=[n for n, fd in formdef.fields.items() if fd.reason_required and levels[n] == "write"],
        restricted_names=formdef.restricted_fields,
        shown=visible_fields(formdef, values), required=required_fields(formdef, values),
        rule_triggers=formdef.rule_triggers,
        members=_with_names(service.assignable_owners(who, formdef, action, record.rights if record is not None else None)),
        can=lambda action: r.can(action),
    )


def _own_version(form, view) -> dict:
    """An older record shows the fields of its own form version (those removed since marked);
    editing it moves it to the current version, with what that changes said beforehand."""
    if not view.form_version or view.form_version == form.current_version:
        return {"only_fields": None, "upgrade": None}
    own = versions.definition(form, view.form_version)
    current = versions.definition(form)
    log = builder.changelog(own.doc, current.doc)
    seen = view.rights
    return {"only_fields": set(own.fields),
            "upgrade": {"from": view.form_version, "to": form.current_version,
                        "added": [current.fields[n] for n in log["added"] if seen.level(n) != "hidden"],
                        "removed": [own.fields[n] for n in log["removed"] if n in view.data]}}


def _with_names(usernames: list[str]) -> list[str]:
    """The owner picker's accounts, by display name; their names looked up once for the page."""
    remember_people(usernames)
    return sorted(usernames, key=person_label)


def _errors_by_field(details, formdef=None) -> dict:
    out: dict[str, str] = {}
    for d in translate_details(details):
        if d.get("code") == "reason_required" and d.get("fields") and formdef is not None:
            # under the reason box, the message names what needs the reason, in the label's words
            labels = [formdef.fields[n].label(current_locale()) for n in d["fields"] if n in formdef.fields]
            d = {**d, "message": _("Changing %(fields)s needs a reason: write it here.",
                                   fields=("、" if current_locale() == "zh-CN" else ", ").join(labels))}
        out.setdefault(d.get("field") or "", d["message"])
    return out


def _say_not_kept(formdef, names) -> None:
    """Values typed into fields the rules hide once the form was filled in (a page without its
    script, or one changed meanwhile) are not kept: say which, never drop them silently."""
    if names:
        locale = current_locale()
        labels = ("、" if locale == "zh-CN" else ", ").join(formdef.fields[n].label(locale) for n in formdef.layout_order
                                                            if n in names)
        flash(_("Not kept: %(fields)s. The form's rules hide these fields for what you chose.", fields=labels), "info")


def _waiting(formdef, data: dict, levels: dict) -> list[tuple[str, str]]:
    """(field label, who may fill it) for each field the record still waits for."""
    locale = current_locale()
    visible = {n for n, level in levels.items() if level != "hidden"}
    sep = "、" if locale == "zh-CN" else ", "
    return [(formdef.fields[n].label(locale), sep.join(role_titles(writers_of(formdef, n), locale)))
            for n in waiting_fields(formdef, data, visible)]


def _forms_for(who) -> list:
    """The forms the user may read, in their configured order."""
    forms = [(f, d) for f, d in versions.all_forms() if gate.can(who, d, "read")]
    return sorted(forms, key=lambda fd: (fd[1].order, fd[0].key))


@bp.route("/")
@requires(Perm.ACCOUNT)
def home():
    who = actor()
    forms = _forms_for(who)
    waits = decisions.waiting(who)  # an access manager's decisions come first: never skipped by a redirect
    if not versions.all_forms() and (has_perm(who, Perm.FORMS_MANAGE) or has_perm(who, Perm.USERS_MANAGE)):
        return redirect(url_for("start.start"))  # the first run: nothing to work in yet
    if not forms and not waits and has_perm(who, Perm.AUDIT_READ):
        return redirect(url_for("audit.search"))
    if len(forms) == 1 and not waits and not has_perm(who, Perm.AUDIT_READ):
        return redirect(url_for("records.list_records", form_key=forms[0][0].key))
    today = local_now().date()
    cards = [(f, d, overview.summary(who, f.key, today)) for f, d in forms]
    return render_template("records/home.html", cards=cards, today=today.isoformat(), me=who.name, waits=waits)


COLUMNS_COOKIE = "fw_cols_%s"  # the columns a person chose for a form's list, remembered in their browser


def _chosen_columns(formdef, readable: list[str]) -> tuple[list[str], str | None]:
    """The list's columns: chosen now (`cols`), else remembered, else the form's list fields;
    always among the fields the user may see. Returns (columns, value to remember or None)."""
    if request.args.get("cols_set"):
        chosen = [n for n in request.args.getlist("cols") if n in readable]
        return chosen or [n for n in formdef.list_fields if n in readable], ".".join(chosen)
    remembered = request.cookies.get(COLUMNS_COOKIE % formdef.key, "")
    chosen = [n for n in remembered.split(".") if n in readable]
    return chosen or [n for n in formdef.list_fields if n in readable], None


@bp.route("/f/<form_key>/")
@requires(Perm.RECORDS)
def list_records(form_key):
    formdef = _formdef(form_key)
    who = actor()
    q = from_args(request.args, default_per_page=25)
    deleted = request.args.get("bin") == "1"
    page = service.list_records(who, form_key, q, deleted=deleted)
    references.prefetch(formdef, page.items)
    remember_people([i.data.get(formdef.owner_field) for i in page.items if formdef.owner_field]
                    + [i.deleted_by for i in page.items])
    r = gate.rights(who, formdef)  # what some record may show; each row is projected on its own
    readable = [n for n in formdef.layout_order if r.level(n) != "hidden"]
    columns, remember = _chosen_columns(formdef, readable)
    title = formdef.title_field if formdef.title_field in readable else None
    clear = [n for n in readable if r.at_least(n, "read") and n not in formdef.restricted_fields]
    body = page_or_block(
        "records/list.html", "results",
        formdef=formdef, page=page, title=title, columns=[c for c in columns if c != title], readable=readable,
        filterable=[formdef.fields[n] for n in clear if formdef.fields[n].options],
        rangeable=[formdef.fields[n] for n in clear if not formdef.fields[n].ref
                   and (formdef.fields[n].type in RANGE_TYPES or formdef.fields[n].format == "date")],
        linkable=[formdef.fields[n] for n in clear if formdef.fields[n].ref],  # a picker, not a range of ids
        sortable=clear, active=dict(q.filters), ranges={n: (lo, hi) for n, lo, hi in q.ranges},
        filtered=bool(q.filters or q.ranges or q.search),
        sort=request.args.get("sort", "-updated_at"), deleted=deleted,
        can=lambda action: r.can(action), args=request.args, levels={n: r.level(n) for n in formdef.fields},
        searchable=search.searchable_for(who, formdef),
        forms=[(f.key, d) for f, d in _forms_for(who)],
        bulk_fields=_bulk_fields(formdef, r), can_purge=has_perm(who, Perm.RECORDS_PURGE),
        waiting={i.id for i in page.items if not deleted and waiting_fields(
            formdef, i.data, {n for n in formdef.fields if i.rights.level(n) != "hidden"})},
    )
    if remember is None:
        return body
    response = make_response(body)
    response.set_cookie(COLUMNS_COOKIE % formdef.key, remember, max_age=365 * 86400, httponly=True, samesite="Lax",
                        secure=request.is_secure)
    return response


def _bulk_fields(formdef, r) -> list:
    """Fields a bulk "set to" can change: single-choice fields the user may write."""
    if not r.can("update"):
        return []
    return [fd for n, fd in formdef.fields.items() if fd.options and fd.type != "array" and r.may_write(n, "update")]


@bp.route("/f/<form_key>/bulk", methods=["POST"])
@requires(Perm.RECORDS)
def bulk_action(form_key):
    """The list's bulk bar: move the ticked records to the recycle bin, or set one field on all."""
    formdef = _formdef(form_key)
    ids, reason = request.form.getlist("ids"), request.form.get("reason", "")
    back = redirect(request.referrer if request.referrer and request.referrer.startswith(request.host_url)
                    else url_for("records.list_records", form_key=form_key))
    try:
        if request.form.get("action") == "delete" and not request.form.get("confirmed"):
            if not ids:
                raise Invalid("choose at least one record", field="ids", code="required")
            return render_template("records/confirm_bulk_delete.html", formdef=formdef, ids=ids, reason=reason,
                                   back=back.location)
        if request.form.get("action") == "delete":
            n = bulk.bulk_delete(actor(), form_key, ids, reason=reason)
            flash(ngettext("%(num)s record moved to the recycle bin.", "%(num)s records moved to the recycle bin.", n),
                  "info")
            return back
        name, _sep, raw = (request.form.get("set") or "").partition("=")
        if name not in formdef.fields:
            raise Invalid("choose a field and a value", field="set", code="required")
        values, problems = coerce_form_input(formdef, MultiDict([(name, raw)]), [name])
        if problems:
            raise Invalid("check the value", field=name, details=[p.as_dict() for p in problems])
        n = bulk.bulk_update(actor(), form_key, ids, values, reason=reason)
        flash(ngettext("%(num)s record changed.", "%(num)s records changed.", n), "success")
    except (Invalid, NotFound, Conflict) as exc:  # a record changed or vanished meanwhile, or a bad value
        detail = translate_details(exc.details)[0] if exc.details else None
        record = f" #{detail['record']}" if detail and detail.get("record") else ""
        flash(_("Nothing was changed.") + record + " " + (detail["message"] if detail else page_message(exc)), "error")
    return back


def _submitted(formdef, writable, form=None):
    """Only fields the page rendered (marked `_present`) count: a field hidden by a rule keeps its value.
    A file chosen for an attachment field is kept first, and the field holds its token."""
    form = request.form if form is None else form
    present = set(form.getlist("_present"))
    values, problems = coerce_form_input(formdef, form, [n for n in writable if n in present])
    for name in attachments.attachment_fields(formdef):
        if name in writable and name in present and form.get(f"{name}__clear"):
            values[name] = None  # "remove the file": the field is emptied (the file stays in the history)
    if form is request.form and request.files:
        for name in attachments.attachment_fields(formdef):
            upload = request.files.get(f"{name}__file")
            if name not in writable or name not in present or upload is None or not upload.filename:
                continue
            try:
                values[name] = service.upload_file(actor(), formdef.key, name, upload.filename,
                                                   upload.read(attachments.MAX_BYTES + 1))
            except (Invalid, Forbidden, RateLimited) as exc:
                problems.append(FieldError(name, exc.code if exc.code != "validation_failed" else "invalid", {}))
    return values, problems


def _kept_typing(formdef, writable) -> tuple[dict, MultiDict] | None:
    """What this person typed here before their session ended (once), as form values."""
    user_id = actor().user_id
    items = take_typing(user_id) if request.method == "GET" and user_id else None
    if not items:
        return None
    form = MultiDict(items)
    values, _problems = _submitted(formdef, writable, form)
    flash(_("What you typed before your session ended is back in the form. Check it and save."), "info")
    return values, form


def _every_problem(formdef, values: dict, coerce_errors: list, writable) -> list:
    """A save refused for a value that could not be read (a wrong file type, a number with
    letters) reports the form's other problems in the same round (a required field left empty),
    so a person fixes everything at once."""
    bad = {e.field for e in coerce_errors}
    rest = validate(formdef, {k: v for k, v in values.items() if k not in bad and v not in (None, [])}, writable)
    return coerce_errors + [e for e in rest if e.field not in bad and e.field in writable]


def _links_given(formdef, writable) -> dict:
    """Link fields filled from the address ("new ticket for this customer": ?customer=109), when
    the reader may write them and may open the linked record (checked again when saving)."""
    out = {}
    for name in writable:
        fd = formdef.fields[name]
        raw = request.args.get(name, "")
        if fd.ref and raw.isdigit() and len(raw) < 19 and references.ref_title(fd.ref, int(raw)) is not None:
            out[name] = int(raw)
    return out


@bp.route("/f/<form_key>/new", methods=["GET", "POST"])
@requires(Perm.RECORDS)
@accepts_upload
def create(form_key):
    formdef = _formdef(form_key)
    who = actor()
    gate.require(who, formdef, "create")
    writable = gate.writable_fields(who, formdef, "create")
    values, errors = {}, {}
    kept = _kept_typing(formdef, writable)
    if kept:
        values = {k: v for k, v in kept[0].items() if v not in (None, [])}
    elif request.method == "GET":
        values = _links_given(formdef, writable)
    if request.method == "POST":
        values, coerce_errors = _submitted(formdef, writable)
        try:
            if coerce_errors:
                raise Invalid("check the fields", details=[e.as_dict() for e in
                                                           _every_problem(formdef, values, coerce_errors, writable)])
            shown = visible_fields(formdef, values)  # the page hides what the rules hide: its inputs are not sent
            view = service.create_record(who, form_key, {k: v for k, v in values.items()
                                                         if v not in (None, []) and k in shown},
                                         reason=request.form.get("reason", ""))
        except Invalid as exc:
            errors = _errors_by_field(exc.details or [{"field": exc.field or "", "code": exc.code, "message": exc.message}])
        else:
            flash(_("Saved."), "success")
            _say_not_kept(formdef, {k for k, v in values.items() if v not in (None, []) and k not in shown})
            target = url_for("records.show", form_key=form_key, record_id=view.id)
            if is_htmx():
                return "", 204, {"HX-Redirect": target}
            return redirect(target)
    ctx = _form_context(formdef, values, errors, "create")
    if is_htmx() and request.method == "POST":
        return render_block("records/form.html", "form_body", **ctx), 422, {"Vary": "HX-Request"}
    return render_template("records/form.html", **ctx), (422 if errors else 200)


@bp.route("/f/<form_key>/<int:record_id>", methods=["GET", "POST"])
@requires(Perm.RECORDS)
def show(form_key, record_id):
    """The record and its history; past restricted values only on a POST (it records a reveal)."""
    form, formdef = versions.current(form_key)
    view = service.get_record(actor(), form_key, record_id)
    ctx = _form_context(versions.with_removed(form, formdef), view.data, {}, "show", record=view, rights=view.own_rights)
    ctx.update(_own_version(form, view))
    ctx["waiting"] = _waiting(formdef, view.data, ctx["levels"])
    reveal_history = request.method == "POST" and request.form.get("reveal") == "history"
    timeline = history.history(actor(), form_key, record_id, reveal_restricted=reveal_history)[::-1]
    remember_people([e.actor for e in timeline] + ([view.data.get(formdef.owner_field)] if formdef.owner_field else []))
    linked = service.backlinks(actor(), form_key, record_id)
    for group in linked:
        references.prefetch(group.formdef, group.items)
    return render_template("records/show.html", timeline=timeline, reveal_history=reveal_history, linked=linked,
                           **ctx)


@bp.route("/f/<form_key>/<int:record_id>/v/<int:version>")
@requires(Perm.RECORDS)
def show_version(form_key, record_id, version, error=None):
    """The record as it was at `version`, read-only, with a revert button."""
    form, formdef = versions.current(form_key)
    current = service.get_record(actor(), form_key, record_id)
    data = history.record_at(actor(), form_key, record_id, version)
    ctx = _form_context(versions.with_removed(form, formdef), data, {}, "show", record=current, rights=current.own_rights)
    ctx["only_fields"] = None
    return render_template("records/show.html", at_version=version, revert_error=error, timeline=[], **ctx), \
        (422 if error else 200)


@bp.route("/f/<form_key>/<int:record_id>/revert", methods=["POST"])
@requires(Perm.RECORDS)
def revert(form_key, record_id):
    try:
        version = int(request.form.get("version", ""))
        expected = int(request.form.get("current_version", ""))
    except ValueError:
        abort(400)
    try:
        history.revert_record(actor(), form_key, record_id, version, expected_version=expected,
                              reason=request.form.get("reason", ""))
    except Invalid as exc:
        return show_version(form_key, record_id, version, error=page_message(exc))
    flash(_("Reverted to version %(v)s.", v=version), "success")
    return redirect(url_for("records.show", form_key=form_key, record_id=record_id))


@bp.route("/f/<form_key>/<int:record_id>/edit", methods=["GET", "POST"])
@requires(Perm.RECORDS)
@accepts_upload
def edit(form_key, record_id):
    form, formdef = versions.current(form_key)
    who = actor()
    current = service.get_record(who, form_key, record_id)
    gate.require(who, formdef, "update")
    upgrade = _own_version(form, current)["upgrade"]
    sealed = formdef.restricted_fields
    # Restricted values are never put into the form; an empty input keeps the stored value.
    values, errors, status = {k: v for k, v in current.data.items() if k not in sealed}, {}, 200
    conflict = None
    kept = _kept_typing(formdef, [n for n in formdef.fields if current.rights.may_write(n, "update")])
    if kept:  # the version typed against goes with it: a change made meanwhile shows as a conflict on save
        values.update({k: v for k, v in kept[0].items() if k not in sealed})
        typed_against = str(kept[1].get("version", "") or "")
        if typed_against.isascii() and typed_against.isdigit() and len(typed_against) < 10:  # kept text is untrusted
            current = replace(current, version=int(typed_against))
    if request.method == "POST":
        writable = [n for n in formdef.fields if current.rights.may_write(n, "update")]
        submitted, coerce_errors = _submitted(formdef, writable)
        submitted = {k: v for k, v in submitted.items() if not (k in sealed and v is None)}
        values.update(submitted)
        shown = visible_fields(formdef, values)  # the page hides what the rules hide: its inputs are not sent
        changes = {k: (None if v in (None, []) else v) for k, v in submitted.items()
                   if k in shown and (k in sealed or (None if v in (None, []) else v) != current.data.get(k))}
        dropped = {k for k, v in submitted.items() if k not in shown and v not in (None, [])
                   and v != current.data.get(k)}
        try:
            if coerce_errors:
                raise Invalid("check the fields", details=[e.as_dict() for e in
                                                           _every_problem(formdef, values, coerce_errors, writable)])
            version = int(request.form.get("version", "0"))
            service.update_record(who, form_key, record_id, changes, expected_version=version,
                                  reason=request.form.get("reason", ""))
        except Invalid as exc:
            errors = _errors_by_field(exc.details or [{"field": exc.field or "", "code": exc.code, "message": exc.message}],
                                      formdef)
            status = 422
        except Conflict:
            conflict = _conflict(formdef, who, form_key, record_id, int(request.form.get("version", "0")), submitted)
            current, values, status = conflict["record"], conflict["values"], 409
            errors = {"": _("Someone saved this record while you were editing. Your changes are kept below, "
                            "next to theirs: check the marked fields and save again.")}
        except ValueError:
            abort(400)
        else:
            flash(_("Saved."), "success")
            _say_not_kept(formdef, dropped)
            target = url_for("records.show", form_key=form_key, record_id=record_id)
            if is_htmx():
                return "", 204, {"HX-Redirect": target}
            return redirect(target)
    ctx = _form_context(formdef, values, errors, "edit", record=current)
    ctx.update(conflict=conflict, upgrade=upgrade)
    if is_htmx() and request.method == "POST":
        return render_block("records/form.html", "form_body", **ctx), status, {"Vary": "HX-Request"}
    return render_template("records/form.html", **ctx), status


def _conflict(formdef, who, form_key, record_id, base_version: int, submitted: dict) -> dict:
    """An edit that lost a race: what the other person changed since `base_version`, what this
    person changed, and the form again with their record plus this person's changes, at the new
    version, so saving again keeps both without retyping (fields both changed are marked)."""
    fresh = service.get_record(who, form_key, record_id)
    sealed = set(formdef.restricted_fields)
    try:
        base = history.record_at(who, form_key, record_id, base_version) if base_version > 0 else {}
    except (NotFound, Invalid):
        base = {}
    mine = {k: v for k, v in submitted.items() if k not in sealed and v != base.get(k) and not (v in (None, []) and base.get(k) in (None, []))}
    theirs = {k for k in set(base) | set(fresh.data)
              if k not in sealed and k in formdef.fields and base.get(k) != fresh.data.get(k)}
    rows = [{"name": n, "before": base.get(n), "theirs": fresh.data.get(n), "mine": mine.get(n, base.get(n)),
             "both": n in mine and mine[n] != fresh.data.get(n)}
            for n in formdef.layout_order if n in theirs or n in mine]
    values = {**{k: v for k, v in fresh.data.items() if k not in sealed}, **mine}
    return {"record": fresh, "values": values, "rows": rows, "both": {r["name"] for r in rows if r["both"]}}


@bp.route("/f/<form_key>/check", methods=["POST"])
@requires(Perm.RECORDS)
@accepts_upload
def check_field(form_key):
    """HTMX: validate the changed field and re-render the fields whose rules depend on it."""
    formdef = _formdef(form_key)
    who = actor()
    name = request.form.get("_field", "")
    if name not in formdef.fields:
        raise Invalid("unknown field", field="_field", code="unknown_field")
    record_id = request.form.get("_record")
    current = service.get_record(who, form_key, record_id) if record_id else None
    r = current.rights if current is not None else gate.rights(who, formdef)
    action = "update" if current is not None else "create"
    readable = [n for n in formdef.fields if r.level(n) != "hidden"]
    writable = [n for n in formdef.fields if r.may_write(n, action)]
    values, coerce_errors = _submitted(formdef, writable)
    values = {k: v for k, v in values.items() if v not in (None, [])}
    if current is not None:
        values = {**{k: v for k, v in current.data.items() if k not in writable}, **values}
    all_errors: list[FieldError] = coerce_errors + [e for e in validate(formdef, values, writable)
                                                    if e.field in readable]
    own = next((e for e in all_errors if e.field == name), None)
    ctx = _form_context(formdef, values, {}, "edit" if current is not None else "create", record=current)
    affected = formdef.ruled_by(name)
    warning = warnings(formdef, values, [name]).get(name) if own is None else None
    ctx.update(check_field=name, field_error=translate_details([own.as_dict()])[0]["message"] if own else "",
               field_warning=(warning.get(current_locale()) or warning.get("en", "")) if warning else "",
               affected=[f for f in formdef.fields if f in affected and f in readable])
    return render_block("records/form.html", "field_check", **ctx), 200, {"Vary": "HX-Request"}


@bp.route("/f/<form_key>/<int:record_id>/reveal/<field>", methods=["POST"])
@requires(Perm.RECORDS)
def reveal(form_key, record_id, field):
    """HTMX: one restricted value in clear, for a reader of it; recorded as a reveal event."""
    formdef = _formdef(form_key)
    view = service.get_record(actor(), form_key, record_id, reveal=[field])
    return render_block("records/show.html", "revealed", fd=formdef.fields[field],
                        value=view.data.get(field)), 200, {"Vary": "HX-Request"}


@bp.route("/files/<token>")
@requires(Perm.RECORDS)
def attachment(token):
    """A file of an attachment field, through the gate; never shown inline (no script can run)."""
    info, data = service.read_file(actor(), token)
    name = info.name.replace('"', "")
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
               "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'",
               "Cache-Control": "private, no-store"}
    return Response(data, mimetype=info.content_type.split(";")[0], headers=headers)


@bp.app_template_global("attachment_name")
def attachment_name(token) -> str:
    return attachments.names([token]).get(token, "") if token else ""


def _record_title(formdef, view) -> str:
    return references.record_title(formdef, view.data) or f"#{view.id}"


@bp.route("/f/<form_key>/<int:record_id>/delete", methods=["GET", "POST"])
@requires(Perm.RECORDS)
def delete(form_key, record_id):
    """Asks first (a page, no script), then moves the record to the recycle bin and offers undo."""
    formdef = _formdef(form_key)
    view = service.get_record(actor(), form_key, record_id)
    gate.require(actor(), formdef, "delete")
    if request.method == "GET":
        return render_template("records/confirm_delete.html", formdef=formdef, record=view,
                               title=_record_title(formdef, view))
    service.delete_record(actor(), form_key, record_id, reason=request.form.get("reason", ""))
    flash({"text": _("%(title)s moved to the recycle bin.", title=_record_title(formdef, view)),
           "undo": url_for("records.restore", form_key=form_key, record_id=record_id)}, "undo")
    return redirect(url_for("records.list_records", form_key=form_key))


@bp.route("/f/<form_key>/<int:record_id>/restore", methods=["POST"])
@requires(Perm.RECORDS)
def restore(form_key, record_id):
    service.restore_record(actor(), form_key, record_id, reason=request.form.get("reason", ""))
    flash(_("Restored."), "success")
    return redirect(url_for("records.show", form_key=form_key, record_id=record_id))


@bp.route("/f/<form_key>/<int:record_id>/purge", methods=["GET", "POST"])
@requires(Perm.RECORDS_PURGE)
def purge(form_key, record_id):
    """For good: the administrator types the record's title and a reason first."""
    formdef = _formdef(form_key)
    view = service.get_record(actor(), form_key, record_id, deleted=True)
    title = _record_title(formdef, view)
    errors = {}
    if request.method == "POST":
        if request.form.get("confirm", "").strip() != title:
            errors["confirm"] = _("Type the record's title exactly as shown to confirm.")
        if not request.form.get("reason", "").strip():
            errors["reason"] = _("Say why this record is deleted for good.")
        if not errors:
            service.purge_record(actor(), form_key, record_id, reason=request.form["reason"])
            flash(_("%(title)s deleted for good.", title=title), "info")
            return redirect(url_for("records.list_records", form_key=form_key, bin="1"))
    return render_template("records/confirm_purge.html", formdef=formdef, record=view, title=title,
                           errors=errors), (422 if errors else 200)
