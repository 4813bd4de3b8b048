"""The `formwarden` command. Every command exits non-zero with a one-line reason on failure."""
from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

import click
import redis

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.cli_backup import backup_group, register_key_commands
from formwarden.cli_support import command
from formwarden.cli_support import fail as _fail
from formwarden.cli_support import open_instance as _open
from formwarden.config import REPO_ROOT, init_instance, instance_path, load_settings

DEMO_PASSWORD_FILE = "demo_password"


@click.group()
def main():
    """Formwarden: customer-data forms with field-level access, audit trail and backups."""
    # Everything the commands (and the servers and workers they start) create holds customer
    # data or secrets: the database, exports, uploads, keys, Redis' files. The owner only.
    os.umask(0o077)


@command(main, "init")
def init():
    """Create the instance folder, secrets and schema; create the first admin."""
    from formwarden.auth.roles import seed_builtin_roles
    from formwarden.auth.secrets import new_password
    from formwarden.auth.users import create_user, ensure_role
    from formwarden.models import Role, UserRole

    instance = instance_path()
    created = init_instance(instance)  # also writes any missing instance keys
    settings = load_settings()
    db.open_database(settings.database_url)
    applied = db.upgrade()
    click.echo(f"instance: {instance} ({'created' if created else 'exists'}); migrations applied: {len(applied)}")
    seed_builtin_roles()
    admin_role = ensure_role("admin")
    if not UserRole.select().join(Role).where(Role.id == admin_role.id).exists():
        password = new_password()
        create_user(Actor.system("cli:init"), "admin", password, roles=["admin"], display_name="admin")
        click.echo(f"first admin: admin / {password}  (shown once; change it after signing in)")


@main.group("db")
def db_group():
    """Database schema."""


@command(db_group, "upgrade")
def db_upgrade():
    """Apply pending migrations in order."""
    settings = load_settings()
    init_instance(settings.instance)  # keys added by newer versions (e.g. the audit key)
    db.open_database(settings.database_url)
    applied = db.upgrade()
    click.echo(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))


RESEAL_JOB = "formwarden.jobs.keys.run_reseal"


@command(main, "load-forms")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def load_forms(path):
    """Check and publish every form definition in PATH (default: form_defs/); all or nothing."""
    from formwarden.catalog.publishing import load_directory
    from formwarden.forms.versions import all_forms

    settings = _open()
    path = path or REPO_ROOT / "form_defs"
    before = {f.key: d.restricted_fields for f, d in all_forms()}
    for key, version, changed in load_directory(Actor.system("cli:load-forms"), path):
        click.echo(f"{key}: version {version} ({'published' if changed else 'unchanged'})")
    after = {f.key: d.restricted_fields for f, d in all_forms()}
    if any(before.get(k, frozenset()) != v for k, v in after.items() if k in before):
        _queue_reseal(settings, "restricted fields changed")


def _queue_reseal(settings, why: str) -> str | None:
    """Queue the re-sealing job (stored values follow the fields' restricted status and the
    current key); without a reachable Redis, say how to start it later."""

    from formwarden.jobs.queue import connection
    from formwarden.jobs.runs import submit

    try:
        run = submit(connection(settings), "reseal", RESEAL_JOB, queue="default", requested_by=None,
                     params={"why": why})
    except redis.RedisError:
        click.echo(f"{why}: run `formwarden keys reseal` once a worker is up to seal or open stored values")
        return None
    click.echo(f"{why}: re-sealing stored values queued as job {run.job_id}")
    return run.job_id


@command(main, "demo")
@click.option("--password", help="One password for every demo user (default: a generated one).")
@click.option("--records", default=120, show_default=True, help="Demo customers to create on an empty database.")
def demo(password, records):
    """Create the demo roles, teams, users and records."""
    from formwarden.auth.secrets import new_password
    from formwarden.demo import USERS, ensure_people, load_records

    settings = _open()
    password = password or new_password()
    created = ensure_people(password)
    n = load_records(customers=records)
    pw_file = settings.instance / DEMO_PASSWORD_FILE
    pw_file.write_text(password)
    pw_file.chmod(0o600)
    click.echo(f"demo users: {len(USERS)} ({len(created)} new); demo records created: {n}")
    click.echo(f"demo logins (password for all): {password}")
    click.echo("  " + ", ".join(u for u, _ in USERS[:5]) + ", sales01 … sales20")


@command(main, "serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=4, show_default=True, type=int, help="gunicorn worker processes")
@click.option("--threads", default=4, show_default=True, type=int, help="threads per worker process")
@click.option("--with-worker/--no-worker", default=False, help="also run an RQ worker (always with embedded Redis)")
@click.option("--access-log", is_flag=True, help="log every request to stdout (costs ~5% throughput)")
def serve(host, port, workers, threads, with_worker, access_log):
    """Run the production server (gunicorn) and, with embedded Redis, a worker beside it."""
    from formwarden.server import serve as run

    settings = _open()
    pw_file = settings.instance / DEMO_PASSWORD_FILE

    def banner(url):
        click.echo(f"Formwarden is running at {url}")
        if pw_file.exists():
            click.echo(f"demo logins: admin, manager, finance, support, intern, sales01 … sales20 — "
                       f"password: {pw_file.read_text().strip()}")
        click.echo("press Ctrl+C to stop")

    sys.exit(run(settings, host, port, workers, threads, with_worker, banner, access_log))


@command(main, "worker")
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
@click.option("--queue", "queues", multiple=True, help="queue(s) to serve (default: all)")
def worker(burst, queues):
    """Run an RQ worker for the background jobs."""
    from formwarden.jobs.queue import QUEUES
    from formwarden.jobs.worker import run_worker

    settings = _open()
    run_worker(settings, queues or QUEUES, burst=burst)


@command(main, "cron")
def cron():
    """Run the scheduler of all periodic work (alert scan, audit checkpoints, backups, drills).
    Run one or more anywhere; only one enqueues at a time."""
    import logging

    from formwarden.jobs.cron import run_cron
    from formwarden.jobs.queue import connection

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = _open()
    run_cron(connection(settings))


@main.group("audit")
def audit_group():
    """The audit trail."""


def _watch_marks(settings) -> None:
    """The audit commands compare the chain with the Redis high-water mark too (the one in the
    instance folder is always read), as the scheduled check does."""
    from formwarden.audit import highwater
    from formwarden.jobs.queue import lazy_connection

    highwater.configure(lazy_connection(settings))


@command(audit_group, "verify")
@click.option("--no-checkpoint", is_flag=True, help="do not record the verified head as a new checkpoint")
def audit_verify(no_checkpoint):
    """Check every event's hash and signature; exit 0 only when the whole trail holds."""
    from formwarden.audit.verify import verify_chain

    _watch_marks(_open())
    started = time.perf_counter()
    report = verify_chain(write_checkpoint=not no_checkpoint)
    took = time.perf_counter() - started
    if not report.ok:
        _fail(f"audit trail broken at {report.finding} ({report.checked} events verified before it)")
    rate = report.checked / took if took else 0
    click.echo(f"ok: {report.checked} events verified in {took:.2f}s ({rate:,.0f}/s); "
               f"head seq {report.head_seq} hash {report.head_hash[:16]}…")


@command(audit_group, "checkpoint")
def audit_checkpoint():
    """Verify the events since the last signed checkpoint and sign the new head (the worker does
    this every few minutes, and `serve` at shutdown); exit 1 when the chain does not hold."""
    from formwarden.audit.verify import extend_checkpoint

    _watch_marks(_open())
    report = extend_checkpoint()
    if not report.ok:
        _fail(f"audit trail broken at {report.finding}")
    click.echo(f"ok: checkpoint at event {report.head_seq}")


@main.group("keys")
def keys_group():
    """Instance keys: field encryption, the recovery kit."""


def _wait_for(run_id: str) -> None:
    from formwarden.jobs.runs import get_run

    while True:
        run = get_run(run_id)
        click.echo(f"\r{run.status}: {run.progress}/{run.total} records", nl=False)
        if run.status in ("done", "failed"):
            click.echo(f" — {run.message}")
            if run.status == "failed":
                raise RuntimeError(f"job {run_id} failed; resume it with `formwarden keys resume {run_id}`")
            return
        time.sleep(1)


@command(keys_group, "rotate")
@click.option("--wait", is_flag=True, help="wait for the re-sealing job and show its progress")
def keys_rotate(wait):
    """Make a new field key current and queue the re-sealing of stored values (resumable job)."""
    from formwarden.crypto.fields import rotate_key
    from formwarden.jobs.queue import connection
    from formwarden.jobs.runs import submit

    settings = _open()
    kid = rotate_key(settings.instance)
    run = submit(connection(settings), "reseal", RESEAL_JOB, queue="default", requested_by=None, params={"kid": kid})
    click.echo(f"field key {kid} is current; re-sealing queued as job {run.job_id}")
    if wait:
        _wait_for(run.job_id)


@command(keys_group, "reseal")
@click.option("--wait", is_flag=True, help="wait for the job and show its progress")
def keys_reseal(wait):
    """Queue the re-sealing job without a new key: seal values of fields that became restricted,
    open those of fields no longer restricted (load-forms queues it when that changes)."""
    job_id = _queue_reseal(_open(), "re-sealing requested")
    if job_id is None:
        raise RuntimeError("Redis is not reachable: start it (or `formwarden serve`) first")
    if wait:
        _wait_for(job_id)


@command(keys_group, "resume")
@click.argument("job_id")
@click.option("--wait", is_flag=True)
def keys_resume(job_id, wait):
    """Queue a stopped re-sealing job again; it continues where it stopped."""
    from formwarden.jobs.queue import connection
    from formwarden.jobs.runs import get_run, resume

    settings = _open()
    resume(connection(settings), get_run(job_id), RESEAL_JOB, "default")
    click.echo(f"job {job_id} queued again")
    if wait:
        _wait_for(job_id)


@main.group("user")
def user_group():
    """Accounts: create, (de)activate, grant and revoke roles (every change is audited)."""


def _known_roles(roles) -> None:
    """A typo must not make a new role: only roles that exist (or the built-in ones) are given."""
    from formwarden.access.permissions import BUILTIN_ROLE_PERMISSIONS
    from formwarden.models import Role

    for name in roles:
        if name not in BUILTIN_ROLE_PERMISSIONS and Role.get_or_none(Role.name == name) is None:
            _fail(f"no role {name!r}: roles are created in the console (People & access → Roles)")


@command(user_group, "create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True)
@click.option("--team", "teams", multiple=True)
@click.option("--expires", help="account expiry, e.g. 90d or 2027-03-31 (interns, contractors)")
def user_create(username, roles, teams, expires):
    """Create an account with a generated password (printed once)."""
    from formwarden.auth.secrets import new_password
    from formwarden.auth.users import create_user

    _open()
    _known_roles(roles)
    password = new_password()
    create_user(Actor.system("cli:user"), username, password, roles=roles, teams=teams,
                expires_at=_parse_expiry(expires))
    click.echo(f"{username} / {password}  (shown once)")


@command(user_group, "deactivate")
@click.argument("username")
@click.option("--reason", default="deactivated on the command line", show_default=True)
def user_deactivate(username, reason):
    """Deactivate an account: its sessions end and its tokens are revoked at once."""
    from formwarden.auth.people import deactivate

    _open()
    deactivate(Actor.system("cli:user"), username, reason)
    click.echo(f"{username} deactivated; sessions ended and tokens revoked")


@command(user_group, "handover")
@click.argument("username")
@click.option("--to", "to", help="who takes the records over (default: the manager of their team)")
@click.option("--reason", default="handover on the command line", show_default=True)
def user_handover(username, to, reason):
    """Hand every record USERNAME owns (recycle bin included) over to another user."""
    from formwarden.catalog.handover import hand_over, team_manager

    _open()
    to = to or team_manager(username)
    if not to:
        _fail(f"{username} has no team manager; name who takes the records over with --to")
    counts = hand_over(Actor.system("cli:user"), username, to, reason)
    click.echo(f"{sum(counts.values())} records handed over to {to}: "
               + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none"))


@command(user_group, "activate")
@click.argument("username")
def user_activate(username):
    from formwarden.auth.users import set_active

    _open()
    set_active(Actor.system("cli:user"), username, True)
    click.echo(f"{username} activated")


@command(user_group, "grant")
@click.argument("username")
@click.argument("role")
def user_grant(username, role):
    from formwarden.auth.users import change_role

    _open()
    _known_roles([role])
    change_role(Actor.system("cli:user"), username, role, True)
    click.echo(f"{username} now has role {role}")


@command(user_group, "revoke")
@click.argument("username")
@click.argument("role")
def user_revoke(username, role):
    from formwarden.auth.users import change_role

    _open()
    change_role(Actor.system("cli:user"), username, role, False)
    click.echo(f"{username} no longer has role {role}")


@main.group("access")
def access_group():
    """Break-glass access repairs (audited)."""


@command(access_group, "grant")
@click.argument("role")
@click.argument("permission")
@click.option("--reason", required=True, help="why (kept in the audit trail)")
def access_grant(role, permission, reason):
    """Give a platform PERMISSION (e.g. backups, access.manage) back to ROLE."""
    from formwarden.auth.roles import break_glass_grant

    _open()
    break_glass_grant(Actor.system("cli:access"), role, permission, reason)
    click.echo(f"role {role} now holds {permission}")
    from formwarden.models import Role, User, UserRole
    holders = (User.select().join(UserRole).join(Role)
               .where(Role.name == role, User.is_active == True, User.kind == "person").count())  # noqa: E712
    if not holders:
        click.echo(f"warning: no active person holds role {role}: give it to someone "
                   f"(formwarden user grant USERNAME {role})", err=True)


@main.group("token")
def token_group():
    """API tokens."""


def _parse_expiry(value: str | None):
    if not value:
        return None
    if value.endswith("d") and value[:-1].isdigit():
        return dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=int(value[:-1]))
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        raise ValueError(f"--expires: use e.g. 30d or 2027-01-31, not {value!r}") from None


@command(token_group, "create")
@click.option("--user", "username", required=True)
@click.option("--scopes", multiple=True, default=("read",), show_default=True,
              help="read, write, delete, export, optionally as FORM:SCOPE; repeat or comma-separate")
@click.option("--expires", help="e.g. 30d or 2027-01-31 (default: never)")
@click.option("--name", default="", help="a label, e.g. the partner system")
def token_create(username, scopes, expires, name):
    """Create an API token; the token is printed alone on the last line."""
    from formwarden.auth.tokens import create_token
    from formwarden.models import User

    _open()
    user = User.get_or_none(User.username == username)
    if user is None:
        raise ValueError(f"no user {username!r}")
    token, raw = create_token(Actor.system("cli:token"), user, name=name, scopes=scopes, expires_at=_parse_expiry(expires))
    click.echo(f"token {token.prefix} for {username}, scopes: {token.scopes}, expires: {token.expires_at or 'never'}")
    click.echo(raw)


@command(token_group, "revoke")
@click.argument("prefix")
def token_revoke(prefix):
    """Revoke a token by the prefix shown when it was created (fw_<prefix>_…)."""
    from formwarden.auth.tokens import revoke_token
    from formwarden.models import ApiToken

    _open()
    token = ApiToken.get_or_none(ApiToken.prefix == prefix, ApiToken.revoked_at.is_null())
    if token is None:
        raise ValueError(f"no active token with prefix {prefix!r}")
    revoke_token(Actor.system("cli:token"), token)
    click.echo(f"token {prefix} revoked")


main.add_command(backup_group)
register_key_commands(keys_group)

if __name__ == "__main__":
    main()
