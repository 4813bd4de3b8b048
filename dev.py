#!/usr/bin/env python3
"""Set-up and run helper that needs only Python 3.11+ (standard library).

    python3 dev.py start   # venv + install + instance + demo data, then serve with embedded defaults
    python3 dev.py test    # venv + install + the whole test suite (pytest)
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
CHROMIUM = "/usr/bin/chromium"


def run(*cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kw)


def ensure_venv(extras: str = "") -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 is
        sys.exit("Formwarden needs Python 3.11 or newer")
    if not (BIN / "python").exists():
        run(sys.executable, "-m", "venv", VENV)
    stamp = VENV / ".installed"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if not stamp.exists() or stamp.read_text() != want:
        run(BIN / "python", "-m", "pip", "install", "-q", "--upgrade", "pip")
        run(BIN / "python", "-m", "pip", "install", "-q", "-e", f".{extras}")
        stamp.write_text(want)


def ensure_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        run("apt-get", "update", "-qq")
        run("apt-get", "install", "-y", "-qq", "chromium", "fonts-noto-cjk")
        return
    sys.exit(f"browser tests need Debian's Chromium at {CHROMIUM}: sudo apt-get install chromium fonts-noto-cjk")


def start() -> None:
    ensure_venv()
    env = dict(os.environ)
    fw = str(BIN / "formwarden")
    run(fw, "init", env=env)
    run(fw, "load-forms", env=env)
    password_file = Path(env.get("FORMWARDEN_INSTANCE", ROOT / "instance")) / "demo_password"
    demo = [fw, "demo"]
    if password_file.exists():
        demo += ["--password", password_file.read_text().strip()]
    run(*demo, env=env)
    os.execve(fw, [fw, "serve", *sys.argv[2:]], env)


def test() -> None:
    ensure_venv("[test]")
    ensure_chromium()
    run(BIN / "ruff", "check", ".")
    run(BIN / "mypy", "-p", "formwarden")  # every package of the engine
    run(BIN / "lint-imports")  # the layers (pyproject.toml [tool.importlinter]): no upward import, no cycle
    os.execv(str(BIN / "python"), [str(BIN / "python"), "-m", "pytest", *sys.argv[2:]])


if __name__ == "__main__":
    commands = {"start": start, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]]()
