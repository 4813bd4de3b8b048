"""Validation message templates (English msgids, translated by the web layer via gettext)."""


def N_(text: str) -> str:
    """Marks a string for extraction without translating it here."""
    return text


MESSAGES = {
    "required": N_("This field is required."),
    "type": N_("Expected a value of type %(expected)s."),
    "format": N_("Not a valid %(format)s."),
    "pattern": N_("Does not match the expected format."),
    "minLength": N_("Must be at least %(limit)s characters."),
    "maxLength": N_("Must be at most %(limit)s characters."),
    "minimum": N_("Must be at least %(limit)s."),
    "maximum": N_("Must be at most %(limit)s."),
    "exclusiveMinimum": N_("Must be greater than %(limit)s."),
    "exclusiveMaximum": N_("Must be less than %(limit)s."),
    "multipleOf": N_("Must be a multiple of %(limit)s."),
    "enum": N_("Choose one of the offered options."),
    "const": N_("This value is not allowed here."),
    "maxItems": N_("At most %(limit)s entries."),
    "minItems": N_("At least %(limit)s entries."),
    "uniqueItems": N_("Entries must not repeat."),
    "unknown_field": N_("Unknown field."),
    "retired_option": N_("This option is retired: choose one of the current options."),
    "hidden_by_rule": N_("The form's rules hide this field for this record, so a value sent for it would not be kept."),
    "invalid": N_("Invalid value."),
    "invalid_character": N_("Contains a character that is not allowed."),
    "unknown_reference": N_("No such record, or you may not see it."),
    "reason_required": N_("Changing this needs a reason."),
    "invalid_schedule": N_("Not a schedule that runs: five cron fields (minute 0–59, hour 0–23, day, month, weekday), e.g. 0 2 * * * for 02:00 every day."),
    "out_of_range": N_("A whole number from %(low)s to %(high)s."),
    "unknown_user": N_("No active account by that name may run backups."),
    "file_too_large": N_("A file may be at most 5 MB."),
    "file_type": N_("Only PDF, images (PNG, JPEG, GIF, WebP), Word, Excel and text files are accepted."),
    "empty_file": N_("The file is empty."),
    "unknown_file": N_("No such uploaded file: upload it again."),
    "upload_quota": N_("You have many uploaded files that no record holds yet: save or discard those forms first."),
    "upload_rate": N_("Too many files uploaded in the last minutes: try again in a while."),
}


def render(code: str, params: dict | None = None, translate=lambda s: s) -> str:
    template = translate(MESSAGES.get(code, MESSAGES["invalid"]))
    try:
        return template % (params or {})
    except (KeyError, TypeError, ValueError):
        return template
