"""Hook specifications. A plugin module defines functions marked with `hookimpl`."""
from __future__ import annotations

import pluggy

PROJECT = "formwarden"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class FormwardenSpec:
    @hookspec
    def formwarden_field_types(self):
        """Return a list of formwarden.forms.FieldType to register."""

    @hookspec
    def formwarden_alert_sinks(self):
        """Return a list of callables taking one alert (a dict); they deliver it somewhere."""

    @hookspec
    def formwarden_backup_target_types(self):
        """Return {scheme: factory(name, url)} for backup targets (see formwarden.backup.targets)."""
