"""Chinese field types: mainland mobile, 18-digit resident ID (with checksum), unified social credit code."""
from __future__ import annotations

import datetime as dt
import re

from formwarden.forms import FieldType
from formwarden.plugins import hookimpl

_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_ID = re.compile(r"^[1-9][0-9]{16}[0-9X]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def is_cn_mobile(value: str) -> bool:
    return bool(_MOBILE.fullmatch(value))


def resident_id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def is_resident_id(value: str) -> bool:
    if not _ID.fullmatch(value):
        return False
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not dt.date(1900, 1, 1) <= born <= dt.date.today():
        return False
    return resident_id_check_char(value[:17]) == value[17]


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS))
    return _USCC_CHARS[(31 - total % 31) % 31]


def is_uscc(value: str) -> bool:
    if len(value) != 18 or any(c not in _USCC_CHARS for c in value):
        return False
    return uscc_check_char(value[:17]) == value[17]


@hookimpl
def formwarden_field_types():
    return [
        FieldType("cn-mobile", is_cn_mobile, widget="tel", mask="keep:3,4",
                  label={"zh-CN": "手机号", "en": "Mainland mobile"}),
        FieldType("cn-resident-id", is_resident_id, widget="text", mask="keep:6,4",
                  label={"zh-CN": "身份证号", "en": "Resident ID"}),
        FieldType("cn-uscc", is_uscc, widget="text", mask="keep:2,4",
                  label={"zh-CN": "统一社会信用代码", "en": "Unified social credit code"}),
    ]
