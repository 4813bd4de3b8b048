"""Formwarden: customer-data forms with field-level access, an audit trail and backups."""

__version__ = "0.1.0"
