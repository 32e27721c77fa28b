"""Which notifier plugins exist: discovered from the entry-point group `tocsin.notifiers`, each
loaded in isolation. A plugin that fails to import, was written for another SDK version, has
no name or a Config that is not a pydantic model is listed with `loaded=False` and its error;
the host carries on. `TOCSIN_DISABLED_PLUGINS` names plugins not to load at all."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel

from app.errors import BadUserInput
from app.notifications.sdk import API_VERSION, Notifier

log = logging.getLogger(__name__)

GROUP = "tocsin.notifiers"


@dataclass
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    loaded: bool
    error: str | None = None
    notifier: Notifier | None = None

    @property
    def config_schema(self) -> dict[str, Any] | None:
        if self.notifier is None:
            return None
        return self.notifier.Config.model_json_schema()


def contract_error(candidate: Any) -> str | None:
    """What is wrong with a plugin class, or None when it honours the SDK contract."""
    if not isinstance(candidate, type) or not issubclass(candidate, Notifier):
        return "the entry point does not name a subclass of app.notifications.sdk.Notifier"
    version = getattr(candidate, "api_version", None)
    if version != API_VERSION:
        return f"written for notifier API version {version!r}; this Tocsin speaks {API_VERSION}"
    name = getattr(candidate, "name", None)
    if not isinstance(name, str) or not name.strip():
        return "the plugin class declares no `name`"
    config = getattr(candidate, "Config", None)
    if not isinstance(config, type) or not issubclass(config, BaseModel):
        return "`Config` is not a pydantic model"
    try:
        config.model_json_schema()
    except Exception as exc:
        return f"`Config` has no JSON Schema: {exc}"
    return None


def load_entry_point(entry: EntryPoint) -> PluginInfo:
    dist = entry.dist
    info = PluginInfo(
        name=entry.name,
        distribution=dist.metadata["Name"] if dist is not None else None,
        version=dist.version if dist is not None else None,
        loaded=False,
    )
    try:
        candidate = entry.load()
    except BaseException as exc:  # a plugin's import may raise anything, even SystemExit
        if isinstance(exc, KeyboardInterrupt):
            raise
        info.error = f"import failed: {type(exc).__name__}: {exc}"
        return info
    return _instantiate(info, candidate)


def _instantiate(info: PluginInfo, candidate: Any) -> PluginInfo:
    problem = contract_error(candidate)
    if problem is not None:
        info.error = problem
        return info
    try:
        info.notifier = candidate()
    except Exception as exc:
        info.error = f"could not be created: {type(exc).__name__}: {exc}"
        return info
    info.loaded = True
    return info


class Registry:
    """The plugins of this process, by entry-point name."""

    def __init__(self, plugins: dict[str, PluginInfo] | None = None) -> None:
        self.plugins: dict[str, PluginInfo] = dict(plugins or {})

    @classmethod
    def discover(cls, disabled: set[str] | frozenset[str] = frozenset()) -> Registry:
        plugins: dict[str, PluginInfo] = {}
        for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            if entry.name in plugins:
                log.warning("notifier %r is declared twice; keeping the first", entry.name)
                continue
            if entry.name in disabled:
                dist = entry.dist
                plugins[entry.name] = PluginInfo(
                    name=entry.name,
                    distribution=dist.metadata["Name"] if dist is not None else None,
                    version=dist.version if dist is not None else None,
                    loaded=False,
                    error="disabled by TOCSIN_DISABLED_PLUGINS",
                )
                continue
            info = load_entry_point(entry)
            if not info.loaded:
                log.warning("notifier plugin %r not loaded: %s", entry.name, info.error)
            plugins[entry.name] = info
        return cls(plugins)

    def add(self, notifier_class: type[Notifier], name: str | None = None) -> PluginInfo:
        """Register an in-process plugin (benchmarks, tests of the host)."""
        key = name or notifier_class.name
        info = _instantiate(
            PluginInfo(name=key, distribution=None, version=None, loaded=False), notifier_class
        )
        self.plugins[key] = info
        return info

    def all(self) -> list[PluginInfo]:
        return [self.plugins[name] for name in sorted(self.plugins)]

    def find(self, name: str) -> Notifier | None:
        info = self.plugins.get(name)
        return info.notifier if info is not None else None

    def require(self, name: str, field: str = "plugin") -> Notifier:
        info = self.plugins.get(name)
        if info is None:
            raise BadUserInput(f"no notifier plugin named {name!r} is installed", field=field)
        if info.notifier is None:
            raise BadUserInput(f"notifier plugin {name!r} is not loaded: {info.error}",
                               field=field)
        return info.notifier


_registry: Registry | None = None


def get_registry() -> Registry:
    """The process's registry, discovered on first use."""
    global _registry
    if _registry is None:
        from app.config import get_settings

        _registry = Registry.discover(get_settings().disabled_plugin_names)
    return _registry


def set_registry(registry: Registry | None) -> None:
    global _registry
    _registry = registry
