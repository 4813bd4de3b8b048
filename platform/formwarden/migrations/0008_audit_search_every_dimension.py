"""The audit search answers each single dimension from an index: by record alone (the history
index now leads with record_id), by action, by IP, and by field through `audit_event_field`
(which fields each record event changed; the worker keeps it up to date, see
audit/field_index.py), filled here from the existing events."""

OLD = ("auditevent_form_key_record_id_seq",)
NEW = {"auditevent_record_id_form_key_seq": "(record_id, form_key, seq)", "auditevent_action_at": "(action, at)",
       "auditevent_ip_at": "(ip, at)"}


def up(migrator, db):
    from peewee import PostgresqlDatabase

    pg = isinstance(db, PostgresqlDatabase)
    for name in OLD:
        db.execute_sql(f"DROP INDEX IF EXISTS {name}")
    for name, columns in NEW.items():
        db.execute_sql(f"CREATE INDEX IF NOT EXISTS {name} ON audit_event {columns}")
    db.execute_sql(
        "CREATE TABLE IF NOT EXISTS audit_event_field (field VARCHAR(64) NOT NULL, at "
        + ("TIMESTAMP" if pg else "DATETIME") + " NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (field, at, seq))"
        + ("" if pg else " WITHOUT ROWID"))
    db.execute_sql("CREATE TABLE IF NOT EXISTS audit_field_cursor (id "
                   + ("SERIAL" if pg else "INTEGER") + " NOT NULL PRIMARY KEY, last_seq BIGINT NOT NULL)")
    db.execute_sql("DELETE FROM audit_field_cursor")
    db.execute_sql("INSERT INTO audit_field_cursor (last_seq) SELECT COALESCE(MAX(seq), 0) FROM audit_event")
    if pg:
        db.execute_sql("INSERT INTO audit_event_field (field, at, seq) SELECT DISTINCT k, e.at, e.seq"
                       " FROM audit_event e, jsonb_object_keys(CAST(e.diff AS jsonb)) AS k"
                       " WHERE e.record_id IS NOT NULL AND e.action <> 'reveal' AND left(e.diff, 1) = '{'"
                       " ON CONFLICT DO NOTHING")
    else:
        db.execute_sql("INSERT OR IGNORE INTO audit_event_field (field, at, seq) SELECT j.key, e.at, e.seq"
                       " FROM audit_event e, json_each(e.diff) j"
                       " WHERE e.record_id IS NOT NULL AND e.action <> 'reveal' AND json_valid(e.diff)")


def down(migrator, db):
    db.execute_sql("DROP TABLE IF EXISTS audit_event_field")
    db.execute_sql("DROP TABLE IF EXISTS audit_field_cursor")
    for name in NEW:
        db.execute_sql(f"DROP INDEX IF EXISTS {name}")
    db.execute_sql("CREATE INDEX IF NOT EXISTS auditevent_form_key_record_id_seq ON audit_event (form_key, record_id, seq)")
