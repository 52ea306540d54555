"""heldout compare on files written in the published formats, against this project's outputs."""

import numpy as np
import pytest

from heldout_core import HeldoutError, RunSet, write_store
from heldout_core.cli import main
from heldout_core.compare import compare_scores, read_scores

import naive
from test_coverage import simulate

N_TRAIN, N_TEST, K = 300, 90, 3


def make_runs(seed, n_runs=400):
    rng = np.random.default_rng(0)                   # the same examples (truth) for every seed
    labels_train, labels_test = np.arange(N_TRAIN) % K, np.arange(N_TEST) % K
    p_out = rng.uniform(0.3, 0.95, N_TRAIN)
    p_in = np.clip(p_out + rng.choice([0.0, 0.5], N_TRAIN, p=[0.8, 0.2]), 0, 1)
    mask, correct = simulate(p_in, p_out, n_runs, 0.7, seed=seed)
    runs_rng = np.random.default_rng(seed + 1)
    # test j depends on train j (same class, as j % K == j % K) for the first 30
    helper = mask[:, :N_TEST]
    correct_test = runs_rng.random((n_runs, N_TEST)) < np.where(helper & (np.arange(N_TEST) < 30), 0.9, 0.5)
    return RunSet.from_arrays(mask, correct, correct_test, subset_ratio=0.7, experiment="toy",
                              labels_train=labels_train, labels_test=labels_test)


def write_published(runs, folder):
    """The released statistics' formats, computed by the plain references from ``runs``."""
    folder.mkdir(parents=True, exist_ok=True)
    mask, correct, test = runs.unpack("train_mask"), runs.unpack("correct_train"), runs.unpack("correct_test")
    a, b, c, d = naive.memorization_counts(mask, correct)
    mem = naive.difference(a, b, c, d)
    dense = naive.influence_dense(mask, test)            # (n_test, n_train)
    blocks = {}
    for k in range(K):
        tr, tt = np.flatnonzero(runs.labels_train == k), np.flatnonzero(runs.labels_test == k)
        blocks[f"infl_matrix_class{k}"] = dense[np.ix_(tt, tr)].T
        blocks[f"tr_classidx_{k}"], blocks[f"tt_classidx_{k}"] = tr, tt
    np.savez(folder / "toy_infl_matrix.npz", tr_labels=runs.labels_train, tt_labels=runs.labels_test, tr_mem=mem, **blocks)
    n_out, c_out = naive.holdout_accuracy(mask, correct, np.arange(len(mask)))
    np.savez(folder / "toy-cscores-orig-order.npz", labels=runs.labels_train, scores=c_out / n_out)
    np.save(folder / "toy-cscores.npy", c_out / n_out)
    jj, ii = np.nonzero(np.nan_to_num(dense, nan=-1) >= 0.15)
    keep = (mem[ii] >= 0.25) & (runs.labels_train[ii] == runs.labels_test[jj])
    np.savez(folder / "toy_high_infl_pairs_infl0.15_mem0.25.npz", tr_idx=ii[keep], tt_idx=jj[keep],
             infl=dense[jj[keep], ii[keep]], mem=mem[ii[keep]])
    return folder


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    runs = make_runs(seed=1)
    write_store(runs, root / "store")
    assert main(["estimate", str(root / "store"), "--out", str(root / "ours"), "--top-k", "20", "--no-reliability"]) == 0
    write_published(runs, root / "same")                 # published from the very same runs
    write_published(make_runs(seed=5), root / "other")   # published from other runs of the same examples
    return root


def test_same_runs_agree_exactly(files):
    ours = files / "ours"
    mem = compare_scores(ours / "memorization.npz", files / "same" / "toy_infl_matrix.npz").agreements
    assert [a.statistic for a in mem] == ["memorization"]
    assert mem[0].spearman == pytest.approx(1.0) and mem[0].inside_a == 1.0 and mem[0].top_overlap == 1.0
    # our top-20 pairs of the same class looked up in the published blocks: the same values
    infl = compare_scores(ours / "influence_topk.npz", files / "same" / "toy_infl_matrix.npz").agreements[0]
    assert infl.statistic == "influence" and infl.n > 0 and infl.pearson == pytest.approx(1.0) and infl.inside_a == 1.0
    cs = compare_scores(ours / "cscore.npz", files / "same" / "toy-cscores-orig-order.npz").agreements[0]
    assert cs.statistic == "cscore" and cs.pearson == pytest.approx(1.0) and cs.inside_a == 1.0
    npy = compare_scores(ours / "cscore.npz", files / "same" / "toy-cscores.npy").agreements[0]
    assert npy.pearson == pytest.approx(1.0)
    pairs = compare_scores(ours / "high_infl_pairs.npz", files / "same" / "toy_high_infl_pairs_infl0.15_mem0.25.npz")
    assert pairs.agreements[0].shared_pairs == 1.0


def test_other_runs_agree_as_their_intervals_say(files):
    mem = compare_scores(files / "ours" / "memorization.npz", files / "other" / "toy_infl_matrix.npz").agreements[0]
    # most examples have no memorization at all, so ranks among them are noise: Pearson, not
    # Spearman, shows the agreement here
    assert 0.8 < mem.pearson < 0.999 and 0.2 < mem.spearman < mem.pearson
    # two independent estimates of the same truth: the other's point falls inside our 95% interval
    # more often than not, though less than 95% (it has its own error too)
    assert 0.75 < mem.inside_a < 0.99
    cs = compare_scores(files / "ours" / "cscore.npz", files / "other" / "toy-cscores-orig-order.npz").agreements[0]
    assert 0.8 < cs.spearman < 0.999


def test_compare_command_prints_each_statistic(files, capsys):
    assert main(["compare", str(files / "ours" / "memorization.npz"), str(files / "other" / "toy_infl_matrix.npz"),
                 "--top", "30"]) == 0
    out = capsys.readouterr().out
    assert "(heldout memorization)" in out and "(published influence matrix)" in out and "labels agree" in out
    assert "memorization: 300 in both, Spearman" in out and "of the 30 highest agree" in out
    assert "of B's values inside A's intervals" in out


def test_files_in_another_example_order_are_refused(files, tmp_path, capsys):
    with np.load(files / "same" / "toy-cscores-orig-order.npz") as f:
        labels, scores = f["labels"], f["scores"]
    order = np.random.default_rng(0).permutation(N_TRAIN)
    np.savez(tmp_path / "shuffled.npz", labels=labels[order], scores=scores[order])
    assert main(["compare", str(files / "ours" / "cscore.npz"), str(tmp_path / "shuffled.npz")]) == 2
    err = capsys.readouterr().err
    assert "disagree on labels_train" in err and "not in the same example order" in err
    np.savez(tmp_path / "odd.npz", something=np.zeros(3))
    with pytest.raises(HeldoutError, match="is no score file this project reads"):
        read_scores(tmp_path / "odd.npz")
    with pytest.raises(HeldoutError, match="hold no statistic in common"):
        compare_scores(files / "ours" / "cscore.npz", files / "same" / "toy_high_infl_pairs_infl0.15_mem0.25.npz")


def test_a_dense_matrix_without_intervals_compares_with_a_released_matrix(files, tmp_path):
    """Two lookups (our dense matrix without its interval files, the release's class blocks)
    compare over the release's same-class pairs."""
    dense = tmp_path / "influence_full.npy"
    runs = make_runs(seed=1)
    np.save(dense, naive.influence_dense(runs.unpack("train_mask"), runs.unpack("correct_test")).astype(np.float32))
    infl = compare_scores(dense, files / "same" / "toy_infl_matrix.npz").agreements
    assert [a.statistic for a in infl] == ["influence"]
    n_pairs = sum(np.sum(np.arange(N_TRAIN) % K == k) * np.sum(np.arange(N_TEST) % K == k) for k in range(K))
    assert infl[0].n == n_pairs and infl[0].pearson == pytest.approx(1.0, abs=1e-6)
    assert compare_scores(files / "same" / "toy_infl_matrix.npz", dense).agreements[-1].n == n_pairs


def _broken(kind, tmp_path, files):
    """Score files whose arrays are bad or disagree; returns (path A, path B, message)."""
    ours = files / "ours"
    dense = tmp_path / "influence_full.npy"
    np.save(dense, np.zeros((N_TEST, N_TRAIN), np.float32))
    low, high = tmp_path / "influence_full.ci_low.npy", tmp_path / "influence_full.ci_high.npy"
    np.save(low, np.zeros((N_TEST, N_TRAIN), np.float32))
    np.save(high, np.zeros((N_TEST, N_TRAIN), np.float32))
    if kind == "ci-truncated":
        high.write_bytes(high.read_bytes()[:100])
        return dense, ours / "influence_topk.npz", f"{high} is not a readable .npy file"
    if kind == "ci-shape":
        np.save(low, np.zeros((3, 3), np.float32))
        return dense, ours / "influence_topk.npz", f"{low} has shape (3, 3), but its matrix has ({N_TEST}, {N_TRAIN})"
    if kind == "strings":
        np.save(dense, np.array(["a", "b"]))
        return dense, ours / "cscore.npz", f"{dense} must hold numbers, got <U1"
    if kind == "ids-beyond":
        with np.load(ours / "influence_topk.npz") as f:
            arrays = dict(f)
        arrays["train_idx"] = arrays["train_idx"].copy()
        arrays["train_idx"][0, 0] = N_TRAIN + 38
        np.savez(tmp_path / "topk.npz", **arrays)
        return (tmp_path / "topk.npz", dense, f"names training example {N_TRAIN + 38}, but {dense} holds {N_TRAIN} "
                "training examples")
    if kind == "pairs-lengths":
        np.savez(tmp_path / "pairs.npz", tr_idx=np.arange(5), tt_idx=np.arange(3), infl=np.zeros(5), mem=np.zeros(5))
        return tmp_path / "pairs.npz", dense, "'tt_idx' has 3 entries but 'tr_idx' has 5"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["ci-truncated", "ci-shape", "strings", "ids-beyond", "pairs-lengths"])
def test_bad_or_mismatched_score_files_are_one_line(files, tmp_path, capsys, kind):
    a, b, message = _broken(kind, tmp_path, files)
    assert main(["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and message in err, err
