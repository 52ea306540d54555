"""The plugin contract: registration, duplicates, broken plugins, entry points, HELDOUT_PLUGINS."""

import subprocess
import sys
import types
import warnings
from importlib import metadata

import numpy as np
import pytest

import heldout_core
from heldout_core import hookimpl, plugins
from heldout_core.cli import main
from heldout_core.errors import HeldoutError
from heldout_core.experiment import ArrayData, Experiment, Option


def make_experiment(name, **attrs):
    """A complete numpy experiment class called ``name`` (predicts class 0 everywhere)."""

    class Fake(Experiment):
        num_classes = 2
        data_help = "fake data"
        options = {"width": Option(3, int, "a number")}

        def load_data(self, data_path):
            return ArrayData(np.zeros((10, 1)), np.arange(10) % 2, np.zeros((4, 1)), np.arange(4) % 2)

        def build_model(self, data, seed):
            return {}

        def train(self, model, data, subset_idx, *, seed, epochs):
            pass

        def evaluate(self, model, data):
            return data.y_train == 0, data.y_test == 0

        def save_checkpoint(self, model, prefix, *, epoch):
            pass

        def restore_checkpoint(self, data, prefix):
            return {}

    Fake.name = name
    for key, value in attrs.items():
        setattr(Fake, key, value)
    return Fake


def plugin_module(name, *classes, hook_name="register_experiments"):
    """A module object that registers ``classes`` through a hook called ``hook_name``."""
    module = types.ModuleType(name)

    def register_all(register):
        for cls in classes:
            register(cls)

    register_all.__name__ = hook_name
    setattr(module, hook_name, hookimpl(register_all))
    return module


def fresh_registry(*pairs):
    return plugins.build_registry([], entry_points=False, plugins=pairs)


def test_hookimpl_is_reexported_and_core_import_is_light():
    assert heldout_core.hookimpl is plugins.hookspecs.hookimpl
    code = ("import sys, heldout_core, heldout_core.plugins, heldout_core.training, heldout_core.experiment, "
            "heldout_core.cli, heldout_core.cli.train; assert 'tensorflow' not in sys.modules, 'tensorflow imported'; "
            "assert not any(m.startswith('heldout_zoo') for m in sys.modules), 'plugins imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fake_plugin_registers_its_experiments_with_attribution():
    registry = fresh_registry((plugin_module("fake", make_experiment("alpha"), make_experiment("beta")), "fake-plugin"))
    assert sorted(registry.experiments) == ["alpha", "beta"]
    assert registry.get("alpha").plugin == "fake-plugin"
    experiment = registry.create("beta", width="7")
    assert experiment.config == {"width": 7}
    assert registry.broken == []


def test_unknown_experiment_and_option_are_one_sentence_errors():
    registry = fresh_registry((plugin_module("fake", make_experiment("alpha")), "fake"))
    with pytest.raises(HeldoutError, match=r"unknown experiment 'gamma'; known experiments: alpha\."):
        registry.get("gamma")
    with pytest.raises(HeldoutError, match="has no option 'depth'"):
        registry.create("alpha", depth=3)
    with pytest.raises(HeldoutError, match="option 'width' of experiment 'alpha' cannot be 'wide'"):
        registry.create("alpha", width="wide")


def test_duplicate_name_is_refused_naming_both_plugins():
    first = plugin_module("first", make_experiment("alpha"))
    second = plugin_module("second", make_experiment("zeta"), make_experiment("alpha"))
    with pytest.warns(plugins.PluginWarning, match="experiment 'alpha' from plugin 'second' is already registered by plugin 'first'"):
        registry = fresh_registry((first, "first"), (second, "second"))
    # the offending plugin is skipped as a whole: its other experiment is not half-registered
    assert sorted(registry.experiments) == ["alpha"]
    assert registry.get("alpha").plugin == "first"
    assert [b.name for b in registry.broken] == ["second"]


def test_duplicate_within_one_plugin_is_refused():
    module = plugin_module("twice", make_experiment("alpha"), make_experiment("alpha"))
    with pytest.warns(plugins.PluginWarning, match="already registered"):
        registry = fresh_registry((module, "twice"))
    assert registry.experiments == {}


def test_misspelled_hook_is_caught_by_check_pending():
    module = plugin_module("typo", make_experiment("alpha"), hook_name="register_experiment")
    with pytest.warns(plugins.PluginWarning, match="unknown hook 'register_experiment'"):
        registry = fresh_registry((module, "typo"), (plugin_module("good", make_experiment("beta")), "good"))
    assert sorted(registry.experiments) == ["beta"]
    assert registry.broken[0].name == "typo"


@pytest.mark.parametrize("bad, message", [
    (object, "not a subclass of heldout_core.experiment.Experiment"),
    (make_experiment("Bad Name"), "a name is lowercase letters"),
    (make_experiment("ratios", default_ratios=(0.7, 1.0)), "each must lie in \\(0, 1\\)"),
    (make_experiment("classes", num_classes=1), "num_classes=1"),
])
def test_invalid_registrations_are_reported(bad, message):
    with pytest.warns(plugins.PluginWarning, match=message):
        registry = fresh_registry((plugin_module("bad", bad), "bad"))
    assert registry.experiments == {}


def test_abstract_experiment_is_refused():
    class Half(Experiment):
        name = "half"

        def load_data(self, data_path):
            return None

    with pytest.warns(plugins.PluginWarning, match="does not implement build_model, evaluate, restore_checkpoint"):
        fresh_registry((plugin_module("half", Half), "half"))


def test_plugin_raising_while_registering_does_not_stop_others():
    module = types.ModuleType("boom")

    @hookimpl
    def register_experiments(register):
        raise RuntimeError("kaput")

    module.register_experiments = register_experiments
    with pytest.warns(plugins.PluginWarning, match="register_experiments raised RuntimeError: kaput"):
        registry = fresh_registry((module, "boom"), (plugin_module("good", make_experiment("beta")), "good"))
    assert list(registry.experiments) == ["beta"]


def test_builtin_module_that_fails_to_import_is_reported():
    with pytest.warns(plugins.PluginWarning, match="heldout_zoo.nonexistent' was skipped: importing it raised ModuleNotFoundError"):
        registry = plugins.build_registry(["heldout_zoo.nonexistent"], entry_points=False)
    assert registry.broken[0].name == "heldout_zoo.nonexistent"


def test_builtins_are_ordinary_plugins():
    registry = plugins.build_registry(entry_points=False)
    assert {"digits", "mnist", "arrays"} <= set(registry.experiments)
    assert registry.get("digits").plugin == "heldout_zoo.digits"
    assert registry.broken == []


# ---------------------------------------------------------------------------- entry points
def test_example_plugin_is_found_through_the_entry_point(example_plugin):
    """A plugin installed under the ``heldout`` entry-point group is found and attributed."""
    names = {ep.name for ep in metadata.entry_points(group="heldout")}
    assert example_plugin in names
    registry = plugins.build_registry([], entry_points=True)
    entry = registry.get("example-blobs")
    assert entry.plugin == "example"
    assert entry.version == "0.0.1"
    assert registry.broken == []


def fake_entry_points(monkeypatch, *eps):
    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group: [ep for ep in eps if ep.group == group])


def test_environment_variable_restricts_third_party_plugins(monkeypatch):
    good = types.ModuleType("good_ep")
    good.register_experiments = plugin_module("x", make_experiment("from-good")).register_experiments
    other = types.ModuleType("other_ep")
    other.register_experiments = plugin_module("y", make_experiment("from-other")).register_experiments
    monkeypatch.setitem(sys.modules, "good_ep", good)
    monkeypatch.setitem(sys.modules, "other_ep", other)
    fake_entry_points(monkeypatch, metadata.EntryPoint("good", "good_ep", "heldout"),
                      metadata.EntryPoint("other", "other_ep", "heldout"))
    monkeypatch.delenv(plugins.PLUGINS_ENV, raising=False)
    assert set(plugins.build_registry([]).experiments) == {"from-good", "from-other"}
    monkeypatch.setenv(plugins.PLUGINS_ENV, "good")
    assert set(plugins.build_registry([]).experiments) == {"from-good"}
    for none in ("", "none"):
        monkeypatch.setenv(plugins.PLUGINS_ENV, none)
        assert plugins.build_registry([]).experiments == {}
    # built-ins load whatever the variable says
    assert "digits" in plugins.build_registry().experiments
    monkeypatch.setenv(plugins.PLUGINS_ENV, "good,missing")
    with pytest.warns(plugins.PluginWarning, match="names plugin 'missing', which is not installed"):
        plugins.build_registry([])


def test_broken_entry_point_is_a_warning_and_listed_by_heldout_plugins(monkeypatch, capsys):
    fake_entry_points(monkeypatch, metadata.EntryPoint("broken", "no_such_module_for_heldout", "heldout"))
    monkeypatch.delenv(plugins.PLUGINS_ENV, raising=False)
    plugins.reset_registry()
    try:
        with pytest.warns(plugins.PluginWarning, match="'broken' was skipped: loading entry point 'no_such_module_for_heldout' raised ModuleNotFoundError"):
            assert main(["plugins"]) == 0
        out = capsys.readouterr().out
    finally:
        plugins.reset_registry()
    assert "broken plugins (skipped):" in out
    assert "broken: loading entry point 'no_such_module_for_heldout' raised ModuleNotFoundError" in out
    # the working experiments are still listed with plugin, classes, ratios, runs and data
    digits_line = next(line for line in out.splitlines() if line.startswith("digits "))
    assert digits_line.split()[:7] == ["digits", "heldout_zoo.digits", heldout_core.__version__, "10", "0.7", "200", "80"]
    assert "sklearn.datasets.load_digits" in digits_line
    assert "from data" in next(line for line in out.splitlines() if line.startswith("arrays "))


def test_registry_loads_lazily_and_once(monkeypatch):
    calls = []
    real = plugins.build_registry
    monkeypatch.setattr(plugins, "build_registry", lambda *a, **k: calls.append(1) or real([], entry_points=False))
    plugins.reset_registry()
    try:
        first = plugins.get_registry()
        assert plugins.get_registry() is first
        assert calls == [1]
    finally:
        plugins.reset_registry()


def test_plugins_command_shows_options_when_verbose(capsys):
    plugins.reset_registry()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", plugins.PluginWarning)
        assert main(["plugins", "-v"]) == 0
    plugins.reset_registry()
    out = capsys.readouterr().out
    assert "-o label_noise=0.0" in out and "-o hidden=512,256" in out


def test_example_plugin_trains_through_the_driver(tmp_path, example_plugin):
    """The example plugin of the README (tests/example_plugin) runs as is through the driver."""
    import json

    from heldout_core import load_runs
    from heldout_core.layout import run_dir
    from heldout_core.training.driver import train_runs

    experiment = plugins.build_registry([], entry_points=True).create("example-blobs")
    summary = train_runs(experiment, tmp_path, ratios=[0.7], runs=5, show_progress=False)
    assert summary.n_trained == 5
    runs = load_runs(tmp_path / "example-blobs")
    assert (runs.n_runs, runs.n_train, runs.n_test) == (5, 200, 100)
    assert runs.unpack("correct_test").mean() > 0.8   # two well separated blobs
    info = json.loads((run_dir(tmp_path, "example-blobs", 0.7, 0) / "run.json").read_text())
    assert (info["plugin"], info["plugin_version"]) == ("example", "0.0.1")   # the registry's attribution


def test_every_hook_is_documented_with_its_signature_and_tested():
    """datasette's meta-tests: each hookspec's exact signature is in the user docs (the README),
    and a test implements it."""
    import inspect
    from pathlib import Path

    from heldout_core import hookspecs

    specs = [f for name, f in vars(hookspecs).items() if inspect.isfunction(f) and name.startswith("register_")]
    assert specs, "no hooks found"
    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text()
    tests = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    for spec in specs:
        signature = f"{spec.__name__}{inspect.signature(spec)}"
        assert f"`{signature}`" in readme, f"{signature} is not documented in README.md"
        assert spec.__doc__, f"{spec.__name__} has no docstring"
        assert f"def {spec.__name__}(" in tests, f"no test implements {spec.__name__}"


def test_a_plugin_calling_sys_exit_is_reported_not_fatal():
    import types as _types

    from heldout_core import hookimpl as _hookimpl
    from heldout_core.plugins import PluginWarning, build_registry

    rude = _types.ModuleType("rude")

    @_hookimpl
    def register_experiments(register):
        raise SystemExit(3)

    rude.register_experiments = register_experiments
    with pytest.warns(PluginWarning, match="raised SystemExit"):
        registry = build_registry(builtins=(), entry_points=False, plugins=[(rude, "rude")])
    assert [b.name for b in registry.broken] == ["rude"]
