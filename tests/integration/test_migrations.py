"""The migrations build exactly the schema the models describe (no drift), on SQLite and PostgreSQL."""
from playhouse.schema_diff import diff_models

from formwarden import db
from formwarden.models import ALL_MODELS


def test_models_match_migrated_schema(base_db):
    diff = diff_models(db.database.obj, ALL_MODELS)
    field_indexes = [i for i in diff.add_indexes + diff.drop_indexes if not i.name.startswith("record_f")]
    assert (diff.create_tables, diff.add_columns, diff.drop_columns, field_indexes) == ([], [], [], [])


def test_nothing_pending(base_db):
    assert db.pending_migrations() == []
