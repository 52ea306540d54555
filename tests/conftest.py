import importlib.util
from pathlib import Path

import numpy as np
import pytest

from heldout_core import RunSet


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# Tests that train or restore TensorFlow models skip cleanly where the tf extra is not installed
# (``pip install -e ".[test]"`` alone); everything else runs everywhere.
requires_tf = pytest.mark.skipif(not _installed("tensorflow"), reason="needs the tf extra (TensorFlow)")
requires_sklearn = pytest.mark.skipif(not _installed("sklearn"), reason="needs the tf extra (scikit-learn)")


def random_records(seed, n_runs, n_train, n_test, ratio=0.7, p_in=0.9, p_out=0.5, p_test=0.6):
    """Dense random records: fixed-size subsets, correctness more likely when trained on."""
    rng = np.random.default_rng(seed)
    size = int(round(ratio * n_train))
    mask = np.zeros((n_runs, n_train), dtype=bool)
    for r in range(n_runs):
        mask[r, rng.choice(n_train, size, replace=False)] = True
    correct = rng.random((n_runs, n_train)) < np.where(mask, p_in, p_out)
    correct_test = rng.random((n_runs, n_test)) < p_test
    return mask, correct, correct_test


@pytest.fixture
def small_runs():
    mask, correct, correct_test = random_records(0, 150, 40, 25)
    rng = np.random.default_rng(1)
    return RunSet.from_arrays(mask, correct, correct_test, subset_ratio=0.7, experiment="toy",
                              labels_train=rng.integers(0, 3, 40), labels_test=rng.integers(0, 3, 25))


@pytest.fixture
def release(tmp_path, small_runs):
    """``small_runs`` written in the released layout under ``tmp_path/release``, and their labels
    in ``tmp_path/labels.npz``; yields ``tmp_path``."""
    from heldout_core import write_release_layout

    write_release_layout(small_runs, tmp_path / "release")
    np.savez(tmp_path / "labels.npz", tr_labels=small_runs.labels_train, tt_labels=small_runs.labels_test)
    return tmp_path


EXAMPLE_PLUGIN = Path(__file__).parent / "example_plugin"


@pytest.fixture
def example_plugin(tmp_path, monkeypatch):
    """The example plugin discoverable through the ``heldout`` entry-point group, as if
    pip-installed: a real ``.dist-info`` with ``entry_points.txt`` on ``sys.path``, so
    importlib.metadata finds it exactly as it finds installed plugins (no pip, no network).
    Yields the entry-point name; the process-wide registry is reset around the test."""
    from importlib import metadata

    from heldout_core import plugins

    monkeypatch.delenv(plugins.PLUGINS_ENV, raising=False)
    if "example" not in {ep.name for ep in metadata.entry_points(group="heldout")}:
        dist = tmp_path / "site" / "heldout_example_plugin-0.0.1.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: heldout-example-plugin\nVersion: 0.0.1\n")
        (dist / "entry_points.txt").write_text("[heldout]\nexample = heldout_example_plugin\n")
        monkeypatch.syspath_prepend(str(tmp_path / "site"))
        monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    plugins.reset_registry()
    yield "example"
    plugins.reset_registry()
