import importlib.util

from formwarden.config import REPO_ROOT

spec = importlib.util.spec_from_file_location("cn_fields_under_test", REPO_ROOT / "plugins" / "cn_fields.py")
cn = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cn)


def test_mobile():
    assert cn.is_cn_mobile("13812345678")
    assert not cn.is_cn_mobile("12812345678")
    assert not cn.is_cn_mobile("1381234567")


def test_resident_id_checksum():
    assert cn.is_resident_id("11010519491231002X")
    assert cn.is_resident_id("440524188001010014") is False  # born before 1900
    assert not cn.is_resident_id("110105194912310021")  # wrong check digit
    assert not cn.is_resident_id("110105194913310028")  # month 13


def test_uscc_checksum():
    assert cn.is_uscc("91350100M000100Y43")
    assert not cn.is_uscc("91350100M000100Y44")
    assert not cn.is_uscc("91350100M000100Y4")
