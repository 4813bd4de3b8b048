"""Backups: the archive format and its keys, dumping and restoring, targets, retention, drills."""
