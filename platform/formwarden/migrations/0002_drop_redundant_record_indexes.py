"""Drop record indexes that every write paid for but no query used: form_id alone (the
composite indexes start with it) and the created/updated/deleted-by foreign keys."""

REDUNDANT = ("record_form_id", "record_created_by_id", "record_updated_by_id", "record_deleted_by_id")


def up(migrator, db):
    for name in REDUNDANT:
        db.execute_sql(f"DROP INDEX IF EXISTS {name}")


def down(migrator, db):
    for name in REDUNDANT:
        column = name[len("record_"):]
        db.execute_sql(f"CREATE INDEX IF NOT EXISTS {name} ON record ({column})")
