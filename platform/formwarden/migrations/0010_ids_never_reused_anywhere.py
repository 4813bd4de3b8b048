"""Ids that name something people or systems refer to are never handed out twice, on SQLite
too: accounts, tokens, teams, roles, forms, form versions and alerts get AUTOINCREMENT (a plain
INTEGER PRIMARY KEY hands the highest id out again after a delete, or after a restore of an
older backup; a new account would then inherit what the old id was tied to). Rebuilt with
foreign keys off, so dropping the old table cascades nowhere."""

atomic = False
TABLES = ("user", "api_token", "team", "role", "form", "form_version", "alert")


def _rebuild(db, table):
    (ddl,) = db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    if "AUTOINCREMENT" in ddl.upper():
        return
    indexes = [row[0] for row in db.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,))]
    new_ddl = ddl.replace('"id" INTEGER NOT NULL PRIMARY KEY', '"id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT', 1)
    if new_ddl == ddl:
        raise RuntimeError(f"unexpected {table} table definition; cannot add AUTOINCREMENT")
    db.execute_sql(new_ddl.replace(f'CREATE TABLE "{table}"', f'CREATE TABLE "{table}_new"', 1))
    db.execute_sql(f'INSERT INTO "{table}_new" SELECT * FROM "{table}"')
    db.execute_sql(f'DROP TABLE "{table}"')
    db.execute_sql(f'ALTER TABLE "{table}_new" RENAME TO "{table}"')
    for sql in indexes:
        db.execute_sql(sql)


def up(migrator, db):
    from peewee import PostgresqlDatabase

    if isinstance(db, PostgresqlDatabase):
        return  # sequences never go back
    db.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        with db.atomic():
            for table in TABLES:
                _rebuild(db, table)
            problems = db.execute_sql("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"foreign keys broken after the rebuild: {problems[:5]}")
    finally:
        db.execute_sql("PRAGMA foreign_keys = ON")


def down(migrator, db):
    pass  # keeping AUTOINCREMENT is harmless
