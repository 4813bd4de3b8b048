"""Chinese field types: mainland mobile, 18-digit resident ID, unified social credit code,
money in CNY and a mainland address (province / city / district).

Check digits, birth dates and region codes come from python-stdnum (GB 11643 MOD 11-2 and
GB 32100); mobile segments from phonenumbers. Values typed with full-width digits, spaces or
dashes are normalised before they are checked and stored.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import phonenumbers
from stdnum import numdb
from stdnum.cn import ric, uscc

from formwarden.forms import FieldType
from formwarden.forms.registry import half_width
from formwarden.plugins import hookimpl

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_ID = re.compile(r"[1-9][0-9]{16}[0-9X]")


def normalise_mobile(text: str) -> str:
    """'+86 138-1234 5678', '１３８１２３４５６７８' → '13812345678'."""
    digits = half_width(text).replace("-", "").replace("(", "").replace(")", "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return digits


def is_cn_mobile(value) -> bool:
    """Loose on purpose: any 11-digit number in the 13x–19x ranges (new segments open every year)."""
    return isinstance(value, str) and bool(_MOBILE.fullmatch(value))


def mobile_warning(value) -> dict | None:
    """A number in a segment phonenumbers does not know yet is kept, with a word to check it."""
    try:
        known = phonenumbers.is_valid_number(phonenumbers.parse(value, "CN"))
    except phonenumbers.NumberParseException:
        known = False
    if known:
        return None
    return {"zh-CN": "号段不常见，请核对号码", "en": "Unusual number range: please check the number"}


def _region_known(code: str) -> bool:
    """A region code (first six digits) that exists or existed: an ID keeps the code of where it
    was issued, which may be older or newer than the holder (so no check against the birth year)."""
    info = {k: v for _part, props in numdb.get("cn/loc").info(code) for k, v in props.items()}
    return bool(info.get("county"))


def normalise_id(text: str) -> str:
    return half_width(text).upper()


def is_resident_id(value) -> bool:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        return False
    if ric.calc_check_digit(value) != value[17]:
        return False
    try:
        born = ric.get_birth_date(value)
    except Exception:  # stdnum: InvalidComponent for a date that does not exist
        return False
    return dt.date(1900, 1, 1) <= born <= dt.date.today() and _region_known(value[:6])


def is_uscc(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return uscc.validate(value) == value
    except Exception:  # stdnum's ValidationError and its kinds
        return False


_MONEY = re.compile(r"-?(?:[0-9]{1,13}|[0-9]{1,3}(?:,[0-9]{3}){1,4})(?:\.[0-9]{1,2})?")


def normalise_money(text: str) -> int:
    """'¥12,345.5' → 1234550 (cents, exact: Decimal, never float). Plain ASCII digits only after
    full-width ones are made half-width, at most two decimals and 13 digits before the point
    (no exponents: '1e999999' would take a worker minutes to expand)."""
    plain = half_width(text[:40]).replace("，", ",").lstrip("¥￥").removeprefix("CNY").removesuffix("元")
    if not _MONEY.fullmatch(plain):  # commas only as thousands separators: "12,34" is refused
        raise ValueError(text[:40])
    return int(Decimal(plain.replace(",", "")) * 100)


def show_money(cents) -> str:
    if not isinstance(cents, int) or isinstance(cents, bool):
        return str(cents)
    sign, cents = ("-" if cents < 0 else ""), abs(cents)
    return f"¥{sign}{cents // 100:,}.{cents % 100:02d}"


def money_text(cents) -> str:
    if not isinstance(cents, int) or isinstance(cents, bool):
        return str(cents)
    sign, cents = ("-" if cents < 0 else ""), abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _regions() -> dict[str, dict[str, set[str]]]:
    """Province → city → districts, by today's names, from stdnum's table of region codes (a
    municipality's "市辖区" is filed under the municipality's own name)."""
    if "tree" not in _REGIONS:
        names = dict(_table())
        tree: dict[str, dict[str, set[str]]] = {}
        for code, name in sorted(names.items()):
            province = names.get(code[:2] + "0000")
            if province is None or code.endswith("0000"):
                continue
            cities = tree.setdefault(province, {})
            city = names.get(code[:4] + "00") or province
            city = province if city == "市辖区" else city
            if code.endswith("00"):
                cities.setdefault(city, set())
            else:
                cities.setdefault(city, set()).add(name)
        _REGIONS["tree"] = tree
    return _REGIONS["tree"]


_REGIONS: dict = {}


def _table():
    """(six-digit code, current name) for every region in stdnum's table that still exists."""
    from importlib.resources import files
    province = ""
    for line in files("stdnum").joinpath("cn/loc.dat").read_text("utf-8").splitlines():
        m = re.match(r'^(\s*)(\d+)\s+(?:province|county)="([^"]*)"', line)
        if not m:
            continue
        if not m.group(1):
            province = m.group(2)
            yield province + "0000", m.group(3)
            continue
        current = [n.split("]")[-1] for n in m.group(3).split(",")
                   if not n.startswith("[") or n.split("]")[0].endswith("-")]
        if current:
            yield province + m.group(2), current[-1]


def normalise_address(text: str) -> str:
    """Spaces tidied; an address written without them ("浙江省杭州市西湖区文三路90号", as most
    people write it) is split at the province, city and district it starts with."""
    text = " ".join(text.replace("\u3000", " ").split())
    if " " in text:
        return text
    tree = _regions()
    province = next((p for p in sorted(tree, key=len, reverse=True) if text.startswith(p)), None)
    if province is None:
        return text
    rest, parts = text[len(province):], [province]
    cities = tree[province]
    city = next((c for c in sorted(cities, key=len, reverse=True) if c != province and rest.startswith(c)), None)
    if city is not None:
        parts.append(city)
        rest = rest[len(city):]
    districts = cities.get(city or province, set())
    district = next((d for d in sorted(districts, key=len, reverse=True) if rest.startswith(d)), None)
    if district is not None:
        parts.append(district)
        rest = rest[len(district):]
    return " ".join(parts + ([rest] if rest else []))


def is_cn_address(value) -> bool:
    """'省 市 区 详细地址': a province, one of its cities and a district of that city; a
    municipality may leave out the city ('北京市 朝阳区 …'), a city without districts the district."""
    if not isinstance(value, str):
        return False
    parts = value.split(" ")
    cities = _regions().get(parts[0])
    if cities is None or len(parts) < 2:
        return False
    if len(parts) >= 3 and parts[2] in cities.get(parts[1], ()):
        return True
    if parts[1] in cities.get(parts[0], ()):  # municipality
        return True
    return parts[1] in cities and not cities[parts[1]]


ADDRESS_MACRO = """{% macro widget(fd, value, locale, attrs) -%}
<input id="in-{{ fd.name }}" name="{{ fd.name }}" type="text" value="{{ value or '' }}" autocomplete="street-address"
  placeholder="{{ '省 市 区 详细地址' if locale == 'zh-CN' else 'Province City District Street' }}" {{ attrs }}>
{%- endmacro %}"""


@hookimpl
def formwarden_field_types():
    return [
        FieldType("cn-mobile", is_cn_mobile, widget="tel", mask="keep:3,4", normalise=normalise_mobile,
                  warn=mobile_warning, schema={"type": "string", "maxLength": 11, "x-sensitivity": "confidential"},
                  label={"zh-CN": "手机号", "en": "Mainland mobile"},
                  message={"zh-CN": "请输入 11 位中国大陆手机号", "en": "Enter an 11-digit mainland mobile number"}),
        FieldType("cn-resident-id", is_resident_id, widget="text", mask="keep:6,4", normalise=normalise_id,
                  schema={"type": "string", "maxLength": 18, "x-sensitivity": "restricted"},
                  label={"zh-CN": "身份证号", "en": "Resident ID"},
                  message={"zh-CN": "身份证号不正确：请核对出生日期、地区码和最后一位校验码",
                           "en": "Not a valid resident ID: check the birth date, region code and the last (check) character"}),
        FieldType("cn-uscc", is_uscc, widget="text", mask="keep:2,4", normalise=normalise_id,
                  schema={"type": "string", "maxLength": 18},
                  label={"zh-CN": "统一社会信用代码", "en": "Unified social credit code"},
                  message={"zh-CN": "统一社会信用代码不正确：请核对 18 位代码及最后一位校验码",
                           "en": "Not a valid unified social credit code: check the 18 characters and the last (check) one"}),
        FieldType("cny", lambda v: isinstance(v, int) and abs(v) < 10**15, widget="money", normalise=normalise_money,
                  display=show_money, as_text=money_text, schema={"type": "integer", "minimum": 0, "x-unit": "CNY"},
                  label={"zh-CN": "金额（元）", "en": "Amount (CNY)"},
                  message={"zh-CN": "请输入金额，最多两位小数", "en": "Enter an amount with at most two decimals"}),
        FieldType("cn-address", is_cn_address, widget="text", mask="keep:6,0", normalise=normalise_address,
                  widget_macro=ADDRESS_MACRO, schema={"type": "string", "maxLength": 200},
                  label={"zh-CN": "地址", "en": "Address"},
                  message={"zh-CN": "请按“省 市 区 详细地址”填写，省市区用空格隔开",
                           "en": "Write it as 'province city district street', separated by spaces"}),
    ]
