"""``heldout quickstart`` end to end on a small scale (the full run is 400 runs, about a minute)."""

import io

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from heldout_core import plugins  # noqa: E402
from heldout_core.training.quickstart import quickstart  # noqa: E402

pytestmark = pytest.mark.slow


def test_quickstart_trains_analyses_and_resumes(tmp_path):
    plugins.reset_registry()
    stream = io.StringIO()
    try:
        result = quickstart(tmp_path, runs=24, show_progress=False, stream=stream)
        again = io.StringIO()
        second = quickstart(tmp_path, runs=24, show_progress=False, stream=again)
    finally:
        plugins.reset_registry()
    text = stream.getvalue()
    assert "24 digits MLPs, each on a 70% subset of 1200 training images, with 60 training labels (5%) flipped" in text
    for part in ("memorization (95% Newcombe intervals):", "C-scores:", "influence:", "models fit ",
                 "of their training subsets", "split-half reliability (12 + 12 runs): memorization rank correlation"):
        assert part in text
    assert len(result.noisy_idx) == 60 and len(result.top_memorized) == 60
    assert f"{result.n_noisy_found} of the 60 flipped labels are among the 60 most memorized" in text
    # even 24 runs find far more flipped labels than chance (3); measured 51 and 52
    assert result.n_noisy_found >= 40 and result.n_noisy_lowest_cscore >= 40
    assert np.array_equal(np.sort(result.noisy_idx), np.load(tmp_path / "digits" / "labels.npz")["noisy_idx"])
    # the second call trains nothing and finds the same
    assert second.n_noisy_found == result.n_noisy_found
    assert len(list((tmp_path / "digits" / "0.7").iterdir())) == 24
    # a smaller quickstart on the same folder analyses its own first runs, and says what it cannot do
    plugins.reset_registry()
    few = io.StringIO()
    try:
        quickstart(tmp_path, runs=3, show_progress=False, stream=few)
    finally:
        plugins.reset_registry()
    assert "(3 runs)" in few.getvalue() and "split-half reliability: skipped (3 runs; it needs at least 4)" in few.getvalue()
    assert "nan" not in few.getvalue()
    # it ends with its report, and says where it is
    page = tmp_path / "report" / "report.html"
    assert f"report: {page} (7 figures, written in" in text and page.is_file()
