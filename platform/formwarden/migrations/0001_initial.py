"""Initial schema."""
# Generated from models by playhouse.migrations.template; Python-side defaults (utcnow) are not DDL.
from peewee import *


def up(migrator, db):
    class User(Model):
        username = CharField(unique=True, max_length=64)
        display_name = CharField(max_length=120, default='')
        password_hash = CharField()
        locale = CharField(max_length=8, default='zh-CN')
        is_active = BooleanField(default=True)
        expires_at = DateTimeField(null=True)
        created_at = DateTimeField()
        password_changed_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'user'
    db.create_tables([User])

    class ApiToken(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        name = CharField(max_length=80, default='')
        prefix = CharField(index=True, max_length=16)
        token_hash = CharField(unique=True, max_length=64)
        scopes = TextField(default='')
        created_at = DateTimeField()
        expires_at = DateTimeField(null=True)
        revoked_at = DateTimeField(null=True)
        last_used_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'api_token'
    db.create_tables([ApiToken])

    class AuditEvent(Model):
        seq = BigIntegerField(unique=True)
        at = DateTimeField(index=True)
        actor_kind = CharField(max_length=16)
        actor_id = IntegerField(null=True)
        actor_name = CharField(max_length=120, default='')
        action = CharField(index=True, max_length=40)
        form_key = CharField(null=True, max_length=64)
        record_id = IntegerField(null=True)
        diff = TextField(default='{}')
        reason = TextField(default='')
        request_id = CharField(max_length=64, default='')
        ip = CharField(max_length=64, default='')
        user_agent = CharField(default='')
        class Meta:
            database = db
            table_name = 'audit_event'
            indexes = ((('form_key', 'record_id', 'seq'), False),)
    db.create_tables([AuditEvent])

    class Form(Model):
        key = CharField(unique=True, max_length=64)
        current_version = IntegerField(default=0)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'form'
    db.create_tables([Form])

    class FormVersion(Model):
        form = ForeignKeyField(Form, on_delete='CASCADE')
        version = IntegerField()
        definition = TextField()
        checksum = CharField(max_length=64)
        published_at = DateTimeField()
        published_by = ForeignKeyField(User, null=True, on_delete='SET NULL')
        class Meta:
            database = db
            table_name = 'form_version'
            indexes = ((('form', 'version'), True),)
    db.create_tables([FormVersion])

    class JobRun(Model):
        job_id = CharField(unique=True, max_length=64)
        kind = CharField(max_length=40)
        requested_by = ForeignKeyField(User, null=True, on_delete='SET NULL')
        params = TextField(default='{}')
        status = CharField(max_length=16, default='queued')
        progress = IntegerField(default=0)
        total = IntegerField(default=0)
        message = TextField(default='')
        result_path = CharField(max_length=500, default='')
        created_at = DateTimeField()
        finished_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'job_run'
    db.create_tables([JobRun])

    class Record(Model):
        form = ForeignKeyField(Form, on_delete='CASCADE')
        form_version = IntegerField()
        version = IntegerField(default=1)
        owner = ForeignKeyField(User, on_delete='RESTRICT')
        data = JSONField()
        created_at = DateTimeField()
        created_by = ForeignKeyField(User, null=True, on_delete='SET NULL')
        updated_at = DateTimeField()
        updated_by = ForeignKeyField(User, null=True, on_delete='SET NULL')
        deleted_at = DateTimeField(null=True)
        deleted_by = ForeignKeyField(User, null=True, on_delete='SET NULL')
        class Meta:
            database = db
            table_name = 'record'
            indexes = ((('form', 'deleted_at', 'updated_at'), False), (('form', 'owner', 'deleted_at', 'updated_at'), False))
    db.create_tables([Record])

    class Role(Model):
        name = CharField(unique=True, max_length=40)
        title_zh = CharField(max_length=80, default='')
        title_en = CharField(max_length=80, default='')
        class Meta:
            database = db
            table_name = 'role'
    db.create_tables([Role])

    class Team(Model):
        name = CharField(unique=True, max_length=80)
        class Meta:
            database = db
            table_name = 'team'
    db.create_tables([Team])

    class UserRole(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        role = ForeignKeyField(Role, on_delete='CASCADE')
        class Meta:
            database = db
            table_name = 'user_role'
            indexes = ((('user', 'role'), True),)
    db.create_tables([UserRole])

    class UserSession(Model):
        token_hash = CharField(unique=True, max_length=64)
        user = ForeignKeyField(User, on_delete='CASCADE')
        created_at = DateTimeField()
        last_seen_at = DateTimeField()
        revoked_at = DateTimeField(index=True, null=True)
        ip = CharField(max_length=64, default='')
        user_agent = CharField(default='')
        class Meta:
            database = db
            table_name = 'user_session'
    db.create_tables([UserSession])

    class UserTeam(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        team = ForeignKeyField(Team, on_delete='CASCADE')
        class Meta:
            database = db
            table_name = 'user_team'
            indexes = ((('user', 'team'), True),)
    db.create_tables([UserTeam])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('user_team'))
    migrator.migrate(migrator.drop_table('user_session'))
    migrator.migrate(migrator.drop_table('user_role'))
    migrator.migrate(migrator.drop_table('team'))
    migrator.migrate(migrator.drop_table('role'))
    migrator.migrate(migrator.drop_table('record'))
    migrator.migrate(migrator.drop_table('job_run'))
    migrator.migrate(migrator.drop_table('form_version'))
    migrator.migrate(migrator.drop_table('form'))
    migrator.migrate(migrator.drop_table('audit_event'))
    migrator.migrate(migrator.drop_table('api_token'))
    migrator.migrate(migrator.drop_table('user'))
