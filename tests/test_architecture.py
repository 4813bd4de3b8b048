"""Layering rules from STYLE.md, checked on the source."""
import ast
from pathlib import Path

import pytest

from formwarden.config import REPO_ROOT

PKG = REPO_ROOT / "platform" / "formwarden"
HTTP_LAYERS = {"web", "api", "http"}
FLASK_ALLOWED = HTTP_LAYERS | {"app.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def _modules():
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        yield rel.parts[0], path


def test_platform_is_not_a_package():
    assert not (REPO_ROOT / "platform" / "__init__.py").exists()
    assert [p.name for p in (REPO_ROOT / "platform").iterdir() if p.suffix == ".py"] == []


def test_services_do_not_import_flask():
    offenders = [
        str(path.relative_to(PKG)) for top, path in _modules()
        if top not in FLASK_ALLOWED and any(m.split(".")[0] in ("flask", "flask_login", "flask_babel", "flask_wtf")
                                            for m in _imports(path))
    ]
    assert offenders == []


def test_nothing_imports_web_except_app():
    offenders = [
        str(path.relative_to(PKG)) for top, path in _modules()
        if top not in ("web", "app.py") and any(m.startswith("formwarden.web") for m in _imports(path))
    ]
    assert offenders == []


def test_services_do_not_import_http_layers():
    offenders = [
        str(path.relative_to(PKG)) for top, path in _modules()
        if top not in HTTP_LAYERS | {"app.py"}
        and any(m.startswith(("formwarden.http", "formwarden.api")) for m in _imports(path))
    ]
    assert offenders == []


def test_undeclared_endpoint_stops_startup(base_db):
    from flask import Flask

    from formwarden.http import guard

    app = Flask("probe")
    app.add_url_rule("/open", "open", lambda: "x")
    with pytest.raises(RuntimeError, match="open"):
        guard.check_declared(app)


def test_import_layers_hold():
    """The import-linter contracts in pyproject.toml: layers without upward imports (so without
    package cycles), no Flask below the web layer, no queries or transactions in views."""
    import subprocess
    import sys

    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


def test_forms_stay_pure():
    """forms/ checks and reads definitions; writing versions, events and indexes is a service's."""
    offenders = [
        str(path.relative_to(PKG)) for top, path in _modules()
        if top == "forms" and any(m.startswith(("formwarden.audit", "formwarden.records", "formwarden.catalog"))
                                  for m in _imports(path))
    ]
    assert offenders == []

