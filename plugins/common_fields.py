"""Field types used everywhere: e-mail address."""
from __future__ import annotations

import re
import unicodedata

from formwarden.forms import FieldType
from formwarden.forms.registry import half_width
from formwarden.plugins import hookimpl

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def is_email(value) -> bool:
    """Printable characters only: no zero-width or other format characters hiding in an address."""
    return isinstance(value, str) and len(value) <= 254 and value.isprintable() and bool(_EMAIL.fullmatch(value))


def normalise_email(text: str) -> str:
    return "".join(c for c in half_width(text) if unicodedata.category(c) != "Cf").lower()


@hookimpl
def formwarden_field_types():
    return [FieldType("email", is_email, widget="email", normalise=normalise_email,
                      schema={"type": "string", "maxLength": 254},
                      label={"zh-CN": "邮箱", "en": "E-mail"},
                      message={"zh-CN": "请输入有效的邮箱地址，如 name@example.com",
                               "en": "Enter a valid e-mail address, such as name@example.com"})]
