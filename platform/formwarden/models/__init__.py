"""Peewee models only: no behaviour beyond small conveniences. Services live elsewhere."""
from __future__ import annotations

import datetime as dt

import peewee as pw

from formwarden.db import database, py_datetime


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(pw.Model):
    id = pw.AutoField()  # explicit, so type checkers know it

    class Meta:
        database = database
        legacy_table_names = False


class NeverReusedIdField(pw.AutoField):
    """An id handed out once only: SQLite needs AUTOINCREMENT for that (without it the highest id
    comes back after a purge); PostgreSQL sequences never go back."""

    def ddl(self, ctx):
        node = super().ddl(ctx)
        if isinstance(database.obj, pw.SqliteDatabase):
            return pw.NodeList((node, pw.SQL("AUTOINCREMENT")))
        return node


class Role(BaseModel):
    """A named role: its platform permissions here, its record rights in each form's policy.
    `name` is the key policies use and never changes; the titles are what people read."""
    id = NeverReusedIdField()

    name = pw.CharField(max_length=40, unique=True)
    title_zh = pw.CharField(max_length=80, default="")
    title_en = pw.CharField(max_length=80, default="")
    permissions = pw.TextField(default="")  # space-separated Perm values
    retired_at = pw.DateTimeField(null=True)  # retired roles grant nothing and cannot be given


class User(BaseModel):
    id = NeverReusedIdField()
    username = pw.CharField(max_length=64, unique=True)
    display_name = pw.CharField(max_length=120, default="")
    password_hash = pw.CharField(max_length=255)
    locale = pw.CharField(max_length=8, default="zh-CN")
    is_active = pw.BooleanField(default=True)
    expires_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    password_changed_at = pw.DateTimeField(default=utcnow)
    kind = pw.CharField(max_length=16, default="person")  # person | integration (API tokens only)
    time_zone = pw.CharField(max_length=64, default="")  # "" = the instance's
    last_login_at = pw.DateTimeField(null=True)
    deactivated_reason = pw.TextField(default="")
    must_change_password = pw.BooleanField(default=False)  # signed in with a one-time password


class Team(BaseModel):
    id = NeverReusedIdField()
    manager_id: int | None
    name = pw.CharField(max_length=80, unique=True)
    manager = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")


class UserRole(BaseModel):
    user = pw.ForeignKeyField(User, backref="role_links", on_delete="CASCADE")
    role = pw.ForeignKeyField(Role, backref="user_links", on_delete="CASCADE")

    class Meta:
        indexes = ((("user", "role"), True),)


class UserTeam(BaseModel):
    user = pw.ForeignKeyField(User, backref="team_links", on_delete="CASCADE")
    team = pw.ForeignKeyField(Team, backref="member_links", on_delete="CASCADE")

    class Meta:
        indexes = ((("user", "team"), True),)


class UserSession(BaseModel):
    """Server-side login session: the cookie carries only `token_hash`'s preimage."""

    token_hash = pw.CharField(max_length=64, unique=True)
    user = pw.ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    created_at = pw.DateTimeField(default=utcnow)
    last_seen_at = pw.DateTimeField(default=utcnow)
    revoked_at = pw.DateTimeField(null=True, index=True)
    end_reason = pw.CharField(max_length=16, default="")  # sessions.ENDED_BY_PERSON or ENDED_BY_SERVER
    ip = pw.CharField(max_length=64, default="")
    user_agent = pw.CharField(max_length=255, default="")


class FormDraft(BaseModel):
    """What someone typed into a record form when their session had ended: kept encrypted for
    them alone, for a few hours, and put back into the form when they sign in again."""

    user = pw.ForeignKeyField(User, backref="+", on_delete="CASCADE", index=False)
    path = pw.CharField(max_length=255)
    data = pw.TextField()  # AES-GCM, see records/drafts.py
    created_at = pw.DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "form_draft"
        indexes = ((("user", "path"), False),)


class ApiToken(BaseModel):
    """A partner-system credential; only the SHA-256 of the secret is stored."""
    id = NeverReusedIdField()

    user = pw.ForeignKeyField(User, backref="tokens", on_delete="CASCADE")
    name = pw.CharField(max_length=80, default="")
    prefix = pw.CharField(max_length=16, index=True)
    token_hash = pw.CharField(max_length=64, unique=True)
    scopes = pw.TextField(default="")
    created_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField(null=True)
    revoked_at = pw.DateTimeField(null=True)
    last_used_at = pw.DateTimeField(null=True)
    last_used_ip = pw.CharField(max_length=64, default="")
    fields = pw.TextField(default="")  # "form.field …": only these fields, when given
    ip_allow = pw.TextField(default="")  # addresses or networks it may be used from, when given


class Form(BaseModel):
    id = NeverReusedIdField()
    key = pw.CharField(max_length=64, unique=True)
    current_version = pw.IntegerField(default=0)
    created_at = pw.DateTimeField(default=utcnow)
    policy_version = pw.IntegerField(default=0)  # 0: the current definition's own x-access


class FormVersion(BaseModel):
    """An immutable published definition; records point at the version they were written with."""
    id = NeverReusedIdField()

    form = pw.ForeignKeyField(Form, backref="versions", on_delete="CASCADE")
    version = pw.IntegerField()
    definition = pw.TextField()
    checksum = pw.CharField(max_length=64)
    published_at = pw.DateTimeField(default=utcnow)
    published_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("form", "version"), True),)


class FormPolicy(BaseModel):
    """One version of a form's access policy (the `x-access` block), versioned on its own: a
    policy change needs no new form version. Never changed once written; a rollback is a new one."""
    id = NeverReusedIdField()
    form_id: int

    form = pw.ForeignKeyField(Form, backref="policies", on_delete="CASCADE")
    version = pw.IntegerField()
    access = pw.TextField()
    undecided = pw.TextField(default="[]")  # fields a new form version added, hidden until someone decides
    diff = pw.TextField(default="{}")
    reason = pw.TextField(default="")
    created_at = pw.DateTimeField(default=utcnow)
    created_by_id = pw.IntegerField(null=True)
    created_by_name = pw.CharField(max_length=120, default="")

    class Meta:
        indexes = ((("form", "version"), True),)


class Record(BaseModel):
    id = NeverReusedIdField()
    owner_id: int  # peewee's accessors of the foreign keys' ids, declared for type checkers
    form_id: int
    deleted_by_id: int | None
    # Only the composite indexes below are kept: every index costs time on each write.
    form = pw.ForeignKeyField(Form, backref="records", on_delete="CASCADE", index=False)
    form_version = pw.IntegerField()
    version = pw.IntegerField(default=1)
    owner = pw.ForeignKeyField(User, backref="owned_records", on_delete="RESTRICT", index=False)
    data = pw.JSONField()
    created_at = pw.DateTimeField(default=utcnow)
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+", index=False)
    updated_at = pw.DateTimeField(default=utcnow)
    updated_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+", index=False)
    deleted_at = pw.DateTimeField(null=True)
    deleted_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+", index=False)

    class Meta:
        indexes = (
            (("form", "deleted_at", "updated_at"), False),
            (("form", "owner", "deleted_at", "updated_at"), False),
        )


class Attachment(BaseModel):
    """A file held by an `attachment` field: encrypted under the field key (AES-GCM, bound to its
    token), in the database so it commits with its record and travels in every backup. `token`
    is what the record stores; `record_id` is set when a saved record first holds it."""

    id = NeverReusedIdField()
    token = pw.CharField(max_length=32, unique=True)
    form = pw.ForeignKeyField(Form, backref="+", on_delete="CASCADE", index=False)
    field = pw.CharField(max_length=48)
    record_id = pw.IntegerField(null=True, index=True)
    name = pw.CharField(max_length=255)
    content_type = pw.CharField(max_length=100)
    size = pw.IntegerField()
    sha256 = pw.CharField(max_length=64)
    content = pw.TextField()  # base64 of crypto.fields.seal_bytes(...)
    uploaded_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+", index=False)
    created_at = pw.DateTimeField(default=utcnow)


class EventTimeField(pw.DateTimeField):
    """An event's time, read whatever spelling or type the row holds (db.py_datetime): a damaged
    row is a finding of `audit verify`, never a crash of the pages that list events."""

    def python_value(self, value):
        return py_datetime(value)


class AuditEvent(BaseModel):
    """One entry of the append-only trail; `seq` orders it. Written only by audit.events.

    Indexed for a record's history and the audit search's common filters; each index costs a
    page per write, so there are no more than these."""

    seq = pw.BigIntegerField(unique=True)
    at = EventTimeField(default=utcnow)
    actor_kind = pw.CharField(max_length=16)
    actor_id = pw.IntegerField(null=True)
    actor_name = pw.CharField(max_length=120, default="")
    action = pw.CharField(max_length=40)
    form_key = pw.CharField(max_length=64, null=True)
    record_id = pw.IntegerField(null=True)
    diff = pw.TextField(default="{}")
    reason = pw.TextField(default="")
    request_id = pw.CharField(max_length=64, default="")
    ip = pw.CharField(max_length=64, default="")
    user_agent = pw.CharField(max_length=255, default="")
    prev_hash = pw.CharField(max_length=64, default="")
    hash = pw.CharField(max_length=64, default="")
    mac = pw.CharField(max_length=64, default="")

    class Meta:
        indexes = (
            (("record_id", "form_key", "seq"), False),  # a record's history; search by record
            (("actor_id", "at"), False),  # what one person did in a time window
            (("form_key", "at"), False),  # changes to a form in a time window
            (("action", "at"), False),  # one kind of event, newest first
            (("ip", "at"), False),  # everything from one address
            (("at",), False),  # everything in a time window
        )


class AuditEventField(pw.Model):
    """Which fields each record event changed, newest first per field: the audit search by field
    reads this instead of every event's diff. Derived from the chained events (built by the worker,
    see audit/field_index.py; migration 0008 builds it for existing events), not part of the chain."""

    field = pw.CharField(max_length=64)
    at = pw.DateTimeField()
    seq = pw.BigIntegerField()

    class Meta:
        database = database
        table_name = "audit_event_field"
        primary_key = pw.CompositeKey("field", "at", "seq")


class AuditEventAbandoned(BaseModel):
    """An event a restore set aside (the archive came from another history); kept, never deleted."""

    restore_seq = pw.BigIntegerField(index=True)  # the backup_restore event that set it aside
    seq = pw.BigIntegerField()
    at = pw.DateTimeField()
    actor_kind = pw.CharField(max_length=16)
    actor_id = pw.IntegerField(null=True)
    actor_name = pw.CharField(max_length=120, default="")
    action = pw.CharField(max_length=40)
    form_key = pw.CharField(max_length=64, null=True)
    record_id = pw.IntegerField(null=True)
    diff = pw.TextField(default="{}")
    reason = pw.TextField(default="")
    request_id = pw.CharField(max_length=64, default="")
    ip = pw.CharField(max_length=64, default="")
    user_agent = pw.CharField(max_length=255, default="")
    prev_hash = pw.CharField(max_length=64, default="")
    hash = pw.CharField(max_length=64, default="")
    mac = pw.CharField(max_length=64, default="")


class AuditCheckpoint(BaseModel):
    """A verified chain head, signed with the audit key; a later chain must still contain it."""

    seq = pw.BigIntegerField()
    head_hash = pw.CharField(max_length=64)
    mac = pw.CharField(max_length=64)
    created_at = pw.DateTimeField(default=utcnow)


class Alert(BaseModel):
    """An anomaly found in the audit trail; one open alert per rule and subject at a time."""
    id = NeverReusedIdField()

    rule = pw.CharField(max_length=40)
    subject = pw.CharField(max_length=120)  # the actor or IP it is about
    severity = pw.CharField(max_length=16, default="warning")
    summary = pw.TextField()
    details = pw.TextField(default="{}")
    status = pw.CharField(max_length=16, default="open", index=True)
    first_seq = pw.BigIntegerField()
    last_seq = pw.BigIntegerField()
    count = pw.IntegerField(default=1)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
    handled_by = pw.CharField(max_length=120, default="")

    class Meta:
        indexes = ((("rule", "subject", "status"), False),)


class AuditFieldCursor(BaseModel):
    """How far the field index (audit_event_field) has read the audit trail (a single row)."""

    last_seq = pw.BigIntegerField(default=0)


class AlertCursor(BaseModel):
    """How far the anomaly scan has read the audit trail (a single row)."""

    last_seq = pw.BigIntegerField(default=0)


class JobRun(BaseModel):
    """One row per background job run, polled by the UI for progress."""

    requested_by_id: int | None  # peewee's accessor of the foreign key's id

    job_id = pw.CharField(max_length=64, unique=True)
    kind = pw.CharField(max_length=40)
    requested_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    params = pw.TextField(default="{}")
    status = pw.CharField(max_length=16, default="queued")
    progress = pw.IntegerField(default=0)
    total = pw.IntegerField(default=0)
    message = pw.TextField(default="")
    result_path = pw.CharField(max_length=500, default="")
    created_at = pw.DateTimeField(default=utcnow)
    finished_at = pw.DateTimeField(null=True)


class Setting(BaseModel):
    """Instance settings as JSON by key (the backup policy is `backup.policy`)."""

    key = pw.CharField(max_length=80, unique=True)
    value = pw.TextField(default="{}")
    updated_at = pw.DateTimeField(default=utcnow)


class BackupRun(BaseModel):
    """One backup, restore drill or restore: who or what started it, live progress, the result.
    Kept out of archives and across restores: it is the backup log."""

    job_id = pw.CharField(max_length=64, unique=True)
    kind = pw.CharField(max_length=16, index=True)  # backup | drill | restore | restore_record
    trigger = pw.CharField(max_length=16)  # ui | cli | schedule | api
    started_by = pw.CharField(max_length=120, default="")
    requested_by_id = pw.IntegerField(null=True)
    status = pw.CharField(max_length=16, default="queued", index=True)  # queued running done degraded failed
    heartbeat_at = pw.DateTimeField(null=True)  # while running, refreshed every few seconds (service.beat)
    phase = pw.CharField(max_length=40, default="")
    done = pw.BigIntegerField(default=0)
    total = pw.BigIntegerField(default=0)
    bytes_written = pw.BigIntegerField(default=0)
    archive_id = pw.CharField(max_length=32, default="", index=True)
    archive_name = pw.CharField(max_length=120, default="")
    size = pw.BigIntegerField(default=0)
    sha256 = pw.CharField(max_length=64, default="")
    summary = pw.TextField(default="{}")
    targets = pw.TextField(default="{}")
    message = pw.TextField(default="")
    error_code = pw.CharField(max_length=40, default="")  # why it failed, for a message in the reader's language
    seconds = pw.FloatField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    started_at = pw.DateTimeField(null=True)
    finished_at = pw.DateTimeField(null=True)


class BackupCopy(BaseModel):
    """One archive's verified copy on one target (size and SHA-256 read back after upload)."""

    archive_id = pw.CharField(max_length=32)
    archive_name = pw.CharField(max_length=120)
    target = pw.CharField(max_length=40)
    size = pw.BigIntegerField()
    sha256 = pw.CharField(max_length=64)
    created_at = pw.DateTimeField(default=utcnow)
    verified_at = pw.DateTimeField(null=True)
    status = pw.CharField(max_length=16, default="verified", index=True)  # verified | pruned | missing
    drill_status = pw.CharField(max_length=16, default="")
    drill_seconds = pw.FloatField(null=True)
    drilled_at = pw.DateTimeField(null=True)
    pruned_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("target", "archive_id"), True),)


ALL_MODELS = [
    Team, Role, User, UserRole, UserTeam, UserSession, FormDraft, ApiToken,
    Form, FormVersion, FormPolicy, Record, Attachment, AuditEvent, AuditEventField, AuditFieldCursor, AuditCheckpoint, AuditEventAbandoned, Alert, AlertCursor, JobRun,
    Setting, BackupRun, BackupCopy,
]
