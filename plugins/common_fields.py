"""Field types used everywhere: e-mail address."""
from __future__ import annotations

import re

from formwarden.forms import FieldType
from formwarden.forms.registry import half_width
from formwarden.plugins import hookimpl

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def is_email(value) -> bool:
    return isinstance(value, str) and len(value) <= 254 and bool(_EMAIL.fullmatch(value))


@hookimpl
def formwarden_field_types():
    return [FieldType("email", is_email, widget="email", normalise=lambda s: half_width(s).lower(),
                      schema={"type": "string", "maxLength": 254},
                      label={"zh-CN": "邮箱", "en": "E-mail"},
                      message={"zh-CN": "请输入有效的邮箱地址，如 name@example.com",
                               "en": "Enter a valid e-mail address, such as name@example.com"})]
