"""Search over records' text fields (records/search.py): a row of terms per record, indexed by
the database's own full-text engine (FTS5 on SQLite, GIN over a tsvector on PostgreSQL), filled
here from the existing records."""


def up(migrator, db):
    from peewee import PostgresqlDatabase

    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("CREATE TABLE IF NOT EXISTS record_search (record_id BIGINT PRIMARY KEY"
                       " REFERENCES record (id) ON DELETE CASCADE, terms tsvector NOT NULL)")
        db.execute_sql("CREATE INDEX IF NOT EXISTS record_search_terms ON record_search USING gin (terms)")
    else:
        # rowid = record id; detail=none: no positions are kept (queries are sets of terms). The
        # `ascii` tokenizer splits only at ASCII separators, which no term contains: each term
        # made by records/search.py stays one token whatever Unicode version SQLite was built with
        # (unicode61's older tables would split some letters Python knows, joining terms of two fields).
        db.execute_sql("CREATE VIRTUAL TABLE IF NOT EXISTS record_search USING fts5("
                       "terms, tokenize = 'ascii', detail = none)")
    from formwarden.forms import versions
    from formwarden.records import search

    search.rebuild((form.id, formdef) for form, formdef in versions.all_forms())


def down(migrator, db):
    db.execute_sql("DROP TABLE IF EXISTS record_search")
