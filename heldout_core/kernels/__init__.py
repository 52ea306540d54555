"""All Numba code: pure functions over arrays. No I/O, no validation, no Python objects.

- :mod:`.config`: the Numba options every kernel uses, and the popcount intrinsic.
- :mod:`.counts`: popcounts per example and per run, the AND-popcount pair counts.
- :mod:`.newcombe`: Newcombe's interval of a difference of proportions, per statistic.
- :mod:`.dense`: the dense influence matrix with intervals, written into float32 outputs.
- :mod:`.selection`: top-k and threshold influence streamed over tiles, how two halves' estimates
  fall about their k-th values; bootstrap quantiles.
- :mod:`.rng`: SplitMix64 streams, one per statistic.
- :mod:`.resampling`: bootstrap and BCa intervals from counts.

The public kernels are re-exported here (``from heldout_core import kernels; kernels.pair_counts``).
"""

from .config import popcount64
from .counts import holdout_counts, pair_counts, per_run_counts, per_run_ones, row_popcounts
from .dense import influence_dense
from .newcombe import difference_newcombe
from .resampling import (binomial_table, bootstrap_intervals, bootstrap_replicates, jackknife_acceleration,
                         normal_cdf, normal_ppf)
from .rng import next_uniform, stream_state
from .selection import cut_counts, influence_threshold, influence_topk, kth_estimates, quantile_pair

__all__ = [
    "binomial_table", "bootstrap_intervals", "bootstrap_replicates", "cut_counts", "difference_newcombe",
    "holdout_counts", "influence_dense", "influence_threshold", "influence_topk", "jackknife_acceleration",
    "kth_estimates", "next_uniform", "normal_cdf", "normal_ppf", "pair_counts", "per_run_counts", "per_run_ones",
    "popcount64", "quantile_pair", "row_popcounts", "stream_state",
]
