"""``heldout report``: the page and its files, what it says when parts are missing, score files
from ``heldout estimate``, and one-line errors for bad input."""

from __future__ import annotations

import html.parser
import re

import numpy as np
import pytest

from heldout_core import RunSet, write_release_layout
from heldout_core.cli import main
from heldout_core.report import build_report
from heldout_core.report.builder import FIGURE_NAMES

from conftest import random_records


class _Page(html.parser.HTMLParser):
    """The images, links, scripts and external references of a page."""

    def __init__(self):
        super().__init__()
        self.images, self.links, self.scripts, self.external = [], [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        if tag == "a":
            self.links.append(attrs.get("href"))
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            if re.match(r"^(https?:)?//", attrs.get(name) or ""):
                self.external.append(attrs[name])


def read_page(path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def check_page(out) -> tuple[str, _Page]:
    """The page's text; every image is a PNG beside it with alt text, every link a file beside
    it, and nothing needs the network or JavaScript."""
    page = read_page(out / "report.html")
    assert page.images and page.scripts == 0 and page.external == []
    for image in page.images:
        assert image.get("alt", "").strip(), f"{image['src']} has no alt text"
        assert (out / image["src"]).is_file() and (out / image["src"]).stat().st_size > 1000
        assert int(image["width"]) > 100 and int(image["height"]) > 100
    for link in page.links:
        assert (out / link).is_file()
    return (out / "report.html").read_text(encoding="utf-8"), page


def test_report_from_records_with_labels(release, capsys):
    out = release / "report"
    assert main(["report", str(release / "release"), "--out", str(out), "--labels", str(release / "labels.npz"),
                 "--top", "4"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'report.html'} (7 figures, PNG and PDF)" in printed
    text, page = check_page(out)
    assert sorted(image["src"] for image in page.images) == sorted(f"{name}.png" for name in FIGURE_NAMES)
    assert all((out / f"{name}.pdf").is_file() for name in FIGURE_NAMES)
    for fact in ("Experiment</dt><dd>toy", "150 runs (ratio 0.7: 150 runs); 40 training and 25 test examples",
                 "models fit", "Memorization</dt><dd>at ratio 0.7 (150 runs): 95% newcombe intervals; mean",
                 "C-scores</dt><dd>over ratios 0.7: 95% newcombe intervals; mean", "High-influence pairs</dt><dd>",
                 "computed from the records"):
        assert fact in text
    # an experiment that no installed plugin provides has no pictures: the page says so
    assert "Images: none shown (no installed plugin provides experiment &#x27;toy&#x27;)" in text
    assert "what is missing" in text and "note: Images: none shown" in printed


def test_report_reads_the_score_files_of_heldout_estimate(release, capsys):
    records, out = str(release / "release"), release / "scores"
    assert main(["estimate", records, "--out", str(out), "--labels", str(release / "labels.npz")]) == 0
    assert main(["report", records, "--out", str(out), "--labels", str(release / "labels.npz")]) == 0
    text, _ = check_page(out)
    assert f"read from {out / 'memorization.npz'}" in text and f"read from {out / 'cscore.npz'}" in text
    assert f"read from {out / 'high_infl_pairs.npz'}" in text
    # scores of fewer runs than the records have are stale: recomputed, and the page says why
    other = release / "fewer"
    write_release_layout(RunSet.concat([_runs(0.7, 149)]), other, experiment="toy")
    assert main(["report", str(other / "toy"), "--out", str(release / "r2"), "--scores", str(out)]) == 0
    text, _ = check_page(release / "r2")
    assert "was computed from 150 runs but the records have 149" in text and "read from" not in text
    # as many runs, but other ones (another seed): stale too
    write_release_layout(_runs(0.7, 150, seed=7), release / "others", experiment="toy")
    assert main(["report", str(release / "others" / "toy"), "--out", str(release / "r3"), "--scores", str(out)]) == 0
    text, _ = check_page(release / "r3")
    assert "was computed from other runs than these records" in text and "read from" not in text


def _runs(ratio, n_runs, n_train=40, n_test=25, seed=0, **kw):
    mask, correct, correct_test = random_records(seed, n_runs, n_train, n_test, ratio=ratio)
    for key, value in kw.items():
        if key == "always_in":
            mask[:, value] = True
    return RunSet.from_arrays(mask, correct, correct_test, subset_ratio=ratio, experiment="toy")


def test_one_run_gives_a_report_that_says_what_is_missing(tmp_path):
    write_release_layout(_runs(0.7, 1), tmp_path / "records")
    report = build_report(tmp_path / "records", tmp_path / "out")
    text, page = check_page(tmp_path / "out")
    assert any("Only 1 run at ratio 0.7" in m for m in report.missing)
    assert any("Interval width vs runs: it needs at least 2 runs" in m for m in report.missing)
    assert any("Labels: the records carry no class labels" in m for m in report.missing)
    assert "widths_vs_runs.png" not in {image["src"] for image in page.images}
    assert "classes.png" not in {image["src"] for image in page.images}
    assert "Only 1 run at ratio 0.7" in text


def test_examples_never_held_out_and_several_ratios(tmp_path):
    runs = RunSet.concat([_runs(0.7, 60, always_in=[0, 1, 2]), _runs(0.3, 20, seed=1)])
    write_release_layout(runs, tmp_path / "records")
    report = build_report(tmp_path / "records", tmp_path / "out")
    assert any("Memorization: 3 training examples never held out at ratio 0.7" in m for m in report.missing)
    assert any("the records have subset ratios 0.3, 0.7; memorization and influence are shown at 0.7" in m
               for m in report.missing)
    text, _ = check_page(tmp_path / "out")
    assert "ratio 0.3: 20 runs; ratio 0.7: 60 runs" in text and "3 undefined" in text
    # a second report into the same folder replaces the figures and leaves none stale
    build_report(tmp_path / "records", tmp_path / "out", ratio=0.3)
    assert "at ratio 0.3 (20 runs" in (tmp_path / "out" / "report.html").read_text()


@pytest.mark.parametrize("argv, message", [
    (["{tmp}/nothing"], "does not exist"),
    (["{tmp}/empty"], "holds no run records"),
    (["{tmp}/records", "--ratio", "0.5"], "no runs at subset ratio 0.5; the runs have ratios 0.7"),
    (["{tmp}/records", "--scores", "{tmp}/badscores"], "memorization.npz is not a readable .npz file"),
    (["{tmp}/records", "--scores", "{tmp}/wrongscores"], "'estimate' has shape (3,), but the records need (40,)"),
    (["{tmp}/records", "--scores", "{tmp}/textscores"], "memorization.npz: 'estimate' must hold numbers, got <U5"),
    (["{tmp}/records", "--scores", "{tmp}/ratioscores"], "memorization.npz: 'ratio' must hold numbers, got <U1"),
    (["{tmp}/records", "--scores", "{tmp}/countscores"], "memorization.npz: 'n_in' must hold whole numbers, got float64"),
    (["{tmp}/records", "--labels", "{tmp}/nolabels.npz"], "nolabels.npz has no labels"),
    (["{tmp}/records", "--labels", "{tmp}/otherlabels.npz"], "otherlabels.npz does not fit the records: labels_train"),
    (["{tmp}/records", "--top", "0"], "--top"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    write_release_layout(_runs(0.7, 20), tmp_path / "records")
    (tmp_path / "empty").mkdir()
    (tmp_path / "badscores").mkdir()
    (tmp_path / "badscores" / "memorization.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "wrongscores").mkdir()
    np.savez(tmp_path / "wrongscores" / "memorization.npz", n_in=np.zeros(3, int), n_out=np.zeros(3, int),
             **{k: np.zeros(3) for k in ("estimate", "ci_low", "ci_high")})
    good = {k: np.zeros(40) for k in ("estimate", "ci_low", "ci_high")} | {k: np.zeros(40, int) for k in ("n_in", "n_out")}
    for name, change in (("textscores", {"estimate": np.zeros(40).astype("U5")}), ("ratioscores", {"ratio": np.array("x")}),
                         ("countscores", {"n_in": np.full(40, 0.5)})):
        (tmp_path / name).mkdir()
        np.savez(tmp_path / name / "memorization.npz", **(good | change))
    np.savez(tmp_path / "nolabels.npz", something=np.zeros(3))
    np.savez(tmp_path / "otherlabels.npz", tr_labels=np.zeros(7, dtype=int))
    args = [a.format(tmp=tmp_path) for a in argv]
    assert main(["report", *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("heldout: error: ") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "out" / "report.html").exists()


def test_records_without_test_correctness_or_a_name(tmp_path):
    mask, correct, _ = random_records(2, 30, 20, 5)
    from heldout_core import write_store

    write_store(RunSet.from_arrays(mask, correct, subset_ratio=0.7), tmp_path / "runs.runs.npz")
    report = build_report(tmp_path / "runs.runs.npz", tmp_path / "out")
    _, page = check_page(tmp_path / "out")
    assert any(m.startswith("Influence: the records have no test correctness") for m in report.missing)
    assert any("the records do not name their experiment; pass --experiment" in m for m in report.missing)
    assert "influence.png" not in {image["src"] for image in page.images}


def test_without_matplotlib_the_report_names_the_extra(release, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert main(["report", str(release / "release"), "--out", str(release / "out")]) == 2
    assert "pip install 'heldout-influence[figures]'" in capsys.readouterr().err
