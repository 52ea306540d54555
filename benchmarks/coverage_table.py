"""The README's coverage table: simulated coverage of nominal 95% memorization intervals.

Runs are simulated with known truth (70% subsets; correctness Bernoulli(p_in) when trained on,
Bernoulli(p_out) when held out), 4,000 examples per cell for ``newcombe`` and 1,000 for the
bootstraps (1,000 replicates each). Run: ``python benchmarks/coverage_table.py`` (about 30 s).
"""

from __future__ import annotations

import numpy as np

from heldout_core import RunSet
from heldout_core.estimators import memorization

CELLS = [(0.5, 0.5), (0.99, 0.9), (0.995, 0.99), (0.02, 0.01), (0.999, 0.95)]
PER_CELL = {"newcombe": 4000, "bootstrap": 1000, "bca": 1000}


def coverage(method: str, n_runs: int, p_in: float, p_out: float, n: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    mask = rng.random((n_runs, n)).argsort(axis=1) < round(0.7 * n)
    correct = rng.random((n_runs, n)) < np.where(mask, p_in, p_out)
    mem = memorization(RunSet.from_arrays(mask, correct, subset_ratio=0.7), method=method, n_boot=1000, seed=seed)
    truth = p_in - p_out
    return float(((mem.ci_low <= truth) & (truth <= mem.ci_high)).mean())


def main() -> None:
    print("| p_in, p_out | 300 runs: newcombe / bootstrap / bca | 2,000 runs: newcombe / bootstrap / bca |")
    print("|---|---|---|")
    for k, (p_in, p_out) in enumerate(CELLS):
        cols = []
        for n_runs in (300, 2000):
            cols.append(" / ".join(f"{coverage(m, n_runs, p_in, p_out, PER_CELL[m], 1000 + 10 * k):.3f}"
                                   for m in ("newcombe", "bootstrap", "bca")))
        print(f"| {p_in:g}, {p_out:g} | {cols[0]} | {cols[1]} |")


if __name__ == "__main__":
    main()
