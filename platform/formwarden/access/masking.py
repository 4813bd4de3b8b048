"""Masks applied on the server so the browser never receives a masked field's clear value."""
from __future__ import annotations

FULL_MASK = "******"


def mask_value(value, spec: str = "all"):
    if value is None or value == "":
        return value
    text = str(value)
    if not isinstance(value, str) or not spec.startswith("keep:"):
        return FULL_MASK
    head, tail = (int(n) for n in spec[5:].split(","))
    if len(text) <= head + tail:
        return "*" * len(text)
    return text[:head] + "*" * (len(text) - head - tail) + (text[-tail:] if tail else "")
