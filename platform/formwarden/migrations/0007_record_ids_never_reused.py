"""Record ids are never handed out twice: SQLite's table gets AUTOINCREMENT (a plain INTEGER
PRIMARY KEY reuses the highest id after it is purged, and the new record would inherit the old
one's history). On both databases the next id starts above every id the audit trail names."""

_NEXT_FLOOR = ("SELECT MAX(n) FROM (SELECT COALESCE(MAX(id), 0) AS n FROM record"
               " UNION ALL SELECT COALESCE(MAX(record_id), 0) FROM audit_event) AS ids")


def _sqlite(db):
    (ddl,) = db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'record'").fetchone()
    if "AUTOINCREMENT" in ddl.upper():
        return
    indexes = [row[0] for row in db.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'record' AND sql IS NOT NULL")]
    new_ddl = ddl.replace('"id" INTEGER NOT NULL PRIMARY KEY', '"id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT', 1)
    if new_ddl == ddl:
        raise RuntimeError("unexpected record table definition; cannot add AUTOINCREMENT")
    db.execute_sql(new_ddl.replace('CREATE TABLE "record"', 'CREATE TABLE "record_new"', 1))
    db.execute_sql('INSERT INTO "record_new" SELECT * FROM "record"')
    db.execute_sql('DROP TABLE "record"')
    db.execute_sql('ALTER TABLE "record_new" RENAME TO "record"')
    for sql in indexes:
        db.execute_sql(sql)
    floor = db.execute_sql(_NEXT_FLOOR).fetchone()[0] or 0
    db.execute_sql("DELETE FROM sqlite_sequence WHERE name = 'record'")
    db.execute_sql("INSERT INTO sqlite_sequence (name, seq) VALUES ('record', ?)", (floor,))


def _postgres(db):
    floor = db.execute_sql(_NEXT_FLOOR).fetchone()[0] or 0
    if floor:
        db.execute_sql("SELECT setval(s, GREATEST(%s, COALESCE(pg_sequence_last_value(s::regclass), 0)))"
                       " FROM (SELECT pg_get_serial_sequence('record', 'id') AS s) AS q", (floor,))


def up(migrator, db):
    from peewee import PostgresqlDatabase

    if isinstance(db, PostgresqlDatabase):
        _postgres(db)
    else:
        _sqlite(db)


def down(migrator, db):
    pass  # keeping AUTOINCREMENT is harmless
