"""Audit trail: events written in the same transaction as the change they describe."""
from formwarden.audit.events import record_event

__all__ = ["record_event"]
