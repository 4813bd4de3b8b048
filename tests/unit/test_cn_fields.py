"""The bundled field-type plugins: test vectors from the issue, normalisers, messages."""
import importlib.util

import pytest

from formwarden.config import REPO_ROOT


def _load(name):
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", REPO_ROOT / "plugins" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cn = _load("cn_fields")
common = _load("common_fields")


@pytest.mark.parametrize("value", ["11010519491231002X", "370101190102039973"])
def test_valid_resident_ids(value):
    assert cn.is_resident_id(value)


@pytest.mark.parametrize("value", [
    "110105194912310021",  # check digit
    "360426199113010079",  # month 13
    "440524188001010014",  # born before 1900
    "000000199001010016",  # no such region (check digit right)
    "11010519491231002x", "1101051949123100", 11010519491231002,
])
def test_invalid_resident_ids(value):
    assert not cn.is_resident_id(value)


def test_unknown_region_is_refused_even_with_a_right_check_digit():
    from stdnum.cn import ric
    body = "99000019900101001"
    assert not cn.is_resident_id(body + ric.calc_check_digit(body + "0"))


@pytest.mark.parametrize("value,ok", [("91110000600037341L", True), ("91310115MA1K3BTP2B", True),
                                      ("91110000600037341N", False), ("9111000060003734", False), ("", False)])
def test_credit_codes(value, ok):
    assert cn.is_uscc(value) is ok


def test_mobile_loose_with_a_warning_on_unknown_segments():
    assert cn.is_cn_mobile("13812345678") and cn.mobile_warning("13812345678") is None
    assert cn.is_cn_mobile("14012345678") and cn.mobile_warning("14012345678")["zh-CN"]
    assert not cn.is_cn_mobile("12812345678") and not cn.is_cn_mobile("1381234567")
    assert cn.normalise_mobile("+86 138-1234 5678") == "13812345678"
    assert cn.normalise_mobile("１３８ １２３４ ５６７８") == "13812345678"


def test_money_in_cents_without_float_rounding():
    assert cn.normalise_money("¥12,345.5") == 1234550
    assert cn.normalise_money("0.1") + cn.normalise_money("0.2") == cn.normalise_money("0.3")
    assert cn.normalise_money("１２.３４") == 1234
    assert cn.show_money(1234550) == "¥12,345.50" and cn.show_money(-5) == "¥-0.05"
    for bad in ("1.234", "abc", "NaN", "Infinity", "", "1e5", "1e999990", "9" * 5000, "٣٠٠", "1.000"):
        with pytest.raises(ValueError):
            cn.normalise_money(bad)


@pytest.mark.parametrize("value,ok", [
    ("北京市 朝阳区 建国路1号", True), ("广东省 深圳市 南山区 科技园", True), ("山东省 济南市 历下区", True),
    ("广东省 东莞市 莞城街道", True), ("广东省 深圳市 朝阳区", False), ("火星 北京 x", False), ("北京市", False)])
def test_addresses(value, ok):
    assert cn.is_cn_address(value) is ok


@pytest.mark.parametrize("typed, stored", [
    ("浙江省杭州市西湖区文三路90号", "浙江省 杭州市 西湖区 文三路90号"),
    ("北京市朝阳区建国路1号", "北京市 朝阳区 建国路1号"),
    ("广东省  深圳市　南山区 科技园", "广东省 深圳市 南山区 科技园")])
def test_addresses_written_without_spaces_are_split(typed, stored):
    assert cn.normalise_address(typed) == stored and cn.is_cn_address(stored)


def test_email():
    assert common.is_email("name@example.com")
    assert not common.is_email("a@b.c\u200b") and common.normalise_email(" A@B.c\u200b") == "a@b.c"
    assert not common.is_email("name@example") and not common.is_email("a b@example.com")
