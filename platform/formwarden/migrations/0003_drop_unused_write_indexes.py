"""Drop indexes no query uses yet but every write pays for (each adds a page to the WAL per
commit): record.owner_id alone (the per-form composite covers owner scope), audit_event.at and
audit_event.action (the audit search will bring the indexes it needs)."""

UNUSED = {"record_owner_id": "record (owner_id)", "auditevent_at": "audit_event (at)",
          "auditevent_action": "audit_event (action)"}


def up(migrator, db):
    for name in UNUSED:
        db.execute_sql(f"DROP INDEX IF EXISTS {name}")


def down(migrator, db):
    for name, target in UNUSED.items():
        db.execute_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")
