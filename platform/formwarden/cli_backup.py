"""`formwarden backup …` and the recovery-kit commands of `formwarden keys …`."""
from __future__ import annotations

import getpass
import json
import os
import sys
import threading
import time
from pathlib import Path

import click
from tqdm import tqdm

from formwarden.access.actor import Actor
from formwarden.cli_support import command, open_instance

KIT_PASSPHRASE_ENV = "FORMWARDEN_KIT_PASSPHRASE"


@click.group("backup")
def backup_group():
    """Encrypted backups: create, verify, preview, restore, drills, key rotation."""


class Bar:
    """A progress bar fed by (phase, done, total[, bytes]) callbacks or by a run row."""

    def __init__(self, label: str):
        self.bar = tqdm(total=0, unit="rows", desc=label, file=sys.stderr, dynamic_ncols=True,
                        disable=not sys.stderr.isatty() and not os.environ.get("FORMWARDEN_PROGRESS"))
        self.phase = ""

    def __call__(self, phase: str, done: int, total: int, written: int | None = None) -> None:
        if total and self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        if phase != self.phase:
            self.phase = phase
            self.bar.set_description(phase.replace("table:", ""))
        if written is not None:
            self.bar.set_postfix_str(f"{written / 1e6:.1f} MB")
        self.bar.refresh()

    def close(self):
        self.bar.close()


def _watch(job_id: str, label: str):
    """Follow a run row until it ends; returns the row."""
    from formwarden.backup.service import get_run

    bar = Bar(label)
    try:
        while True:
            run = get_run(job_id)
            bar(run.phase or run.status, run.done, run.total, run.bytes_written)
            if run.status not in ("queued", "running"):
                return run
            time.sleep(0.5)
    finally:
        bar.close()


PICKUP_WAIT = 10  # seconds for a worker to take a queued run before the command runs it itself


def _run(kind: str, label: str, wait: bool = True, params: dict | None = None):
    """Queue `kind` for a worker; if none takes it within PICKUP_WAIT seconds, run it here
    (the run can only be taken once, so a late worker leaves it alone)."""
    from formwarden.backup.service import get_run
    from formwarden.jobs import backups as jobs
    from formwarden.jobs.queue import connection

    settings = open_instance()
    run = jobs.submit(connection(settings), kind, "cli", None, params)
    click.echo(f"{kind} queued as run {run.job_id}", err=True)
    if not wait:
        return run
    deadline = time.monotonic() + PICKUP_WAIT
    while get_run(run.job_id).status == "queued" and time.monotonic() < deadline:
        time.sleep(0.25)
    if get_run(run.job_id).status == "queued":
        click.echo(f"no worker took it within {PICKUP_WAIT}s: running the {kind} in this process", err=True)
        runner = {"backup": jobs.run_backup_job, "drill": jobs.run_drill_job}[kind]
        thread = threading.Thread(target=_quietly, args=(runner, run.job_id))
        thread.start()
        _watch(run.job_id, label)
        thread.join()
        return get_run(run.job_id)
    return _watch(run.job_id, label)


def _quietly(runner, job_id: str) -> None:
    try:
        runner(job_id)
    except Exception:  # noqa: BLE001 - the run row says what failed; the command reports it
        pass


@command(backup_group, "create")
@click.option("--no-wait", is_flag=True, help="queue the backup and return")
def backup_create(no_wait):
    """Make a full encrypted backup now; the last line is the local archive's path."""
    from formwarden.backup.targets import local_dir

    run = _run("backup", "backup", wait=not no_wait)
    if no_wait:
        return
    targets = json.loads(run.targets or "{}")
    for name, result in targets.items():
        click.echo(f"  {name}: {result.get('status')} {result.get('error', '')}".rstrip(), err=True)
    if run.status == "failed":
        raise RuntimeError(f"backup failed: {run.message}")
    if run.status == "degraded":
        click.echo(f"warning: {run.message} (retried by the worker)", err=True)
    _warn_about_kit()
    click.echo(str(local_dir() / run.archive_name))
    if run.status != "done":
        sys.exit(3)


def _warn_about_kit() -> None:
    from formwarden.config import instance_path
    from formwarden.crypto.kit import kit_status

    kit = kit_status(instance_path())
    if not kit["exported_at"]:
        click.echo("warning: no recovery kit exported yet: without the keys in instance/keys, no archive can be "
                   "restored. Run `formwarden keys export --out FILE` and keep it away from this server.", err=True)
    elif kit["not_in_kit"]:
        click.echo(f"warning: keys made since the last recovery kit ({', '.join(kit['not_in_kit'])}): export a new one",
                   err=True)


def _show(manifest: dict) -> None:
    audit = manifest.get("audit", {})
    click.echo(f"archive {manifest['archive_id']} made {manifest['created_at']} by Formwarden "
               f"{manifest.get('platform_version')} on {manifest.get('database')}")
    click.echo(f"  master key {manifest.get('master_key_id')}; needs keys: {', '.join(manifest.get('keys_needed', []))}")
    for form, counts in manifest.get("forms", {}).items():
        click.echo(f"  form {form}: {counts['records']} records, {counts['deleted']} in the recycle bin")
    click.echo(f"  audit events: {audit.get('head_seq')} ({audit.get('first_at')} … {audit.get('last_at')}), "
               f"head {str(audit.get('head_hash'))[:16]}…")
    click.echo("  tables: " + ", ".join(f"{k} {v}" for k, v in manifest.get("counts", {}).items()))


@command(backup_group, "preview")
@click.argument("path", type=click.Path(path_type=Path))
def backup_preview(path):
    """Show what an archive holds (reads only its manifest)."""
    from formwarden.backup.restore import preview

    open_instance()
    info = preview(path)
    _show(info)
    if info["missing_keys"]:
        raise RuntimeError("keys this archive needs are missing here: " + ", ".join(info["missing_keys"]))


@command(backup_group, "verify")
@click.argument("path", type=click.Path(path_type=Path))
def backup_verify(path):
    """Check an archive completely without restoring it: every chunk, part hash and count, and
    the audit chain (in a throw-away database). Exit 0 only if all of it holds."""
    from formwarden.backup.restore import verify_archive

    open_instance()
    bar = Bar("verify")
    try:
        result = verify_archive(path, on_progress=bar)
    finally:
        bar.close()
    click.echo(f"ok: {result['rows']} rows and {result['events_verified']} audit events verified "
               f"in {result['seconds']:.1f}s; head {result['head_seq']}")


@command(backup_group, "restore")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.option("--reason", default="", help="why (recorded in the audit trail)")
def backup_restore(path, yes, reason):
    """Replace ALL live data with the archive, after checking every part of it in a scratch
    database. Everyone is signed out. Live data is untouched if any check fails."""
    from formwarden.backup.restore import ArchiveError, preview, restore
    from formwarden.backup.service import note_failure

    open_instance()
    actor = Actor.system("cli:restore")
    reason = reason or "restore from the CLI"
    bar = Bar("restore")
    try:
        _show(preview(path))
        if not yes:
            click.confirm("Replace all current data with this archive?", abort=True)
        result = restore(path, actor, on_progress=bar, reason=reason)
    except ArchiveError as exc:
        note_failure(actor, "restore", {"archive": str(path), "reason": reason}, exc.code)
        raise
    finally:
        bar.close()
    click.echo(f"restored: {result['rows']} rows, audit chain verified to event {result['head_seq']} "
               f"in {result['seconds']:.1f}s")
    closed = result.get("access_kept_closed") or {}
    if closed:
        click.echo("kept closed since the archive: " + ", ".join(f"{kind.replace('_', ' ')} {n}"
                                                                  for kind, n in closed.items()))


@command(backup_group, "restore-record")
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("form")
@click.argument("record_id", type=int)
@click.option("--reason", required=True, help="why (recorded in the audit trail)")
def backup_restore_record(path, form, record_id, reason):
    """Put one record back from an archive as a new audited change; nothing else changes."""
    from formwarden.backup.single import restore_one

    open_instance()
    rid, outcome = restore_one(Actor.system("cli:restore-record"), path, form, record_id, reason)
    click.echo(f"record {rid} {outcome}")


@command(backup_group, "list")
def backup_list():
    """Archives per target, newest first, with verification and drill results."""
    from formwarden.backup.targets import all_targets
    from formwarden.models import BackupCopy

    open_instance()
    for target in all_targets():
        click.echo(f"{target.name} ({target.describe()}):")
        copies = BackupCopy.select().where(BackupCopy.target == target.name, BackupCopy.status == "verified").order_by(
            BackupCopy.created_at.desc())
        for c in copies:
            drill = f" drill {c.drill_status} {c.drill_seconds or 0:.1f}s" if c.drill_status else ""
            click.echo(f"  {c.archive_name}  {c.size / 1e6:8.1f} MB  verified {c.verified_at:%Y-%m-%d %H:%M}{drill}")


@command(backup_group, "drill")
def backup_drill():
    """Restore each target's newest archive into a scratch database and verify it (timed)."""
    run = _run("drill", "drill")
    for name, result in json.loads(run.targets or "{}").items():
        click.echo(f"{name}: {result.get('status')} {result.get('archive', '')} "
                   f"{str(result.get('seconds', '')) + 's' if 'seconds' in result else result.get('error', '')}")
    if run.status != "done":
        raise RuntimeError("a restore drill failed")


@command(backup_group, "rotate-key")
def backup_rotate_key():
    """Make a new backup master key current and re-wrap every archive's data key under it
    (archives' contents are not re-encrypted). Old keys stay: keep them while their archives
    may still be needed."""
    from formwarden.backup.rotation import rotate_master_key

    settings = open_instance()
    kid, done = rotate_master_key(Actor.system("cli:rotate-key"), settings.instance)
    click.echo(f"backup master key {kid} is current; re-wrapped {done} archive copies")


def register_key_commands(keys_group) -> None:
    @command(keys_group, "export")
    @click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="file to write the kit to")
    def keys_export(out):
        """Write the recovery kit: every instance key, sealed under a passphrase (asked twice, or
        FORMWARDEN_KIT_PASSPHRASE). Store it away from the server and from the backups."""
        from formwarden.backup.rotation import note_kit
        from formwarden.crypto.kit import export_kit, mark_exported

        settings = open_instance()
        passphrase = os.environ.get(KIT_PASSPHRASE_ENV) or _ask_twice()
        blob = export_kit(settings.instance, passphrase)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        mark_exported(settings.instance)
        note_kit(Actor.system("cli:keys"), "keys_export", str(out))
        click.echo(f"recovery kit written to {out}: keep it and its passphrase apart, away from this server")

    @command(keys_group, "import")
    @click.argument("path", type=click.Path(path_type=Path, exists=True))
    def keys_import(path):
        """Add the keys of a recovery kit that this instance lacks (never replaces a key). On a new
        machine, run it before `formwarden init`, then restore an archive."""
        from formwarden.backup.rotation import note_kit
        from formwarden.config import instance_path
        from formwarden.crypto.keys import _cache
        from formwarden.crypto.kit import import_kit

        instance = instance_path()
        instance.mkdir(mode=0o700, parents=True, exist_ok=True)
        passphrase = os.environ.get(KIT_PASSPHRASE_ENV) or getpass.getpass("kit passphrase: ")
        outcome = import_kit(instance, path.read_bytes(), passphrase)
        _cache.clear()
        if (instance / "secret_key").exists():  # an initialised instance: the import is an audit event
            open_instance()
            note_kit(Actor.system("cli:keys"), "keys_import", str(path))
        added = [n for n, s in outcome.items() if s == "added"]
        click.echo(f"{len(added)} key(s) added ({', '.join(added) or 'none'}); {len(outcome) - len(added)} already here")


def _ask_twice() -> str:
    first = getpass.getpass("passphrase for the recovery kit (12+ characters): ")
    if first != getpass.getpass("again: "):
        raise ValueError("the passphrases differ")
    return first
