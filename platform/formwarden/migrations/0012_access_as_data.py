"""Access as data: roles carry their platform permissions and can be retired; teams have a
manager; accounts have a kind (a person, or an integration that only uses API tokens), a time
zone, a last sign-in, the reason they were deactivated and whether a one-time password must
still be replaced; tokens may narrow to fields and IP
addresses and remember the address they were last used from; each
form's access policy is versioned on its own (form_policy), seeded from the access blocks of
the current form versions."""
import datetime as dt
import json

ROLE_PERMISSIONS = {  # what the built-in roles could do when permissions were still code
    "admin": "access.manage account alerts.manage alerts.view audit.read backups forms.manage records"
             " records.purge tokens.own users.manage",
    "manager": "account records tokens.own",
    "auditor": "account alerts.view audit.read",
}
DEFAULT_PERMISSIONS = "account records"


def up(migrator, db):
    from peewee import PostgresqlDatabase

    pg = isinstance(db, PostgresqlDatabase)
    time_type = "TIMESTAMP" if pg else "DATETIME"
    ident = "SERIAL PRIMARY KEY" if pg else "INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT"
    with db.atomic():
        for sql in (
            "ALTER TABLE role ADD COLUMN permissions TEXT NOT NULL DEFAULT ''",
            f"ALTER TABLE role ADD COLUMN retired_at {time_type}",
            "ALTER TABLE team ADD COLUMN manager_id INTEGER REFERENCES \"user\" (id) ON DELETE SET NULL",
            "ALTER TABLE \"user\" ADD COLUMN time_zone VARCHAR(64) NOT NULL DEFAULT ''",
            f"ALTER TABLE \"user\" ADD COLUMN last_login_at {time_type}",
            "ALTER TABLE \"user\" ADD COLUMN deactivated_reason TEXT NOT NULL DEFAULT ''",
            f"ALTER TABLE \"user\" ADD COLUMN must_change_password {'BOOLEAN' if pg else 'INTEGER'} NOT NULL DEFAULT {'FALSE' if pg else '0'}",
            "ALTER TABLE api_token ADD COLUMN last_used_ip VARCHAR(64) NOT NULL DEFAULT ''",
            "ALTER TABLE api_token ADD COLUMN fields TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE api_token ADD COLUMN ip_allow TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE \"user\" ADD COLUMN kind VARCHAR(16) NOT NULL DEFAULT 'person'",
            "ALTER TABLE form ADD COLUMN policy_version INTEGER NOT NULL DEFAULT 0",
            f"""CREATE TABLE form_policy (
                id {ident},
                form_id INTEGER NOT NULL REFERENCES form (id) ON DELETE CASCADE,
                version INTEGER NOT NULL,
                access TEXT NOT NULL,
                undecided TEXT NOT NULL DEFAULT '[]',
                diff TEXT NOT NULL DEFAULT '{{}}',
                reason TEXT NOT NULL DEFAULT '',
                created_at {time_type} NOT NULL,
                created_by_id INTEGER,
                created_by_name VARCHAR(120) NOT NULL DEFAULT ''
            )""",
            "CREATE UNIQUE INDEX form_policy_form_id_version ON form_policy (form_id, version)",
            "CREATE INDEX form_policy_form_id ON form_policy (form_id)",
            "CREATE INDEX team_manager_id ON team (manager_id)",
        ):
            db.execute_sql(sql)
        for role_id, name in db.execute_sql("SELECT id, name FROM role").fetchall():
            db.execute_sql("UPDATE role SET permissions = %s WHERE id = %s" if pg else
                           "UPDATE role SET permissions = ? WHERE id = ?",
                           (ROLE_PERMISSIONS.get(name, DEFAULT_PERMISSIONS), role_id))
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        rows = db.execute_sql(
            "SELECT f.id, v.definition FROM form f JOIN form_version v ON v.form_id = f.id AND v.version = f.current_version"
        ).fetchall()
        for form_id, definition in rows:
            access = json.loads(definition)["x-access"]
            db.execute_sql(
                ("INSERT INTO form_policy (form_id, version, access, undecided, diff, reason, created_at, created_by_name)"
                 " VALUES (%s, 1, %s, '[]', '{}', %s, %s, 'system')" if pg else
                 "INSERT INTO form_policy (form_id, version, access, undecided, diff, reason, created_at, created_by_name)"
                 " VALUES (?, 1, ?, '[]', '{}', ?, ?, 'system')"),
                (form_id, json.dumps(access, ensure_ascii=False, sort_keys=True),
                 "taken over from the published form definition", now))
            db.execute_sql("UPDATE form SET policy_version = 1 WHERE id = %s" if pg else
                           "UPDATE form SET policy_version = 1 WHERE id = ?", (form_id,))


def down(migrator, db):
    db.execute_sql("DROP TABLE form_policy")
