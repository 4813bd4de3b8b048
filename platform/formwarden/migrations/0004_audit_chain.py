"""Hash-chain the audit trail: prev_hash, hash and mac on every event (existing events are
chained in order), and a table of signed checkpoints."""
import base64
import os
from pathlib import Path

from peewee import BigIntegerField, CharField, DateTimeField, Model

from formwarden.audit.chain import GENESIS, event_hash, event_mac

COLUMNS = ("seq", "at", "actor_kind", "actor_id", "actor_name", "action", "form_key", "record_id", "diff",
           "reason", "request_id", "ip", "user_agent")


def _audit_key():
    raw = os.environ.get("FORMWARDEN_KEY_AUDIT")
    if not raw:
        path = Path(os.environ.get("FORMWARDEN_INSTANCE", "instance")).resolve() / "keys" / "audit.key"
        raw = path.read_text().strip() if path.exists() else ""
    return base64.b64decode(raw) if raw else None


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("audit_event", "prev_hash", CharField(max_length=64, default="")),
        migrator.add_column("audit_event", "hash", CharField(max_length=64, default="")),
        migrator.add_column("audit_event", "mac", CharField(max_length=64, default="")),
    )

    class AuditCheckpoint(Model):
        seq = BigIntegerField()
        head_hash = CharField(max_length=64)
        mac = CharField(max_length=64)
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "audit_checkpoint"

    db.create_tables([AuditCheckpoint])
    key = _audit_key()
    prev = GENESIS
    rows = db.execute_sql(f"SELECT id, {', '.join(COLUMNS)} FROM audit_event ORDER BY seq").fetchall()
    param = db.param
    for row in rows:
        event = dict(zip(COLUMNS, row[1:]))
        digest = event_hash(prev, event)
        db.execute_sql(f"UPDATE audit_event SET prev_hash = {param}, hash = {param}, mac = {param} WHERE id = {param}",
                       (prev, digest, event_mac(key, digest) if key else "", row[0]))
        prev = digest


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column("audit_event", "prev_hash"),
        migrator.drop_column("audit_event", "hash"),
        migrator.drop_column("audit_event", "mac"),
        migrator.drop_table("audit_checkpoint"),
    )
