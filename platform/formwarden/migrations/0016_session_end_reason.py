"""Why a session ended (auth/sessions.py): kept typing is taken only from a session that is still
valid, timed out or was ended by the server, never from one that signed out."""
from peewee import CharField


def up(migrator, db):
    migrator.migrate(migrator.add_column("user_session", "end_reason", CharField(max_length=16, default="")))


def down(migrator, db):
    migrator.migrate(migrator.drop_column("user_session", "end_reason"))
