"""Conditional rules (`x-rules`): "show X when …", "require X when …", evaluated on the server.

A rule's `when` is one condition or `{"all": [...]}` / `{"any": [...]}` of conditions. A
condition names a field and one or more tests, all of which must hold:
`in` / `not_in` (a list of values; an array field matches when any of its values does),
`equals` / `not_equals`, `gt` / `gte` / `lt` / `lte` (numbers, or ISO dates as text),
`filled` (true / false).
"""
from __future__ import annotations

OPERATORS = ("in", "not_in", "equals", "not_equals", "gt", "gte", "lt", "lte", "filled")


def conditions(when: dict) -> list[dict]:
    if "all" in when:
        return list(when["all"])
    if "any" in when:
        return list(when["any"])
    return [when]


def when_fields(when: dict) -> list[str]:
    """The fields a rule's condition reads (its triggers), in order, once each."""
    return list(dict.fromkeys(c["field"] for c in conditions(when)))


def filled(value) -> bool:
    return value not in (None, "", [], {})


def _comparable(a, b) -> bool:
    numeric = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    return (isinstance(a, numeric) and isinstance(b, numeric)) or (isinstance(a, str) and isinstance(b, str))


def _holds(cond: dict, data: dict) -> bool:
    value = data.get(cond["field"])
    values = value if isinstance(value, list) else [value]
    for op in OPERATORS:
        if op not in cond:
            continue
        arg = cond[op]
        if op == "in" and not any(v in arg for v in values):
            return False
        if op == "not_in" and any(v in arg for v in values if v is not None):
            return False
        if op == "equals" and value != arg:
            return False
        if op == "not_equals" and value == arg:
            return False
        if op in ("gt", "gte", "lt", "lte"):
            if not _comparable(value, arg):
                return False
            if not {"gt": value > arg, "gte": value >= arg, "lt": value < arg, "lte": value <= arg}[op]:
                return False
        if op == "filled" and filled(value) != arg:
            return False
    return True


_WORDS = {"in": "is one of", "not_in": "is not one of", "equals": "is", "not_equals": "is not", "gt": "is greater than",
          "gte": "is at least", "lt": "is less than", "lte": "is at most"}


def describe(when: dict) -> str:
    """A condition in plain words with field names and stored values, as API clients use them:
    "status is one of negotiating, won"."""
    parts = []
    for cond in conditions(when):
        for op in OPERATORS:
            if op not in cond:
                continue
            arg = cond[op]
            if op == "filled":
                parts.append(f"{cond['field']} is {'filled' if arg else 'empty'}")
            else:
                shown = ", ".join(str(a) for a in arg) if isinstance(arg, list) else str(arg)
                parts.append(f"{cond['field']} {_WORDS[op]} {shown}")
    return (" or " if "any" in when else " and ").join(parts)


def matches(when: dict, data: dict) -> bool:
    if "all" in when:
        return all(_holds(c, data) for c in when["all"])
    if "any" in when:
        return any(_holds(c, data) for c in when["any"])
    return _holds(when, data)
