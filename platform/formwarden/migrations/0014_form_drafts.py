"""Typing kept when a session ends mid-save (records/drafts.py): encrypted, per person, hours."""
from peewee import CharField, DateTimeField, ForeignKeyField, Model, TextField


def up(migrator, db):
    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class FormDraft(Model):
        user = ForeignKeyField(User, backref="+", on_delete="CASCADE", index=False)
        path = CharField(max_length=255)
        data = TextField()
        created_at = DateTimeField(index=True)

        class Meta:
            database = db
            table_name = "form_draft"
            indexes = ((("user", "path"), False),)

    db.create_tables([FormDraft])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("form_draft"))
