"""The plugin API: pluggy hook specifications and the loader. Plugins themselves live in /plugins."""
from formwarden.plugins.loader import PluginReport, load_plugins
from formwarden.plugins.spec import hookimpl, hookspec

__all__ = ["PluginReport", "hookimpl", "hookspec", "load_plugins"]
