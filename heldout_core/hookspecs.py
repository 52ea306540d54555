"""The plugin contract: every hook a heldout plugin can implement.

A plugin is a module (or any object) with functions decorated by :data:`hookimpl`; built-in
plugins (``heldout_zoo.digits`` ...) are written exactly like third-party ones, which install
under the ``heldout`` entry-point group::

    # pyproject.toml of a third-party plugin
    [project.entry-points.heldout]
    my_models = "my_package.heldout_plugin"

    # my_package/heldout_plugin.py
    from heldout_core import hookimpl

    @hookimpl
    def register_experiments(register):
        register(MyExperiment)          # a subclass of heldout_core.experiment.Experiment
"""

from __future__ import annotations

import pluggy

PROJECT = "heldout"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_experiments(register):
    """Register experiments by calling ``register(ExperimentSubclass)`` once for each."""
