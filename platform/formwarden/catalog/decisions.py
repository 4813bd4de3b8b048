"""What waits for an access manager's decision: fields a publish left undecided (hidden from
everyone until the permission matrix decides) and drafts a designer handed over to be published.
Shown on their home page and counted in the header; the designer sees whom they wait for."""
from __future__ import annotations

from dataclasses import dataclass

from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm, has_perm
from formwarden.auth.users import holders_of
from formwarden.catalog import designs, policies
from formwarden.errors import NotFound
from formwarden.forms import versions
from formwarden.forms.definition import FormDef


@dataclass(frozen=True)
class Waiting:
    kind: str  # "fields" (decide in the matrix) or "publish" (a draft handed over)
    form_key: str
    formdef: FormDef | None  # the published form (fields); None for a form never published
    title: dict  # the form's name per locale
    fields: tuple[str, ...] = ()
    by: str = ""
    note: str = ""
    at: str = ""


def waiting(actor: Actor) -> list[Waiting]:
    """What waits for `actor` (nothing unless they manage access)."""
    if not has_perm(actor, Perm.ACCESS_MANAGE):
        return []
    out = []
    undecided = policies.undecided_by_form()
    for form, formdef in versions.all_forms():
        fields = tuple(n for n in undecided.get(form.id, ()) if n in formdef.fields)
        if fields:
            out.append(Waiting("fields", form.key, formdef, formdef.doc["x-form"]["title"], fields))
    for key, req in designs.publish_requests().items():
        out.append(Waiting("publish", key, None, req["title"], by=req["by"], note=req["note"], at=req["at"]))
    return out


def deciders() -> list[tuple[str, str]]:
    """(username, display name) of the people who decide: active holders of access management."""
    return holders_of(Perm.ACCESS_MANAGE)


def undecided_fields(form_key: str) -> list[str]:
    """Fields of the published form still waiting for the matrix (hidden from everyone)."""
    try:
        form, formdef = versions.current(form_key)
    except NotFound:  # never published: nothing waits
        return []
    return [n for n in policies.undecided(form) if n in formdef.fields]
