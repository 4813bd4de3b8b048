"""Files of `attachment` fields (records/attachments.py): encrypted, in the database."""
from peewee import AutoField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model, NodeList, SqliteDatabase, TextField
from peewee import SQL as Sql


class NeverReusedIdField(AutoField):
    """AUTOINCREMENT on SQLite (ids never handed out twice); a sequence on PostgreSQL."""

    def ddl(self, ctx):
        node = super().ddl(ctx)
        return NodeList((node, Sql("AUTOINCREMENT"))) if isinstance(self.model._meta.database, SqliteDatabase) else node


def up(migrator, db):
    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class Form(Model):
        class Meta:
            database = db
            table_name = "form"

    class Attachment(Model):
        id = NeverReusedIdField()
        token = CharField(max_length=32, unique=True)
        form = ForeignKeyField(Form, backref="+", on_delete="CASCADE", index=False)
        field = CharField(max_length=48)
        record_id = IntegerField(null=True, index=True)
        name = CharField(max_length=255)
        content_type = CharField(max_length=100)
        size = IntegerField()
        sha256 = CharField(max_length=64)
        content = TextField()
        uploaded_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+", index=False)
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "attachment"

    db.create_tables([Attachment])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("attachment"))
