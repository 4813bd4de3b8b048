"""How text becomes search terms (the same on SQLite and PostgreSQL)."""
from formwarden.records.search import query_terms, value_terms


def test_a_mobile_is_found_whole_by_its_last_digits_and_written_any_way():
    terms = value_terms("13812345678")
    assert {"13812345678", "5678", "678"} <= terms
    for typed in ("138 1234 5678", "+86 138-1234-5678", "0086 13812345678", "１３８１２３４５６７８"):
        assert query_terms(typed) == [("13812345678", True)]
    assert query_terms("5678") == [("5678", True)]


def test_chinese_is_cut_into_pairs_so_any_part_is_found():
    assert value_terms("王小明") == {"王小", "小明", "明"}
    assert query_terms("小明") == [("小明", False)]
    assert query_terms("小") == [("小", True)]
    assert query_terms("王小明") == [("王小", False), ("小明", False)]


def test_words_match_by_prefix_case_folded_and_punctuation_is_no_wildcard():
    assert value_terms("ACME Trading, Ltd.") == {"acme", "trading", "ltd"}
    assert query_terms("Acm tra") == [("acm", True), ("tra", True)]
    assert query_terms("%_") == []
    assert query_terms("a" * 200) == [("a" * 40, True)]
    assert len(query_terms(" ".join(f"w{i}" for i in range(50)))) == 8


def test_mixed_scripts_split_at_the_script_boundary():
    assert query_terms("张三138") == [("张三", False), ("138", True)]
