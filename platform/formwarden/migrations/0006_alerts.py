"""Alerts raised by the anomaly rules, and the scan's position in the audit trail."""
from peewee import BigIntegerField, CharField, DateTimeField, IntegerField, Model, TextField


def up(migrator, db):
    class Alert(Model):
        rule = CharField(max_length=40)
        subject = CharField(max_length=120)
        severity = CharField(max_length=16, default="warning")
        summary = TextField()
        details = TextField(default="{}")
        status = CharField(max_length=16, default="open", index=True)
        first_seq = BigIntegerField()
        last_seq = BigIntegerField()
        count = IntegerField(default=1)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        handled_by = CharField(max_length=120, default="")

        class Meta:
            database = db
            table_name = "alert"
            indexes = ((("rule", "subject", "status"), False),)

    class AlertCursor(Model):
        last_seq = BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = "alert_cursor"

    db.create_tables([Alert, AlertCursor])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("alert"), migrator.drop_table("alert_cursor"))
