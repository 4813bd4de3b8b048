"""Every user-facing string has a zh-CN translation, and the compiled catalog matches the source."""
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from formwarden.config import REPO_ROOT

PO = REPO_ROOT / "platform/formwarden/translations/zh_Hans_CN/LC_MESSAGES/messages.po"


def _ids(catalog):
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_every_message_is_translated(tmp_path):
    pot = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run([str(pybabel), "extract", "-F", "babel.cfg", "-k", "_", "-k", "N_", "-o", str(pot), "."],
                   cwd=REPO_ROOT, check=True, capture_output=True)
    wanted = _ids(read_po(pot.open("rb")))
    po = read_po(PO.open("rb"))
    translated = {m.id if isinstance(m.id, str) else m.id[0] for m in po if m.id and m.string and all(m.string)}
    assert sorted(wanted - translated) == []


def _norm(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def test_compiled_catalog_matches_source():
    po = {_norm(m.id): _norm(m.string) for m in read_po(PO.open("rb")) if m.id}
    mo = {_norm(m.id): _norm(m.string) for m in read_mo(PO.with_suffix(".mo").open("rb")) if m.id}
    assert mo == po, "run: pybabel compile -d platform/formwarden/translations"
