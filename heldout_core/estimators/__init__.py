"""Memorization, influence and consistency (C-)scores, each with confidence intervals.

Every public function validates its input (naming the parameter), computes counts with the
Numba kernels, and returns a small frozen dataclass defined just above it. Nothing here prints.

Definitions (Feldman & Zhang 2020; Jiang et al. 2021), for training example i and target j
(i itself for memorization, a test example for influence)::

    estimate = (#runs with i in and j correct) / (#runs with i in)
             - (#runs with i out and j correct) / (#runs with i out)

C-score(i) = unweighted mean over subset ratios of (#runs at that ratio with i out and i
correct) / (#runs at that ratio with i out).

Intervals: see :mod:`heldout_core.intervals` (default ``"newcombe"``). An estimate whose
in- or out-group is empty is NaN with a NaN interval, and is counted in ``n_undefined``.
"""

from ._consistency import ConsistencyResult, consistency
from ._high_influence import HighInfluencePairs, high_influence_pairs
from ._influence import (InfluenceMatrix, InfluencePairs, InfluenceTopK, dense_output_paths, influence,
                         influence_matrix, influence_pairs, influence_topk)
from ._memorization import MemorizationResult, memorization

__all__ = [
    "ConsistencyResult", "HighInfluencePairs", "InfluenceMatrix", "InfluencePairs", "InfluenceTopK",
    "MemorizationResult", "consistency", "dense_output_paths", "high_influence_pairs", "influence",
    "influence_matrix", "influence_pairs", "influence_topk", "memorization",
]
