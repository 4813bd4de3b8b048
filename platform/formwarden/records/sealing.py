"""Restricted fields are sealed (encrypted) before they reach the database — in records and in
audit diffs alike — and opened only for the fields a reader may see."""
from __future__ import annotations

from formwarden.crypto.fields import is_envelope, seal, unseal
from formwarden.forms.definition import FormDef


def seal_data(formdef: FormDef, data: dict) -> dict:
    names = formdef.restricted_fields
    if not names.intersection(data):
        return data
    return {k: (seal(formdef.key, k, v) if k in names and v is not None and not is_envelope(v) else v)
            for k, v in data.items()}


def unseal_data(formdef: FormDef, data: dict, only=None) -> dict:
    """Open sealed values (of the fields in `only`, when given); other values pass through.

    Any sealed value is opened, not only those of fields restricted now: a field that stopped
    being restricted keeps sealed values until the re-sealing job opens them, and a reader
    must never be shown ciphertext meanwhile."""
    if not any(type(v) is dict for v in data.values()):  # no envelope at all: the common case
        return data
    return {k: (unseal(formdef.key, k, v) if is_envelope(v) and (only is None or k in only) else v)
            for k, v in data.items()}


def seal_diff(formdef: FormDef, diff: dict) -> dict:
    names = formdef.restricted_fields
    if not names.intersection(diff):
        return diff
    return {k: ([None if v is None else seal(formdef.key, k, v) for v in pair] if k in names else pair)
            for k, pair in diff.items()}


def unseal_diff(formdef: FormDef, diff: dict, only=None) -> dict:
    return {k: [unseal(formdef.key, k, v) if is_envelope(v) and (only is None or k in only) else v for v in pair]
            for k, pair in diff.items()}
