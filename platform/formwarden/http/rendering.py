"""Render a whole page or one named block of it (the HTMX fragment) from the same template."""
from __future__ import annotations

from flask import Flask, current_app, render_template, request, session
from jinja2 import ChoiceLoader, FunctionLoader

from formwarden.forms.registry import field_types


def _field_type_template(name: str):
    """`fieldtype/<type>`: the widget macro a field-type plugin gives (its own Jinja source)."""
    if not name.startswith("fieldtype/"):
        return None
    ft = field_types.get(name.removeprefix("fieldtype/"))
    return ft.widget_macro if ft is not None and ft.widget_macro else None


def add_plugin_templates(app: Flask) -> None:
    app.jinja_env.loader = ChoiceLoader([app.jinja_env.loader, FunctionLoader(_field_type_template)])  # type: ignore[list-item]


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def render_block(template_name: str, block: str, **context) -> str:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    template = app.jinja_env.get_or_select_template(template_name)
    app.update_template_context(context)
    ctx = template.new_context(context)
    return "".join(template.blocks[block](ctx))


def page_or_block(template_name: str, block: str, **context):
    """The named block for HTMX requests, else the full page; both vary on HX-Request."""
    if is_htmx() and not request.headers.get("HX-Boosted"):
        body = render_block(template_name, block, **context)
    else:
        body = render_template(template_name, **context)
    return body, 200, {"Vary": "HX-Request"}


_KEPT = "_kept_typing"


def keep_typing(key: str, text: str) -> None:
    """A refused form that answers with a redirect: what was typed (a reason, a note) waits in the
    session for the next page to put back (`kept_typing`), so no refusal wipes it."""
    if text:
        kept = dict(session.get(_KEPT) or {})
        kept[key] = text[:1000]
        session[_KEPT] = kept


def kept_typing(key: str) -> str:
    """The text kept for `key` by a refused form, once ("" when none)."""
    kept = dict(session.get(_KEPT) or {})
    text = kept.pop(key, "")
    if text:
        session[_KEPT] = kept
    return str(text)
