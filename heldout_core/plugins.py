"""The plugin manager: loads plugins once, collects their experiments, reports broken plugins.

Built-in plugins are module paths in :data:`BUILTIN_PLUGINS`; third-party plugins are entry
points in the ``heldout`` group. Nothing is imported until :func:`get_registry` is first called.
The environment variable ``HELDOUT_PLUGINS`` restricts which third-party plugins load:

- unset: every installed plugin;
- ``HELDOUT_PLUGINS=name1,name2``: only those entry-point names;
- ``HELDOUT_PLUGINS=`` (empty) or ``none``: no third-party plugin (built-ins still load).

A plugin that fails to import, names a hook that does not exist, raises while registering, or
registers an invalid or duplicate experiment is skipped as a whole, with a :class:`PluginWarning`;
it is listed by ``heldout plugins``.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .errors import HeldoutError
from .experiment import Experiment
from .version import __version__

BUILTIN_PLUGINS: tuple[str, ...] = (
    "heldout_zoo.digits",
    "heldout_zoo.mnist",
    "heldout_zoo.arrays",
    "heldout_zoo.cifar.experiment",
    "heldout_zoo.imagenet.experiment",
)
ENTRY_POINT_GROUP = "heldout"
PLUGINS_ENV = "HELDOUT_PLUGINS"
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


class PluginWarning(UserWarning):
    """A plugin could not be loaded and was skipped."""


@dataclass(frozen=True)
class ExperimentEntry:
    """A registered experiment: its class and the plugin (and version) that supplied it."""

    name: str
    cls: type[Experiment]
    plugin: str
    version: str | None


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that was skipped, and why (one sentence)."""

    name: str
    error: str


class Registry:
    """The experiments supplied by a set of plugins, and the plugins that failed to load."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.experiments: dict[str, ExperimentEntry] = {}
        self.broken: list[BrokenPlugin] = []

    # ----------------------------------------------------------------- loading
    def add_plugin(self, plugin: Any, name: str, version: str | None = None) -> bool:
        """Register ``plugin`` (a module or object with hookimpls) and collect its experiments.

        Returns False (after a :class:`PluginWarning`) when the plugin is broken; its
        experiments are then all left out.
        """
        if self.pm.has_plugin(name):
            return self._skip(name, "a plugin of this name is already loaded (do two installed packages declare "
                                    "the same 'heldout' entry-point name?)")
        if self.pm.is_registered(plugin):
            return self._skip(name, f"it is already loaded as plugin '{self.pm.get_name(plugin)}'")
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # pluggy validation
            return self._skip(name, f"its hooks do not match the heldout hook specifications ({exc})")
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(name=name)
            return self._skip(name, f"{exc} (a misspelled hook name?)")
        staged: dict[str, ExperimentEntry] = {}

        def register(cls: Any) -> None:
            entry = self._validate(cls, name, version)
            other = self.experiments.get(entry.name) or staged.get(entry.name)
            if other is not None:
                raise HeldoutError(
                    f"experiment '{entry.name}' from plugin '{name}' is already registered by plugin "
                    f"'{other.plugin}'; experiment names must be unique."
                )
            staged[entry.name] = entry

        try:
            for impl in self.pm.hook.register_experiments.get_hookimpls():
                if impl.plugin_name == name:
                    impl.function(**{arg: register for arg in impl.argnames if arg == "register"})
        except (Exception, SystemExit) as exc:  # a plugin's own bug (even sys.exit) must not stop the others
            self.pm.unregister(name=name)
            return self._skip(name, str(exc) if isinstance(exc, HeldoutError) else f"register_experiments raised {type(exc).__name__}: {exc}")
        self.experiments.update(staged)
        return True

    def load_modules(self, module_paths: Iterable[str]) -> None:
        """Import and add plugins given as module paths (the built-ins)."""
        for path in module_paths:
            try:
                module = importlib.import_module(path)
            except (Exception, SystemExit) as exc:
                self._skip(path, f"importing it raised {type(exc).__name__}: {exc}")
                continue
            self.add_plugin(module, path, __version__)

    def load_entry_points(self, allowed: set[str] | None = None) -> None:
        """Load plugins from the ``heldout`` entry-point group (only ``allowed`` names, if given)."""
        found = metadata.entry_points(group=ENTRY_POINT_GROUP)
        names = {ep.name for ep in found}
        for missing in sorted((allowed or set()) - names):
            warnings.warn(f"{PLUGINS_ENV} names plugin '{missing}', which is not installed.", PluginWarning, stacklevel=3)
        for ep in sorted(found, key=lambda e: e.name):
            if allowed is not None and ep.name not in allowed:
                continue
            version = ep.dist.version if ep.dist is not None else None
            try:
                plugin = ep.load()
            except (Exception, SystemExit) as exc:
                self._skip(ep.name, f"loading entry point '{ep.value}' raised {type(exc).__name__}: {exc}")
                continue
            self.add_plugin(plugin, ep.name, version)

    # ----------------------------------------------------------------- lookup
    def get(self, name: str) -> ExperimentEntry:
        """The entry of experiment ``name``; HeldoutError listing the known names otherwise."""
        if name not in self.experiments:
            known = ", ".join(sorted(self.experiments)) or "none"
            hint = f" (skipped broken plugins: {', '.join(b.name for b in self.broken)})" if self.broken else ""
            raise HeldoutError(f"unknown experiment '{name}'; known experiments: {known}{hint}.")
        return self.experiments[name]

    def create(self, name: str, **options: Any) -> Experiment:
        """An instance of experiment ``name`` with the given options, attributed to its plugin.

        This is the one way the project builds experiments (``train``, ``quickstart``, ``verify``):
        the instance carries the plugin's name and version, which the run driver records.
        """
        entry = self.get(name)
        experiment = entry.cls(**options)
        experiment.plugin, experiment.plugin_version = entry.plugin, entry.version
        return experiment

    # ----------------------------------------------------------------- internals
    def _skip(self, name: str, reason: str) -> bool:
        reason = reason.rstrip(".")
        self.broken.append(BrokenPlugin(name, reason))
        warnings.warn(f"heldout plugin '{name}' was skipped: {reason}.", PluginWarning, stacklevel=3)
        return False

    @staticmethod
    def _validate(cls: Any, plugin: str, version: str | None) -> ExperimentEntry:
        if not (isinstance(cls, type) and issubclass(cls, Experiment)):
            raise HeldoutError(f"plugin '{plugin}' registered {cls!r}, which is not a subclass of heldout_core.experiment.Experiment.")
        name = cls.name
        if not isinstance(name, str) or not _NAME.match(name):
            raise HeldoutError(
                f"plugin '{plugin}' registered {cls.__name__} with name {name!r}; a name is lowercase "
                f"letters, digits, '_' and '-', starting with a letter."
            )
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(cls.__abstractmethods__))
            raise HeldoutError(f"experiment '{name}' from plugin '{plugin}' does not implement {missing}.")
        if cls.num_classes is not None and not (isinstance(cls.num_classes, int) and cls.num_classes >= 2):
            raise HeldoutError(f"experiment '{name}' from plugin '{plugin}' has num_classes={cls.num_classes!r}; it must be an int >= 2 or None.")
        if not cls.default_ratios or not all(0 < float(r) < 1 for r in cls.default_ratios):
            raise HeldoutError(f"experiment '{name}' from plugin '{plugin}' has default_ratios={cls.default_ratios!r}; each must lie in (0, 1).")
        if int(cls.default_runs) < 1 or int(cls.default_epochs) < 1:
            raise HeldoutError(f"experiment '{name}' from plugin '{plugin}' needs default_runs and default_epochs of at least 1.")
        return ExperimentEntry(name, cls, plugin, version)


def allowed_plugins(environ: dict[str, str] | None = None) -> set[str] | None:
    """The third-party plugin names ``HELDOUT_PLUGINS`` allows, or None for all of them."""
    value = (os.environ if environ is None else environ).get(PLUGINS_ENV)
    if value is None:
        return None
    names = {part.strip() for part in value.split(",") if part.strip()}
    return {name for name in names if name.lower() != "none"}


def build_registry(builtins: Iterable[str] = BUILTIN_PLUGINS, *, entry_points: bool = True,
                   plugins: Iterable[tuple[Any, str]] = ()) -> Registry:
    """A new registry: the ``builtins`` module paths, extra ``(plugin, name)`` pairs, then (when
    ``entry_points``) the installed third-party plugins that ``HELDOUT_PLUGINS`` allows."""
    registry = Registry()
    registry.load_modules(builtins)
    for plugin, name in plugins:
        registry.add_plugin(plugin, name)
    if entry_points:
        registry.load_entry_points(allowed_plugins())
    return registry


_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on first use (plugins load lazily and once)."""
    global _registry
    if _registry is None:
        _registry = build_registry()
    return _registry


def reset_registry() -> None:
    """Forget the process-wide registry so the next :func:`get_registry` reloads (for tests)."""
    global _registry
    _registry = None


def get_experiment(name: str, **options: Any) -> Experiment:
    """An instance of the registered experiment ``name`` (HeldoutError when unknown)."""
    return get_registry().create(name, **options)
