"""Regular expressions in form definitions, and the JSON Schema validator that runs them.

Every `pattern` and `patternProperties` key is matched with RE2, whose running time is linear
in the text, so no definition can make a submission hang the server. At publish time a pattern
must compile in RE2 (no backreferences or lookaround), stay short, and not nest repetition in
a way that only backtracking engines choke on ((a+)+, (a*)*, (.*)*): those are refused so the
same definition stays safe wherever else it is used. The validator never fetches anything:
`$ref` resolves inside the definition only.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import re2
import referencing
import referencing.exceptions
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

MAX_LENGTH = 1000  # characters in one pattern
MAX_DEPTH = 32  # schema objects nested in a definition

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the reason goes into the problem list, not to stderr

# keywords whose value is one subschema, a map of subschemas, or a list of them (2020-12)
_ONE = ("additionalProperties", "unevaluatedProperties", "items", "contains", "propertyNames", "not", "if",
        "then", "else", "unevaluatedItems", "additionalItems", "contentSchema")
_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_LIST = ("prefixItems", "allOf", "anyOf", "oneOf", "items")


def subschemas(schema: object, path: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    """Every schema object in `schema` with its path, the root first. Values of `enum`, `const`,
    `default` and extension keywords are data, not schemas, and are not entered."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for key in _ONE:
        yield from subschemas(schema.get(key), (*path, key))
    for key in _MAP:
        value = schema.get(key)
        if isinstance(value, dict):
            for name, sub in value.items():
                yield from subschemas(sub, (*path, key, name))
    for key in _LIST:
        value = schema.get(key)
        if isinstance(value, list):
            for i, sub in enumerate(value):
                yield from subschemas(sub, (*path, key, i))


def schema_patterns(schema: dict) -> Iterator[tuple[tuple, str]]:
    """(path, pattern) of every regular expression in a schema: `pattern` values and
    `patternProperties` keys."""
    for path, sub in subschemas(schema):
        if isinstance(sub.get("pattern"), str):
            yield (*path, "pattern"), sub["pattern"]
        keyed = sub.get("patternProperties")
        if isinstance(keyed, dict):
            for key in keyed:
                yield (*path, "patternProperties", key), key


@functools.lru_cache(maxsize=1024)
def compiled(pattern: str):
    """The RE2 program for `pattern`; raises re2.error when RE2 cannot run it."""
    return re2.compile(pattern, _OPTIONS)


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` may not be used in a definition, or None when it may."""
    if len(pattern) > MAX_LENGTH:
        return f"pattern is longer than {MAX_LENGTH} characters"
    try:
        compiled(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return (f"pattern is not supported: {reason} (patterns run on a linear-time engine: no backreferences "
                f"or lookaround)")
    try:
        tree = re._parser.parse(pattern)  # type: ignore[attr-defined]
    except (re.error, RecursionError, OverflowError):
        return None  # RE2 runs it; the JSON Schema check reports what Python cannot read
    if _nested_repeat(tree):
        return ("pattern repeats a part that can match the same text in several ways, like (a+)+, (a|a)* or "
                "(.*)*, which backtracking engines need exponential time for; write it without that, like a+")
    return None


_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})
_ZERO_WIDTH = frozenset({"AT", "ASSERT", "ASSERT_NOT"})


def _nullable(items) -> bool:
    """Can this parsed sequence match the empty string? Unknown nodes count as yes."""
    for op, arg in items:
        name = str(op)
        if name in ("LITERAL", "NOT_LITERAL", "IN", "ANY", "CATEGORY", "RANGE"):
            return False
        if name in _REPEATS:
            if arg[0] > 0 and not _nullable(arg[2]):
                return False
        elif name == "SUBPATTERN":
            if not _nullable(arg[3]):
                return False
        elif name == "ATOMIC_GROUP":
            if not _nullable(arg):
                return False
        elif name == "BRANCH":
            if not any(_nullable(alt) for alt in arg[1]):
                return False
    return True


def _unwrap(items) -> list:
    """A sequence without the groups that only wrap it: ((a+)) -> a+."""
    while len(items) == 1 and str(items[0][0]) in ("SUBPATTERN", "ATOMIC_GROUP"):
        op, arg = items[0]
        items = arg[3] if str(op) == "SUBPATTERN" else arg
    return list(items)


def _twin_branch(items) -> bool:
    """An alternation with two identical alternatives, like (a|a); Python's parser has already
    taken their common prefix out, so twins show up as equal (often empty) alternatives."""
    for op, arg in items:
        name = str(op)
        if name == "BRANCH":
            alts = [list(alt) for alt in arg[1]]
            if any(a == b for i, a in enumerate(alts) for b in alts[i + 1:]) or any(_twin_branch(a) for a in alts):
                return True
        elif name == "SUBPATTERN" and _twin_branch(arg[3]):
            return True
        elif name == "ATOMIC_GROUP" and _twin_branch(arg):
            return True
    return False


def _varies(repeat_arg) -> bool:
    """A repetition that may run more than once, for a number of times not fixed: +, *, {2,5}."""
    low, high, _ = repeat_arg
    return high > 1 and high != low


def _nested_repeat(items) -> bool:
    """A varying repetition of something that can match empty, is itself a varying repetition,
    or offers the same alternative twice."""
    for op, arg in items:
        name = str(op)
        if name in _REPEATS:
            body = arg[2]
            if _varies(arg):
                inner = _unwrap(body)
                if _nullable(body) or _twin_branch(body):
                    return True
                if len(inner) == 1 and str(inner[0][0]) in _REPEATS and _varies(inner[0][1]):
                    return True
            if _nested_repeat(body):
                return True
        elif name == "SUBPATTERN" and _nested_repeat(arg[3]):
            return True
        elif name == "ATOMIC_GROUP" and _nested_repeat(arg):
            return True
        elif name == "BRANCH" and any(_nested_repeat(alt) for alt in arg[1]):
            return True
        elif name in _ZERO_WIDTH and name != "AT" and _nested_repeat(arg[1]):
            return True
    return False


def ref_problem(ref: object) -> str | None:
    """Only references inside the definition itself ("#" or "#/…"); nothing is ever fetched."""
    if isinstance(ref, str) and (ref == "#" or ref.startswith("#/")):
        return None
    return "only references inside the definition (\"#/…\") are allowed; nothing is fetched from elsewhere"


def search(pattern: str, text: str) -> bool:
    """Does `pattern` match somewhere in `text` (JSON Schema semantics: not anchored)?"""
    return compiled(pattern).search(text) is not None


def _matches(pattern: str, text: str) -> bool | None:
    """search() that answers None instead of raising for a pattern RE2 cannot run or a text
    it cannot encode (a lone surrogate)."""
    try:
        return search(pattern, text)
    except (re2.error, UnicodeEncodeError):
        return None


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not _matches(pattern, instance):
        yield ValidationError(f"does not match {pattern!r}")


def _pattern_properties(validator, keyed, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in keyed.items():
        for key, value in instance.items():
            found = _matches(pattern, key)
            if found is None:
                yield ValidationError(f"property name {key!r} cannot be checked against {pattern!r}")
            elif found:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


_BASE_ADDITIONAL = Draft202012Validator.VALIDATORS["additionalProperties"]


def _additional_properties(validator, additional, instance, schema):
    keyed = schema.get("patternProperties")
    if not keyed:
        yield from _BASE_ADDITIONAL(validator, additional, instance, schema)
        return
    if not validator.is_type(instance, "object"):
        return
    named = schema.get("properties", {})
    extras = [k for k in instance if k not in named and not any(_matches(p, k) for p in keyed)]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        yield ValidationError(f"{', '.join(repr(e) for e in sorted(extras))} match no patternProperties")


SafeValidator = validators.extend(Draft202012Validator, validators={
    "pattern": _pattern, "patternProperties": _pattern_properties, "additionalProperties": _additional_properties})


def _no_retrieval(uri: str):
    raise referencing.exceptions.NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs class


LOCAL_ONLY: referencing.Registry = referencing.Registry(retrieve=_no_retrieval)  # type: ignore[call-arg]


def safe_validator(schema: dict, **kwargs) -> Draft202012Validator:
    """A 2020-12 validator for a checked definition: patterns on RE2, no retrieval. The root's
    `$schema` is left out so that a `$ref` back to the root keeps this validator class."""
    root = {k: v for k, v in schema.items() if k != "$schema"}
    return SafeValidator(root, registry=LOCAL_ONLY, **kwargs)
