"""Backups: instance settings (the backup policy among them), one row per backup/drill/restore
run with its live progress, and one row per archive copy on each target."""
from peewee import BigIntegerField, CharField, DateTimeField, FloatField, IntegerField, Model, TextField


def up(migrator, db):
    class Setting(Model):
        key = CharField(max_length=80, unique=True)
        value = TextField(default="{}")
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "setting"

    class BackupRun(Model):
        job_id = CharField(max_length=64, unique=True)
        kind = CharField(max_length=16, index=True)
        trigger = CharField(max_length=16)
        started_by = CharField(max_length=120, default="")
        requested_by_id = IntegerField(null=True)
        status = CharField(max_length=16, default="queued", index=True)
        phase = CharField(max_length=40, default="")
        done = BigIntegerField(default=0)
        total = BigIntegerField(default=0)
        bytes_written = BigIntegerField(default=0)
        archive_id = CharField(max_length=32, default="", index=True)
        archive_name = CharField(max_length=120, default="")
        size = BigIntegerField(default=0)
        sha256 = CharField(max_length=64, default="")
        summary = TextField(default="{}")
        targets = TextField(default="{}")
        message = TextField(default="")
        error_code = CharField(max_length=40, default="")
        seconds = FloatField(null=True)
        created_at = DateTimeField()
        started_at = DateTimeField(null=True)
        finished_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "backup_run"

    class BackupCopy(Model):
        archive_id = CharField(max_length=32)
        archive_name = CharField(max_length=120)
        target = CharField(max_length=40)
        size = BigIntegerField()
        sha256 = CharField(max_length=64)
        created_at = DateTimeField()
        verified_at = DateTimeField(null=True)
        status = CharField(max_length=16, default="verified", index=True)
        drill_status = CharField(max_length=16, default="")
        drill_seconds = FloatField(null=True)
        drilled_at = DateTimeField(null=True)
        pruned_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "backup_copy"
            indexes = ((("target", "archive_id"), True),)

    db.create_tables([Setting, BackupRun, BackupCopy])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("setting"), migrator.drop_table("backup_run"),
                     migrator.drop_table("backup_copy"))
