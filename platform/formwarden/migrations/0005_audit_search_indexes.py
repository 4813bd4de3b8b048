"""Indexes for the audit search: by actor and time, by form and time, by time."""

INDEXES = {"auditevent_actor_id_at": "(actor_id, at)", "auditevent_form_key_at": "(form_key, at)",
           "auditevent_at": "(at)"}


def up(migrator, db):
    for name, columns in INDEXES.items():
        db.execute_sql(f"CREATE INDEX IF NOT EXISTS {name} ON audit_event {columns}")


def down(migrator, db):
    for name in INDEXES:
        db.execute_sql(f"DROP INDEX IF EXISTS {name}")
