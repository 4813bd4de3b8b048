"""Search across a record's text fields: one row of terms per record in `record_search`, indexed
by the database's own full-text engine (SQLite FTS5, PostgreSQL GIN over a tsvector).

The terms are made here, the same way on both databases, so a query finds the same records on
either: text is NFKC-normalised (full-width to half-width) and case-folded; Chinese, Japanese and
Korean runs are cut into overlapping pairs of characters (any part of a name or company is
found, down to one character); digit runs keep every suffix of three digits or more, so the
last four digits of a mobile number find it, and a query of digits, spaces, dashes and a +86
prefix is one number; other words match by prefix. Restricted fields are encrypted, so their
term is the value's keyed blind index, found only by an exact match on the whole query.

Each term carries a code of its field, so a query names exactly the fields it may look in: the
caller (`condition`) asks the gate which fields the user may read on which records, and searches
each field only within the records where it may be read. Masked and hidden fields are never
searched (a reader could otherwise test guesses), nor are choices, numbers, dates, owners and
references (the list's filters do those).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import peewee as pw

from formwarden import db
from formwarden.access import gate
from formwarden.access.actor import Actor
from formwarden.crypto.fields import blind_index, is_envelope
from formwarden.errors import Invalid
from formwarden.forms.definition import FieldDef, FormDef
from formwarden.models import Record

MAX_TERMS = 8  # query terms kept (AND); enough for a name, a company and a number
MAX_FIELD_TERMS = 600  # per field and record: a long note is searched in its first part
_DIGIT_SUFFIX_MAX = 24  # digit runs longer than this (ids, account numbers) keep only their head
_PHONE = re.compile(r"^\+?[0-9][0-9 ().\-]{2,}$")
_NOT_DATES = ("date", "date-time", "time")


def searchable(fd: FieldDef, formdef: FormDef) -> bool:
    """Free text and tags: strings and string arrays without fixed choices, dates or references."""
    if fd.options or fd.format in _NOT_DATES or fd.format == "attachment" or fd.name == formdef.owner_field \
            or fd.schema.get("x-ref"):
        return False
    if fd.type == "array":
        return (fd.schema.get("items") or {}).get("type", "string") == "string"
    return fd.type == "string"


def searched_fields(formdef: FormDef) -> list[str]:
    return [n for n, fd in formdef.fields.items() if searchable(fd, formdef)]


def field_code(form_key: str, name: str) -> str:
    """A fixed-width code per form field: no field's code is the start of another's."""
    return hashlib.blake2s(f"{form_key}.{name}".encode(), digest_size=5).hexdigest()


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _kind(ch: str) -> str:
    if not ch.isalnum():
        return ""
    return "c" if _is_wide(ch) else "n"


def _runs(text: str) -> list[tuple[str, str]]:
    """(kind, run) pairs of letters and digits: "c" a run of wide (CJK) characters, "d" a run of
    ASCII digits, "w" any other word (letters, or letters with digits: "a1b2")."""
    out: list[tuple[str, str]] = []
    for kind, group in itertools.groupby(text, key=_kind):
        run = "".join(group)
        if kind == "c":
            out.append(("c", run))
        elif kind == "n":
            out.append(("d" if run.isascii() and run.isdigit() else "w", run))
    return out


def _phone_digits(text: str) -> str | None:
    """A query or value written as a phone number: its digits, without a +86 / 0086 prefix."""
    if not _PHONE.match(text.strip()):
        return None
    digits = re.sub(r"[^0-9]", "", text)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix):]
    return digits


def value_terms(value: str) -> set[str]:
    """The terms one text value is found by."""
    text = _normal(value)
    terms: set[str] = set()
    phone = _phone_digits(text)
    runs = [("d", phone)] if phone else _runs(text)
    for kind, run in runs:
        if kind == "d":
            run = run[:_DIGIT_SUFFIX_MAX]
            terms.update(run[i:] for i in range(max(1, len(run) - 2)))
        elif kind == "c":
            terms.update(run[i:i + 2] for i in range(len(run)))
        else:
            terms.add(run[:40])
    return terms


def query_terms(text: str) -> list[tuple[str, bool]]:
    """(term, is_prefix) pairs a query must all find, in order, at most MAX_TERMS."""
    text = _normal(text)
    phone = _phone_digits(text)
    if phone:
        return [(phone[:_DIGIT_SUFFIX_MAX], True)]
    out: list[tuple[str, bool]] = []
    for kind, run in _runs(text):
        if kind == "c" and len(run) > 1:
            out.extend((run[i:i + 2], False) for i in range(len(run) - 1))
        else:
            out.append((run[:_DIGIT_SUFFIX_MAX] if kind == "d" else run[:40], True))
    seen: set[tuple[str, bool]] = set()
    return [t for t in out if not (t in seen or seen.add(t))][:MAX_TERMS]  # type: ignore[func-returns-value]


def record_terms(formdef: FormDef, stored: dict) -> list[str]:
    """Every term of a stored record (sealed values give their blind index), field-coded."""
    out: list[str] = []
    for name, fd in formdef.fields.items():
        value = stored.get(name)
        if value is None or not searchable(fd, formdef):
            continue
        code = field_code(formdef.key, name)
        if is_envelope(value):
            out.append(f"{code}bi{value['bi']}")
            continue
        terms: set[str] = set()
        for item in (value if isinstance(value, list) else [value]):
            if isinstance(item, str):
                terms |= value_terms(item)
        out.extend(code + t for t in sorted(terms)[:MAX_FIELD_TERMS])
    return out


# --- the table --------------------------------------------------------------------------

def index_record(formdef: FormDef, record_id: int, stored: dict) -> None:
    """Replace a record's terms (inside the caller's write transaction)."""
    terms = record_terms(formdef, stored)
    if db.is_postgres():
        db.execute("INSERT INTO record_search (record_id, terms) VALUES (?, array_to_tsvector(CAST(? AS text[])))"
                   " ON CONFLICT (record_id) DO UPDATE SET terms = EXCLUDED.terms", (record_id, terms))
        return
    db.execute("DELETE FROM record_search WHERE rowid = ?", (record_id,))
    if terms:
        db.execute("INSERT INTO record_search (rowid, terms) VALUES (?, ?)", (record_id, " ".join(terms)))


def forget_record(record_id: int) -> None:
    if db.is_postgres():
        db.execute("DELETE FROM record_search WHERE record_id = ?", (record_id,))
    else:
        db.execute("DELETE FROM record_search WHERE rowid = ?", (record_id,))


def rebuild(forms: Iterable[tuple[int, FormDef]], batch: int = 2000) -> int:
    """Index every record of `forms` again (after a restore, a migration or a publish that
    changed which fields are searched); returns how many records. Call inside a transaction."""
    done = 0
    for form_id, formdef in forms:
        last = 0
        while True:
            rows = db.fetchall("SELECT id, data FROM record WHERE form_id = ? AND id > ? ORDER BY id LIMIT ?",
                               (form_id, last, batch))
            if not rows:
                break
            for rid, data in rows:
                index_record(formdef, rid, data if isinstance(data, dict) else json.loads(data))
            last = rows[-1][0]
            done += len(rows)
    return done


def clear() -> None:
    db.execute("DELETE FROM record_search")


# --- queries ----------------------------------------------------------------------------

def _quoted(term: str, prefix: bool) -> str:
    if db.is_postgres():
        return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'" + (":*" if prefix else "")
    return '"' + term.replace('"', '""') + '"' + ("*" if prefix else "")


def _match(expression: str):
    """Record ids whose terms match `expression` (in the database's own query syntax)."""
    if db.is_postgres():
        return pw.SQL("(SELECT record_id FROM record_search WHERE terms @@ CAST(%s AS tsquery))", [expression])
    return pw.SQL("(SELECT rowid FROM record_search WHERE record_search MATCH ?)", [expression])


def _expression(codes: list[str], terms: list[tuple[str, bool]], exact: list[str]) -> str:
    both, either = (" & ", " | ") if db.is_postgres() else (" AND ", " OR ")
    parts = []
    if codes and terms:
        parts.append(both.join("(" + either.join(_quoted(c + t, p) for c in codes) + ")" for t, p in terms))
    parts.extend(_quoted(token, False) for token in exact)
    return either.join(f"({p})" for p in parts)


def fits(formdef: FormDef, name: str, value: str) -> bool:
    """Whether `value` is a valid value of field `name` (a restricted field is only tested then)."""
    return not any(list(e.absolute_path)[:1] == [name] for e in formdef.validator.iter_errors({name: value}))


SELECTIVE = 3000  # fewer matches than this: the search leads the query plan (see `Found`)


@dataclass(frozen=True)
class Found:
    """A search as a condition on Record. `selective`: few records match, so the query should
    start from the search's matches rather than walk the form's records in list order (the
    caller then writes the form condition so no form index competes; see service.list_records).
    `tested`: the restricted fields the whole query was tested against (the caller audits them)."""

    condition: object
    tested: list[str]
    selective: bool


def _hits(expression: str) -> int:
    if db.is_postgres():
        sql = "SELECT count(*) FROM record_search WHERE terms @@ CAST(? AS tsquery)"
    else:
        sql = "SELECT count(*) FROM record_search WHERE record_search MATCH ?"
    return db.fetchone(sql, (expression,))[0]


def condition(actor: Actor, formdef: FormDef, text: str, action: str = "read", only: str = "") -> Found:
    """Each field is searched only in the records where the actor may read it; `only` keeps the
    search to one field (the list's "search in")."""
    names = searched_fields(formdef)
    if only:
        if only not in names:
            raise Invalid(f"{only!r} cannot be searched", field="q_in", code="not_searchable")
        gate.check_query_fields(actor, formdef, [only])
        names = [only]
    terms = query_terms(text)
    whole = text.strip()
    tested: list[str] = []
    cond = None
    hits = 0
    for relation, readable in gate.readable_by_relation(actor, formdef, names, action).items():
        codes = [field_code(formdef.key, n) for n in readable if n not in formdef.restricted_fields]
        exact = []
        for n in readable:
            if n in formdef.restricted_fields and whole and fits(formdef, n, whole):
                exact.append(f"{field_code(formdef.key, n)}bi{blind_index(formdef.key, n, whole)}")
                tested.append(n)
        expression = _expression(codes, terms, exact)
        if not expression:
            continue
        hits += _hits(expression)
        part = Record.id.in_(_match(expression))
        scope = gate.relation_condition(actor, relation)
        part = part if scope is None else (scope & part)
        cond = part if cond is None else (cond | part)
    if cond is None:
        return Found(pw.SQL("1 = 0"), [], True)
    return Found(cond, sorted(set(tested)), hits < SELECTIVE)


def searchable_for(actor: Actor, formdef: FormDef) -> list[str]:
    """The fields the actor's search box looks in (on some record), in layout order."""
    groups = gate.readable_by_relation(actor, formdef, searched_fields(formdef))
    found = {n for names in groups.values() for n in names}
    return [n for n in formdef.layout_order if n in found]
