"""The one vocabulary of audit actions: the writer refuses any other name, and search, alerts
and pages take their lists and labels (zh-CN / en through gettext) from here."""
from __future__ import annotations

from formwarden.forms.messages import N_

LABELS: dict[str, str] = {
    # record changes
    "create": N_("Created"), "update": N_("Changed"), "revert": N_("Reverted"), "delete": N_("Deleted"),
    "restore": N_("Restored"), "purge": N_("Purged"), "bulk_update": N_("Bulk change"),
    "bulk_delete": N_("Bulk delete"), "import": N_("Imported"), "reseal": N_("Re-encrypted"),
    # reading out
    "reveal": N_("Revealed a restricted value"), "export": N_("Exported"),
    "attachment_download": N_("Downloaded an attached file"),
    "attachment_upload": N_("Uploaded a file"),
    "export_download": N_("Downloaded an export"), "audit_export": N_("Exported the audit trail"),
    # accounts and access
    "login": N_("Signed in"), "login_failed": N_("Failed sign-in"), "login_locked": N_("Sign-in locked"),
    "login_unlock": N_("Unlocked sign-in"),
    "logout": N_("Signed out"), "password_change": N_("Changed password"), "user_create": N_("Created an account"),
    "user_activate": N_("Reactivated an account"), "user_deactivate": N_("Deactivated an account"),
    "role_grant": N_("Granted a role"), "role_revoke": N_("Revoked a role"),
    "token_create": N_("Created an API token"), "token_revoke": N_("Revoked an API token"),
    "form_publish": N_("Published a form version"), "form_draft_discard": N_("Discarded a form draft"),
    "form_draft_create": N_("Started a new form (draft)"),
    "form_draft_rename": N_("Changed the key of a form not yet published"),
    "form_publish_request": N_("Asked an access manager to publish a form version"),
    "form_import": N_("Imported a form definition as a draft"), "form_export": N_("Exported a form definition"),
    "user_update": N_("Changed an account"), "role_create": N_("Created a role"),
    "role_update": N_("Changed a role"), "role_retire": N_("Retired a role"), "role_reinstate": N_("Reinstated a role"),
    "role_delete": N_("Deleted a role"), "team_create": N_("Created a team"), "team_update": N_("Changed a team"),
    "team_delete": N_("Deleted a team"), "policy_change": N_("Changed a form's access policy"),
    "policy_draft_discard": N_("Discarded a draft access policy"),
    "policy_export": N_("Exported an access policy"),
    "handover": N_("Handed a record over"), "bulk_handover": N_("Handed records over"),
    "view_as": N_("Viewed as another user"),
    # backups and keys
    "backup_create": N_("Made a backup"), "backup_restore": N_("Restored a backup"),
    "backup_restore_record": N_("Restored a record from a backup"), "backup_policy": N_("Changed the backup policy"),
    "backup_key_rotate": N_("Rotated the backup key"), "keys_export": N_("Exported a recovery kit"),
    "keys_import": N_("Imported a recovery kit"), "backup_drill": N_("Ran a restore drill"),
    "backup_restore_failed": N_("A restore was refused"), "backup_log_export": N_("Downloaded the backup log"),
    # alerts
    "alert_open": N_("Alert raised"), "alert_acknowledge": N_("Alert acknowledged"),
    "alert_resolve": N_("Alert resolved"),
}
ACTIONS = tuple(LABELS)
CHANGING = ("create", "update", "revert", "backup_restore_record", "handover")  # actions that make a new record version
# What a person does with customer data (alert rules on activity: off-hours, dormant accounts).
ACTIVITY = ("create", "update", "delete", "restore", "revert", "purge", "bulk_update", "bulk_delete", "import",
            "export", "export_download", "audit_export", "reveal", "view_as", "attachment_download")
# Changes to who may do what (alert rules watch for bursts and for grants outside working hours).
ACCESS_CHANGES = ("role_grant", "role_revoke", "role_create", "role_update", "role_retire", "role_reinstate",
                  "role_delete", "policy_change", "token_create", "user_create", "user_update", "user_activate",
                  "team_update", "login_unlock")


def check(action: str) -> str:
    """`action` if it belongs to the vocabulary; ValueError otherwise (a programming error)."""
    if action not in LABELS:
        raise ValueError(f"unknown audit action {action!r}: add it to audit/actions.py")
    return action
