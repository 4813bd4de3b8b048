"""A running backup, restore or drill beats every few seconds (backup/service.py), so a run whose
process was killed is found and marked failed within minutes, not at the next run."""
from peewee import DateTimeField


def up(migrator, db):
    migrator.migrate(migrator.add_column("backup_run", "heartbeat_at", DateTimeField(null=True)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column("backup_run", "heartbeat_at"))
