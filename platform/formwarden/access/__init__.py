"""Roles, field policies, record scopes and the gate."""
