"""Discover plugins from plugin folders and installed packages' entry points.

A plugin that fails to import or register is reported (and logged) but does not stop the
platform; a duplicate field type is such a failure.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import logging
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

import pluggy

from formwarden.forms.registry import FieldType, FieldTypeRegistry, field_types
from formwarden.plugins.spec import PROJECT, FormwardenSpec

log = logging.getLogger(__name__)


@dataclass
class PluginReport:
    loaded: list[str] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)


_state: dict = {}


def plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager (an empty one until load_plugins has run)."""
    if "manager" not in _state:
        pm = pluggy.PluginManager(PROJECT)
        pm.add_hookspecs(FormwardenSpec)
        _state["manager"] = pm
    return _state["manager"]


def alert_sinks() -> list:
    """Every sink the plugins provide, through the hook relay."""
    return [sink for sinks in plugin_manager().hook.formwarden_alert_sinks() for sink in sinks or []]


def _only(pm: pluggy.PluginManager, module, hook: str):
    """A hook caller that reaches `module` alone: a plugin's bad result is its own failure."""
    return pm.subset_hook_caller(hook, remove_plugins=[p for p in pm.get_plugins() if p is not module])


def _import_file(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(f"formwarden_plugin_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _candidates(dirs):
    for d in dirs:
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            if p.suffix == ".py" and not p.name.startswith("_"):
                yield p.stem, p
            elif p.is_dir() and (p / "__init__.py").exists():
                yield p.name, p / "__init__.py"


def load_plugins(dirs, allowed=None, registry: FieldTypeRegistry = field_types) -> PluginReport:
    """Load plugins once per process; later calls return the first report."""
    if "report" not in _state:
        _state["report"] = discover(dirs, allowed, registry, plugin_manager())
    return _state["report"]


def discover(dirs, allowed, registry: FieldTypeRegistry, pm: pluggy.PluginManager) -> PluginReport:
    """Import every plugin module found and register what its hooks return; a module that fails
    to import, or whose hook raises or returns something else than declared, is left out whole
    (its field types too) and reported."""
    report = PluginReport()
    modules = []
    for name, path in _candidates(dirs):
        if allowed is not None and name not in allowed:
            continue
        try:
            modules.append((name, _import_file(name, path)))
        except Exception as exc:  # a broken plugin must not take the platform down
            report.broken[name] = f"import failed: {exc}"
    for ep in entry_points(group="formwarden.plugins"):
        if allowed is not None and ep.name not in allowed:
            continue
        try:
            modules.append((ep.name, ep.load()))
        except Exception as exc:
            report.broken[ep.name] = f"import failed: {exc}"
    for name, module in modules:
        try:
            pm.register(module, name=name)
            for types in _only(pm, module, "formwarden_field_types")():
                for ft in types or []:
                    if not isinstance(ft, FieldType):
                        raise TypeError(f"formwarden_field_types must return FieldType objects, not {ft!r:.80}")
                    registry.register(dataclasses.replace(ft, plugin=name))
            for sinks in _only(pm, module, "formwarden_alert_sinks")():
                if not all(callable(sink) for sink in sinks or []):
                    raise TypeError("formwarden_alert_sinks must return callables")
            for types in _only(pm, module, "formwarden_backup_target_types")():
                if not isinstance(types, dict) or not all(callable(f) for f in types.values()):
                    raise TypeError("formwarden_backup_target_types must return {scheme: factory}")
            report.loaded.append(name)
        except Exception as exc:  # a bad hook result disables the plugin, with the types it registered
            report.broken[name] = f"registration failed: {exc}"
            registry.unregister_plugin(name)
            if pm.is_registered(module):
                pm.unregister(module)
    for name, why in report.broken.items():
        log.error("plugin %s is broken and was not loaded: %s", name, why)
    return report
