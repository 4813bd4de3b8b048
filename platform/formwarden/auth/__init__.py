"""Accounts: passwords, server-side sessions, API tokens, users/roles/teams."""
