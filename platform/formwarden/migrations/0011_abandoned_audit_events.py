"""Audit events a restore could not keep in the chain (the archive came from another history:
a new machine, another installation) are moved here, never deleted, with the restore that
set them aside."""
from peewee import BigIntegerField, CharField, DateTimeField, IntegerField, Model, TextField


def up(migrator, db):
    class AuditEventAbandoned(Model):
        restore_seq = BigIntegerField(index=True)
        seq = BigIntegerField()
        at = DateTimeField()
        actor_kind = CharField(max_length=16)
        actor_id = IntegerField(null=True)
        actor_name = CharField(max_length=120, default="")
        action = CharField(max_length=40)
        form_key = CharField(max_length=64, null=True)
        record_id = IntegerField(null=True)
        diff = TextField(default="{}")
        reason = TextField(default="")
        request_id = CharField(max_length=64, default="")
        ip = CharField(max_length=64, default="")
        user_agent = CharField(max_length=255, default="")
        prev_hash = CharField(max_length=64, default="")
        hash = CharField(max_length=64, default="")
        mac = CharField(max_length=64, default="")

        class Meta:
            database = db
            table_name = "audit_event_abandoned"

    db.create_tables([AuditEventAbandoned])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("audit_event_abandoned"))
