"""The form builder (forms.manage): create forms, add / move / configure fields and sections,
rules without code, a live preview drawn by the record form's own macros, publish version N+1
after every check (problems shown on the field they concern), export and import definitions."""
from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from formwarden.access.permissions import Perm
from formwarden.auth import roles as role_service
from formwarden.catalog import decisions, designs
from formwarden.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from formwarden.forms import builder, versions
from formwarden.forms.definition import FormDef, check_definition
from formwarden.forms.messages import N_
from formwarden.forms.registry import field_types
from formwarden.forms.rules import OPERATORS, conditions
from formwarden.forms.validation import coerce_form_input, required_fields, validate, visible_fields, warnings
from formwarden.http.context import actor
from formwarden.http.errors import translate_details
from formwarden.http.guard import requires
from formwarden.http.i18n import current_locale
from formwarden.http.jobs import submit_job
from formwarden.http.rendering import is_htmx, keep_typing, render_block
from formwarden.web.access import CHECK_MESSAGES
from formwarden.web.console import role_title, say

bp = Blueprint("design", __name__, url_prefix="/design")

OP_LABELS = {"in": N_("is one of"), "not_in": N_("is not one of"), "equals": N_("is"), "not_equals": N_("is not"),
             "gt": N_("is greater than"), "gte": N_("is at least"), "lt": N_("is less than"), "lte": N_("is at most"),
             "filled": N_("is filled in")}


def _kind_labels() -> dict[str, str]:
    """Each kind of field by its name in the reader's language."""
    out = {"text": _("Text"), "textarea": _("Long text"), "integer": _("Whole number"), "number": _("Number"),
           "money": _("Amount"), "date": _("Date"), "select": _("Single choice"), "multiselect": _("Multiple choice"),
           "tags": _("Tags"), "yesno": _("Yes / no"), "member": _("Person (owner)"), "reference": _("Link to a record"),
           "autonumber": _("Auto-number")}
    locale = current_locale()
    for ft in field_types.all():
        if ft.name not in out:
            out[ft.name] = (ft.label or {}).get(locale) or ft.name
    return out


def _default_names(kind: str) -> tuple[str, str]:
    """A field added from the palette is first named after its kind, in the designer's language
    (the other name stays empty until someone gives it: a name in one language stands for both)."""
    label = _kind_labels().get(kind, kind)
    return (label, "") if current_locale() == "zh-CN" else ("", label)


def _words(exc: DomainError) -> str:
    """A builder problem in the designer's language (its English template translated)."""
    detail = (exc.details or [{}])[0]
    if "template" in detail:
        try:
            return _(detail["template"]) % (detail.get("params") or {})
        except (KeyError, TypeError, ValueError):
            return _(detail["template"])
    return _(exc.message)


def _back(key: str, field: str | None = None, anchor: str = ""):
    return redirect(url_for("design.editor", form_key=key, field=field) + anchor)


def _apply(key: str, change, field: str | None = None, anchor: str = "", done: str = "", opened=None,
           rev: str | None = None):
    """Run a builder edit on the draft. The builder's own requests (HTMX) get the builder drawn
    again at once; a page without its script is sent back to the editor. `done` is said (and the
    field `opened()` names is opened, if given) when it took; its problem when it did not."""
    status, was = 200, field
    try:
        designs.edit(actor(), key, request.form.get("rev", "") if rev is None else rev, change)
    except Conflict:
        flash(_("Someone changed this draft since you opened it. Look at it again, then repeat your change."), "error")
        status = 409
    except Invalid as exc:
        flash(_words(exc), "error")
        field, anchor, status = field or request.form.get("field") or None, "", 422  # the message shows at the top
    else:
        if done:
            flash(done, "success")
        if opened is not None:
            field = opened()
    if is_htmx():
        return _editor_page(key, field, status, was=was)
    return _back(key, field, anchor)


@bp.route("/")
@requires(Perm.FORMS_MANAGE)
def index():
    drafts = designs.drafts()
    forms = [(form, formdef, drafts.get(form.key)) for form, formdef in versions.all_forms()]
    new = [(key, value) for key, value in drafts.items() if not any(f.key == key for f, _d, _v in forms)]
    report = current_app.extensions.get("formwarden_plugins")
    return render_template("design/index.html", forms=forms, new_forms=new, report=report,
                           types=field_types.all(), kind_labels=_kind_labels(), templates=designs.templates())


@bp.route("/templates/<name>", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def from_template(name):
    """A new form's draft copied from a shipped template, opened in the builder."""
    value = designs.create_from_template(actor(), name)
    flash(_("A copy of the template is your new form's draft: change what you need, then publish it."), "success")
    return redirect(url_for("design.editor", form_key=value["doc"]["x-form"]["key"]))


@bp.route("/new", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def new_form():
    f = request.form
    try:
        value = designs.create(actor(), f.get("key", "").strip(), f.get("title_zh", ""), f.get("title_en", ""))
    except Invalid as exc:
        flash(_words(exc) if exc.code != "exists" else _("A form with this key already exists."), "error")
        return redirect(url_for("design.index"))
    return redirect(url_for("design.editor", form_key=value["doc"]["x-form"]["key"]))


def _preview_context(form_key: str, doc: dict, values: dict, role: str = "", errors: dict | None = None,
                     said: str = "") -> dict:
    """The preview: as someone who may fill every field, or as people of `role` would meet the
    form under the policy in force (hidden, masked, read-only and writable fields)."""
    formdef = FormDef(doc)
    levels, may_create = {n: "write" for n in formdef.fields}, True
    roles = {r.name: role_title(r, current_locale()) for r in role_service.list_roles() if not r.retired_at}
    if role in roles:
        levels, may_create = designs.as_role(form_key, doc, role)
    else:
        role = ""
    return dict(pformdef=formdef, pvalues=values, plevels=levels, pshown=visible_fields(formdef, values),
                prequired=required_fields(formdef, values), ptriggers=formdef.rule_triggers, proles=roles,
                prole=role, pmay_create=may_create, perrors=errors or {}, psaid=said)


@bp.route("/<form_key>")
@requires(Perm.FORMS_MANAGE)
def editor(form_key):
    return _editor_page(form_key, request.args.get("field"))


def _editor_page(form_key: str, field: str | None, status: int = 200, was: str | None = None):
    """The editor: the whole page, or for the builder's own requests only its `builder` block
    (the page's address follows, so a reload shows the same). `was` names the field the panel
    showed before this change (its key may have followed its name)."""
    ctx = _editor_context(form_key, field)
    ctx["was"] = was
    headers = {"Vary": "HX-Request"}
    if is_htmx():
        headers["HX-Push-Url"] = url_for("design.editor", form_key=form_key, field=ctx["field"])
        return render_block("design/editor.html", "builder", **ctx), status, headers
    return render_template("design/editor.html", **ctx), status, headers


def _editor_context(form_key: str, field: str | None) -> dict:
    value = designs.draft(form_key)
    doc = value["doc"]
    problems = designs.problems(doc, actor()) if doc["properties"] else []  # a new form: first, add a field
    by_field: dict[str, list[str]] = {}
    for p in problems:
        by_field.setdefault(designs.field_of(p.pointer), []).append(problem_words(p, doc))
    if field and field not in doc["properties"]:
        field = None
    tidy = designs.tidy(doc)
    sound = not check_definition(tidy)
    placed = [n for sec in doc.get("x-layout", {}).get("sections", []) for n in sec["fields"] if n in doc["properties"]]
    ordered = list(dict.fromkeys(placed + list(doc["properties"])))  # as people see them: section by section
    ctx = _preview_context(form_key, tidy, {}) if sound else {}
    frozen = designs.frozen_keys(form_key) if value["base"] else set()
    return dict(
        key=form_key, value=value, doc=doc, problems=problems, by_field=by_field,
        field=field, spec=doc["properties"].get(field) if field else None, kinds=builder.kinds(),
        kind_labels=_kind_labels(), kind_of=builder.kind_of, option_rows=builder.option_rows,
        op_labels={k: _(v) for k, v in OP_LABELS.items()}, operators=OPERATORS, ops_for=_ops_for,
        rule_words=_rule_words, forms=_link_targets(form_key), sound=sound, frozen=frozen,
        shown_by=_display_choices(form_key, doc, doc["properties"].get(field) if field else None),
        published=versions_of(form_key), ordered=ordered, rule=_rule_draft(doc),
        undecided=[_label(doc, n) for n in decisions.undecided_fields(form_key) if n in doc["properties"]],
        deciders=[name for _u, name in decisions.deciders()],
        handed_over=designs.publish_requests(form_key).get(form_key), **ctx)


def _display_choices(form_key: str, doc: dict, spec: dict | None) -> list[tuple[str, str]]:
    """(key, name) of the fields of a link field's target form that may name its linked records:
    text and numbers (not links, files or people, nor restricted fields: those always show masked)."""
    target = (spec or {}).get("x-ref")
    if not target:
        return []
    try:
        formdef = FormDef(doc) if target == form_key else versions.current(target)[1]
    except (NotFound, ValueError, KeyError):
        return []
    locale = current_locale()
    return [(n, fd.label(locale)) for n, fd in formdef.fields.items()
            if fd.type in ("string", "integer", "number") and not fd.ref and fd.widget != "member"
            and fd.format != "attachment" and fd.sensitivity != "restricted"]


def _link_targets(form_key: str) -> list[tuple[str, str]]:
    """(key, name) of every published form a link field may point to, by name."""
    locale = current_locale()
    return [(f.key, d.title(locale)) for f, d in versions.all_forms()]


def _ops_for(spec: dict) -> list[str]:
    """The tests a rule may make of a field, by its kind."""
    kind = builder.kind_of(spec)
    if kind in ("select", "multiselect", "tags"):
        return ["in", "not_in", "filled"]
    if kind == "yesno":
        return ["equals", "filled"]
    if kind in ("integer", "number", "money", "date") or spec.get("type") in ("integer", "number"):
        return ["equals", "not_equals", "gt", "gte", "lt", "lte", "filled"]
    return ["equals", "not_equals", "filled"]


def _as_typed(spec: dict, value) -> str:
    """A value a rule holds as the designer types it (money in yuan, not the fen it is kept in)."""
    ft = field_types.get(spec.get("format"))
    if ft is not None and ft.as_text is not None and not isinstance(value, bool):
        return ft.as_text(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _rule_draft(doc: dict) -> dict:
    """The rule editor's state: a rule being edited (?rule=N) or a new one, with its conditions
    as (field, test, values)."""
    index = request.args.get("rule", type=int) if request.method == "GET" else None
    rules = doc.get("x-rules", [])
    if index is not None and 0 <= index < len(rules):
        rule = rules[index]
        conds = []
        for c in conditions(rule["when"]):
            op = next(o for o in OPERATORS if o in c)
            arg = c[op]
            values = arg if isinstance(arg, list) else [arg]
            conds.append({"field": c["field"], "op": op, "values": values,
                          "text": ", ".join(_as_typed(doc["properties"].get(c["field"]) or {}, v) for v in values)})
        return {"index": index, "conds": conds, "combine": "any" if "any" in rule["when"] else "all",
                "show": rule.get("show", []), "require": rule.get("require", [])}
    return {"index": None, "conds": [], "combine": "all", "show": [], "require": []}


ACCESS_DECISIONS = {
    "mask": N_("How this field is masked is decided by an administrator who manages access."),
    "sensitivity": N_("Lowering this field's sensitivity is decided by an administrator who manages access."),
    "owner": N_("Whose record it is decides who sees it: the owner field and the owner setting are changed by an "
                "administrator who manages access."),
    "unreadable": N_("This change to how the field is checked would be judged over values you may not read "
                     "(records outside your scope, or masked for you): an administrator who manages access can "
                     "publish it."),
}


def problem_words(p, doc: dict) -> str:
    """A publish check's finding in the designer's language, fields by their labels."""
    what = dict(p.params).get("what") if p.code == "access_decision" else None
    if what in ACCESS_DECISIONS:
        return _(ACCESS_DECISIONS[what])
    if p.code in CHECK_MESSAGES:
        params = dict(p.params)
        for key in ("field", "trigger"):
            if key in params:
                params[key] = _label(doc, params[key])
        return _(CHECK_MESSAGES[p.code]) % params
    if p.code == "autonumber_switch":
        return _("A published field cannot become an auto-number or stop being one (numbers could repeat): add a "
                 "new field instead.")
    if p.pointer.endswith("/x-ref"):
        return _("Choose the form whose records this field links to.")
    if p.pointer.endswith("/x-ref-display"):
        return _("The linked form no longer has the field chosen to name its records: choose another.")
    if "/enum" in p.pointer or "/x-enum-labels" in p.pointer:
        return _("A choice field needs at least one option, with a label in both languages.")
    if p.pointer.endswith("/pattern"):
        return _("This pattern cannot be used: %(reason)s", reason=p.reason)
    if p.pointer.startswith("/x-rules"):
        return _("A rule is not valid: %(reason)s", reason=p.reason)
    return _("Not valid: %(reason)s", reason=p.reason)


def versions_of(form_key: str) -> list[dict]:
    try:
        form = versions.get_form(form_key)
    except NotFound:
        return []
    out, before = [], None
    notes = designs.version_notes(form_key)
    for v in range(1, form.current_version + 1):
        doc = versions.definition(form, v).doc
        labels = {n: _label(d, n) for d in (before or {}, doc) for n in d.get("properties", {})}
        log = builder.changelog(before, doc)
        out.append({"version": v, "note": notes.get(v, ""),
                    **{k: [labels.get(n, n) for n in log[k]] for k in ("added", "removed", "changed")}})
        before = doc
    return out[::-1]


def _label(doc: dict, name: str) -> str:
    spec = doc["properties"].get(name) or {}
    locale = current_locale()
    return (spec.get("x-label") or {}).get(locale) or name


def _value_words(fd, value) -> str:
    """A value a rule compares with, as people read it (an option's label, money in yuan)."""
    if fd is None:
        return str(value)
    ft = fd.field_type
    if ft is not None and ft.display is not None:
        return ft.display(value)
    return fd.option_label(value, current_locale())


def _rule_words(doc: dict, rule: dict) -> str:
    """A rule in the designer's words: "when Kind is one of On site: show Receipt"."""
    when = rule["when"]
    joiner = _(" and ") if "all" in when else _(" or ")
    parts = []
    for c in conditions(when):
        spec = doc["properties"].get(c["field"]) or {}
        fd = FormDef({"properties": {c["field"]: spec}, "x-form": {"key": "x", "title": {"en": "x"}}}).fields.get(c["field"])
        for op in OPERATORS:
            if op not in c:
                continue
            arg = c[op]
            shown = _(", ").join(_value_words(fd, a) for a in arg) if isinstance(arg, list) else \
                ("" if op == "filled" else _value_words(fd, arg))
            words = _(OP_LABELS[op]) if not (op == "filled" and not arg) else _("is empty")
            parts.append(f"{_label(doc, c['field'])} {words} {shown}".strip())
    effects = []
    if rule.get("show"):
        effects.append(_("show %(fields)s", fields=_(", ").join(_label(doc, n) for n in rule["show"])))
    if rule.get("require"):
        effects.append(_("require %(fields)s", fields=_(", ").join(_label(doc, n) for n in rule["require"])))
    return _("When %(cond)s: %(effects)s", cond=joiner.join(parts), effects="; ".join(effects))


@bp.route("/<form_key>/fields", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def add_field(form_key):
    """A field from the palette (named after its kind until the designer names it) or from the
    "add a field" box; at the end of a section, or where it was dropped."""
    f = request.form
    added: dict = {}
    kind = f.get("kind", "text")
    zh, en = f.get("label_zh", "").strip(), f.get("label_en", "").strip()
    if not zh and not en and kind in builder.kinds():
        zh, en = _default_names(kind)
    try:
        index = int(f["index"]) if f.get("index", "").strip() else None
    except ValueError:
        raise Invalid("the place must be a whole number", field="index", code="type") from None

    def change(doc):
        doc, added["key"] = builder.add_field(doc, kind, zh, en, f.get("section") or None,
                                              taken=designs.retired_keys(form_key), index=index)
        return doc
    return _apply(form_key, change, opened=lambda: added.get("key"),
                  done=_("Field added: name it here. It starts hidden for every role until an administrator decides "
                         "in the permission matrix."))


@bp.route("/<form_key>/fields/<name>", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def update_field(form_key, name):
    """The field panel: saved on every change (and by its button). Its key follows its name, or
    the key typed, until a version holding it is published."""
    settled: dict = {}
    frozen = designs.frozen_keys(form_key)

    def change(doc):
        before = doc["properties"].get(name)
        after = builder.update_field(doc, name, request.form)
        wanted = request.form.get("key", "").strip()
        after, settled["key"] = builder.settle_key(after, name, wanted if wanted != name else "", frozen,
                                                   before=before)
        return after
    return _apply(form_key, change, field=name, opened=lambda: settled.get("key", name))


@bp.route("/<form_key>/fields/<name>/remove", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def remove_field(form_key, name):
    gone: dict = {}

    def change(doc):
        after = builder.remove_field(doc, name)
        gone["rules"] = len(doc.get("x-rules", [])) - len(after.get("x-rules", []))
        return after
    response = _apply(form_key, change)
    if "rules" in gone:  # it took
        n = gone["rules"]
        flash(_("Field removed from the draft.") + (" " + ngettext("%(num)s rule that used it was removed too.",
                                                                  "%(num)s rules that used it were removed too.", n)
                                                  if n else ""), "success")
    return response


@bp.route("/<form_key>/fields/<name>/step", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def step_field(form_key, name):
    step = -1 if request.form.get("dir") == "up" else 1
    return _apply(form_key, lambda doc: builder.step_field(doc, name, step), anchor=f"#row-{name}")


@bp.route("/<form_key>/move", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def move_field(form_key):
    """Drag and drop: the field, the section it was dropped in and its place there."""
    f = request.form
    try:
        index = int(f.get("index", ""))
    except ValueError:
        abort(400)
    return _apply(form_key, lambda doc: builder.move_field(doc, f.get("field", ""), f.get("section", ""), index))


@bp.route("/<form_key>/sections", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def add_section(form_key):
    f = request.form
    return _apply(form_key, lambda doc: builder.add_section(doc, f.get("section_zh", ""), f.get("section_en", "")))


@bp.route("/<form_key>/sections/<skey>", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def rename_section(form_key, skey):
    f = request.form
    return _apply(form_key, lambda doc: builder.rename_section(doc, skey, f.get("section_zh", ""), f.get("section_en", "")))


@bp.route("/<form_key>/sections/<skey>/step", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def step_section(form_key, skey):
    step = -1 if request.form.get("dir") == "up" else 1
    return _apply(form_key, lambda doc: builder.step_section(doc, skey, step), anchor="#fields")


@bp.route("/<form_key>/sections/<skey>/remove", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def remove_section(form_key, skey):
    return _apply(form_key, lambda doc: builder.remove_section(doc, skey), anchor="#fields")


def _rule_from_form(doc: dict, f):
    """(conditions, combine, show, require) from the rule editor's pickers."""
    conds = []
    for i in range(3):
        field = f.get(f"field_{i}")
        if not field:
            continue
        values = [v for v in f.getlist(f"value_{i}") if v] or [f.get(f"text_{i}", "")]
        conds.append(builder.condition(doc, field, f.get(f"op_{i}", "in"), values))
    return conds, f.get("combine", "all"), f.getlist("show"), f.getlist("require")


@bp.route("/<form_key>/rules", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def add_rule(form_key):
    return _apply(form_key, lambda doc: builder.add_rule(doc, *_rule_from_form(doc, request.form)), anchor="#rules",
                  done=_("Rule added."))


@bp.route("/<form_key>/rules/<int:index>", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def replace_rule(form_key, index):
    return _apply(form_key, lambda doc: builder.replace_rule(doc, index, *_rule_from_form(doc, request.form)),
                  anchor="#rules", done=_("Rule saved."))


@bp.route("/<form_key>/rules/editor", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def rule_editor(form_key):
    """The rule editor drawn again for the field just chosen (its tests and values); saves nothing."""
    doc = designs.draft(form_key)["doc"]
    f = request.form
    conds = [{"field": f.get(f"field_{i}", ""), "op": f.get(f"op_{i}", ""), "values": f.getlist(f"value_{i}"),
              "text": f.get(f"text_{i}", "")}
             for i in range(3) if f.get(f"field_{i}") in doc["properties"]]
    index = f.get("index", type=int)
    rule = {"index": index if index is not None and 0 <= index < len(doc.get("x-rules", [])) else None,
            "conds": conds, "combine": f.get("combine", "all"), "show": f.getlist("show"), "require": f.getlist("require")}
    ctx = _editor_context(form_key, None)
    ctx["rule"], ctx["composing"] = rule, True
    return render_block("design/editor.html", "rule_editor", **ctx), 200, {"Vary": "HX-Request"}


@bp.route("/<form_key>/rules/<int:index>/remove", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def remove_rule(form_key, index):
    return _apply(form_key, lambda doc: builder.remove_rule(doc, index), anchor="#rules")


@bp.route("/<form_key>/settings", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def settings(form_key):
    new_key = request.form.get("key", "").strip()
    if new_key and new_key != form_key:
        try:
            form_key = designs.rename(actor(), form_key, new_key, request.form.get("rev", ""))
        except Conflict:
            flash(_("Someone changed this draft since you opened it. Look at it again, then repeat your change."),
                  "error")
            return _editor_page(form_key, None, 409) if is_htmx() else _back(form_key)
        except Invalid as exc:
            flash(_("A form with this key already exists.") if exc.code == "exists" else
                  _("The key of a published form cannot change.") if exc.code == "key_frozen" else
                  _("A form key: lower-case letters, digits and _ (starting with a letter), up to 48."), "error")
            return _editor_page(form_key, None, 422) if is_htmx() else _back(form_key)
        return _apply(form_key, lambda doc: builder.update_settings(doc, request.form), anchor="#settings",
                      done=_("Settings saved."), rev=designs.draft(form_key)["rev"])
    return _apply(form_key, lambda doc: builder.update_settings(doc, request.form), anchor="#settings",
                  done=_("Settings saved."))


def _preview_input(form_key: str):
    """(definition, values typed, problems, context) of a preview request; None when the draft
    cannot be drawn (it has problems to fix first)."""
    doc = designs.tidy(designs.draft(form_key)["doc"])
    if check_definition(doc):
        return None
    formdef = FormDef(doc)
    role = request.form.get("as_role", "")
    ctx = _preview_context(form_key, doc, {}, role)
    writable = [n for n, level in ctx["plevels"].items() if level == "write"]
    values, coerce_errors = coerce_form_input(formdef, request.form, writable)
    values = {k: v for k, v in values.items() if v not in (None, [])}
    problems = coerce_errors + validate(formdef, values)
    return formdef, values, problems, _preview_context(form_key, doc, values, ctx["prole"])


@bp.route("/<form_key>/preview", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def preview(form_key):
    """HTMX: a field of the preview changed. The same answer as a real form's field check (the
    field's problem, and the fields its rules show or require drawn again), from the draft."""
    found = _preview_input(form_key)
    if found is None:
        return "", 204
    formdef, values, problems, ctx = found
    name = request.form.get("_field", "")
    if name not in formdef.fields:
        raise Invalid("unknown field", field="_field", code="unknown_field")
    own = next((e for e in problems if e.field == name), None)
    warning = warnings(formdef, values, [name]).get(name) if own is None else None
    return render_block(
        "records/form.html", "field_check", formdef=formdef, values=values, levels=ctx["plevels"],
        required=ctx["prequired"], shown=ctx["pshown"], rule_triggers=ctx["ptriggers"], members=[],
        check_field=name, check_url=url_for("design.preview", form_key=form_key),
        field_error=translate_details([own.as_dict()])[0]["message"] if own else "",
        field_warning=(warning.get(current_locale()) or warning.get("en", "")) if warning else "",
        affected=[f for f in formdef.fields if f in formdef.ruled_by(name)]), 200, {"Vary": "HX-Request"}


@bp.route("/<form_key>/preview/try", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def try_preview(form_key):
    """HTMX: the preview drawn again, as the chosen role, with every problem a save would report
    (or word that it would be saved). Nothing is stored: it is a try."""
    found = _preview_input(form_key)
    if found is None:
        return "", 204
    formdef, values, problems, ctx = found
    shown = ctx["pshown"]
    kept = [p for p in problems if p.field in shown and ctx["plevels"].get(p.field) == "write"]
    errors = {d["field"]: d["message"] for d in translate_details([p.as_dict() for p in kept])}
    if not request.form.get("_try"):
        said = ""  # only the role changed: the preview drawn again for it
    elif errors:
        said = ngettext("%(num)s problem: a save would be refused and each shown where it is. Nothing was stored.",
                        "%(num)s problems: a save would be refused and each shown where it is. Nothing was stored.",
                        len(errors))
    else:
        said = _("Every check passes: this record would be saved. Nothing was stored (this is a try).")
    ctx.update(perrors=errors, psaid=said, key=form_key)
    return render_block("design/editor.html", "preview", **ctx), 200, {"Vary": "HX-Request"}


@bp.route("/<form_key>/publish", methods=["GET", "POST"])
@requires(Perm.FORMS_MANAGE)
def publish(form_key):
    status = 200
    errors: list[dict] = []
    if request.method == "POST" and request.form.get("preview_only"):
        pass  # "update the preview": the choices made are shown applied, nothing is published
    elif request.method == "POST":
        restricted_before = _restricted(form_key)
        try:
            version = designs.publish(actor(), form_key, request.form.get("rev", ""), note=request.form.get("note", ""),
                                      convert_fields=request.form.getlist("convert"), mapping=_mapping(request.form))
        except Conflict:
            flash(_("Someone changed this draft since you checked it. Check it again."), "error")
            status = 409
        except Forbidden:
            flash(_("Some affected records are outside what you may change: send the draft to an access manager to "
                    "publish (below)."), "error")
            status = 403
        except Invalid as exc:
            errors, status = exc.details or [{"field": exc.field or "", "message": exc.message}], 422
            errors = [{**d, "message": _("%(n)s record(s) hold values this change makes invalid: tick “Convert” "
                                         "to convert them as shown.", n=d.get("count", 0))}
                      if d.get("code") == "needs_conversion" else
                      {**d, "message": _("Nothing to publish.")} if d.get("code") == "no_changes" else
                      {**d, "message": _("A required field cannot be emptied: choose an option for each value.")}
                      if d.get("code") == "required_emptied" else d
                      for d in errors]
        else:
            if restricted_before != _restricted(form_key):  # stored values follow: sealed or opened by the job
                submit_job("reseal", RESEAL_JOB, "default", None, {"why": f"form {form_key} version {version}"})
            flash(_("Version %(v)s is published. New fields stay hidden for everyone until an administrator who "
                    "manages access decides who sees them (People & access → access policies).", v=version), "success")
            return redirect(url_for("design.editor", form_key=form_key))
    plan = designs.preview(actor(), form_key, mapping=_mapping(request.form) if request.method == "POST" else None)
    try:
        published = versions.current(form_key)[1].doc
    except NotFound:
        published = {"properties": {}}
    words = {"type": _("kind"), "format": _("kind"), "enum": _("options"), "items": _("options"),
             "x-enum-labels": _("option names"), "x-label": _("name"), "x-help": _("help"), "required": _("required"),
             "minimum": _("limits"), "maximum": _("limits"), "minLength": _("length"), "maxLength": _("length"),
             "pattern": _("pattern"), "default": _("default value"), "x-mask": _("mask"),
             "x-sensitivity": _("sensitivity"), "x-reason-required": _("reason required"), "x-ref": _("linked form")}
    request_row = designs.publish_requests(form_key).get(form_key)
    return render_template("design/publish.html", key=form_key, plan=plan, errors=errors,
                           handover=_needs_handover(plan) or status == 403, request_row=request_row,
                           deciders=[name for _u, name in decisions.deciders()],
                           old_label=lambda n: _label(published, n),
                           change_words=lambda keys: _(", ").join(dict.fromkeys(words.get(k, _("other settings"))
                                                                                for k in keys)),
                           words=lambda p: problem_words(p, plan["draft"]["doc"]),
                           label=lambda n: _label(plan["draft"]["doc"], n) if n in plan["draft"]["doc"]["properties"]
                           else n), status


RESEAL_JOB = "formwarden.jobs.keys.run_reseal"


def _needs_handover(plan: dict) -> bool:
    """Whether only an access manager can publish this draft: conversions over records outside
    the designer's scope, or checks judged over values they may not read."""
    return any(not c["allowed"] for c in plan["conversions"].values()) or any(
        p.code == "access_decision" for p in plan["problems"])


@bp.route("/<form_key>/publish/request", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def request_publish(form_key):
    """The designer hands the draft to the access managers, with a note; it waits on their home."""
    try:
        designs.request_publish(actor(), form_key, request.form.get("rev", ""), request.form.get("note", ""))
    except Conflict:
        keep_typing(f"publish-note:{form_key}", request.form.get("note", ""))
        flash(_("Someone changed this draft since you checked it. Check it again."), "error")
        return redirect(url_for("design.publish", form_key=form_key))
    names = _(", ").join(name for _u, name in decisions.deciders())
    flash(_("Sent: the draft waits on the home page of the access managers (%(names)s) until one of them publishes "
            "it.", names=names), "success")
    return redirect(url_for("design.editor", form_key=form_key))


def _restricted(form_key: str) -> frozenset[str]:
    try:
        return versions.current(form_key)[1].restricted_fields
    except NotFound:
        return frozenset()


def _mapping(form) -> dict:
    """{field: {old option: new option or None}} from the publish page's choices per stray value
    (`old:<field>:<i>` holds the old value as JSON, `map:<field>:<i>` the new option, "" to empty)."""
    out: dict = {}
    for key in form:
        if not key.startswith("old:"):
            continue
        _p, field, i = key.split(":", 2)
        try:
            old = json.loads(form[key])
        except ValueError:
            continue
        if isinstance(old, (str, int, float, bool)):
            out.setdefault(field, {})[old] = form.get(f"map:{field}:{i}") or None
    return out


@bp.route("/<form_key>/discard", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def discard(form_key):
    designs.discard(actor(), form_key)
    flash(_("The draft is discarded."), "success")
    try:
        versions.get_form(form_key)
    except NotFound:
        return redirect(url_for("design.index"))
    return _back(form_key)


@bp.route("/<form_key>/export")
@requires(Perm.FORMS_MANAGE)
def export(form_key):
    doc = designs.export(actor(), form_key)
    body = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{form_key}.json"'})


@bp.route("/<form_key>/import", methods=["POST"])
@requires(Perm.FORMS_MANAGE)
def import_definition(form_key):
    upload = request.files.get("file")
    if upload is None:
        flash(_("Choose a definition file (.json) to import."), "error")
        return _back(form_key)
    try:
        designs.import_file(actor(), form_key, upload.read(designs.MAX_IMPORT + 1), rev=request.form.get("rev"))
    except Conflict:
        flash(_("Someone changed this draft since you opened it. Look at it again, then repeat your change."), "error")
        return _back(form_key)
    except DomainError as exc:
        details = "; ".join(f"{d.get('pointer', '')} {d.get('reason', d.get('message', ''))}" for d in exc.details[:5])
        flash(f"{say(exc)} {details}".strip(), "error")
        return _back(form_key)
    flash(_("The file is now this form's draft: check it, then publish."), "success")
    return _back(form_key)
