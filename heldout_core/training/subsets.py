"""Subset designs: which training examples each run trains on (numpy only, pure functions).

Every subset is a function of ``(seed, ratio, run_id)`` alone, drawn from a numpy
``SeedSequence`` over those numbers, so any run can be recreated, resumed or checked on its own.

Designs:

``random`` (Feldman & Zhang 2020; Jiang et al. 2021)
    Each run trains on a uniformly random subset of exactly ``round(ratio * n)`` examples
    (halves round up), drawn independently for every run.

``balanced``
    Runs come in blocks of ``b`` consecutive run ids (block ``run_id // b``), where ``b`` is the
    smallest block size with ``ratio * b`` a whole number ``k`` (``b = 10, k = 7`` for ratio 0.7;
    ``b = 2, k = 1`` for 0.5). Within a block every example is in exactly ``k`` of the ``b`` runs,
    so it is held out exactly ``b - k`` times, and every run has ``floor(k n / b)`` or one more
    examples. Apart from these two constraints the design is random: each example's ``k`` runs
    are drawn independently, then memberships are moved between over- and under-full runs of the
    block (an example leaves one run and joins another, keeping its count) until the run sizes
    are equal. The balance is exact for the blocks that are complete, i.e. for all runs when the
    number of runs is a multiple of ``b``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import params
from ..errors import ParameterError

DESIGNS = params.SUBSET_DESIGNS
MAX_BLOCK = 1000
_RANDOM, _BALANCED, _TRAINING = 1, 2, 3  # stream tags, so no two uses share random numbers


def _ratio_error(template: str) -> ParameterError:
    # the driver's parameter is the list ``ratios``; one of its entries is "ratio" in messages
    return ParameterError("ratios", template, spelled="ratio")


def check_ratio(ratio: float) -> float:
    """``ratio`` as a float; ParameterError unless it lies strictly between 0 and 1."""
    try:
        return params.subset_ratio(ratio)
    except ParameterError as exc:
        raise _ratio_error(exc.template) from None


def subset_size(n: int, ratio: float) -> int:
    """``round(ratio * n)`` with halves rounded up; HeldoutError if that is 0 or ``n``."""
    k = math.floor(check_ratio(ratio) * n + 0.5)
    if not 0 < k < n:
        raise _ratio_error(f"{{parameter}} {ratio:g} of {n} training examples leaves {k} in the subset; "
                           "some must be in and some out.")
    return k


def _generator(seed: int, ratio: float, tag: int, index: int) -> np.random.Generator:
    seed = params.seed(seed)
    ratio_key = int(round(float(ratio) * 1_000_000_000))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), ratio_key, tag, int(index)])))


def run_seed(seed: int, ratio: float, run_id: int) -> int:
    """The training seed of one run (an int in [0, 2**31)): initialisation and minibatch order."""
    return int(_generator(seed, ratio, _TRAINING, run_id).integers(0, 2**31 - 1))


def random_subset(n: int, ratio: float, seed: int, run_id: int) -> np.ndarray:
    """The ``random`` design: int64 ascending ids of ``round(ratio * n)`` distinct examples."""
    k = subset_size(n, ratio)
    chosen = _generator(seed, ratio, _RANDOM, run_id).choice(n, size=k, replace=False)
    return np.sort(chosen).astype(np.int64)


def balanced_block_size(ratio: float) -> int:
    """The smallest ``b`` with ``ratio * b`` whole (10 for 0.7, 4 for 0.25, 2 for 0.5)."""
    ratio = check_ratio(ratio)
    for b in range(2, MAX_BLOCK + 1):
        if abs(ratio * b - round(ratio * b)) < 1e-9:
            return b
    raise _ratio_error(f"{{parameter}} {ratio:g} has no balanced design with blocks of at most {MAX_BLOCK} runs; "
                       "use the random design.")


def balanced_block(n: int, ratio: float, seed: int, block_index: int) -> np.ndarray:
    """Membership of one block of the ``balanced`` design: bool (b, n), column sums exactly
    ``k = ratio * b``, row sums ``floor(k n / b)`` or one more."""
    b = balanced_block_size(ratio)
    k = round(ratio * b)
    subset_size(n, ratio)  # checks that the ratio leaves examples both in and out
    if (k * n) // b < 1 or -(-k * n // b) > n - 1:
        raise _ratio_error(f"the balanced design at {{parameter}} {ratio:g} would give some of its {b}-run blocks' "
                           f"runs no training example or all {n} of them; use more examples or the random design.")
    rng = _generator(seed, ratio, _BALANCED, block_index)
    # each example independently in k random runs of the block
    order = np.argsort(rng.random((b, n)), axis=0)
    member = np.zeros((b, n), dtype=bool)
    member[order[:k], np.arange(n)] = True
    # target run sizes: total k*n spread as evenly as possible, the larger ones on random runs
    base, extra = divmod(k * n, b)
    target = np.full(b, base)
    target[rng.permutation(b)[:extra]] += 1
    sizes = member.sum(axis=1)
    while True:
        over = np.flatnonzero(sizes > target)
        if over.size == 0:
            break
        under = np.flatnonzero(sizes < target)
        o, u = over[0], under[0]
        # examples in run o but not run u move from o to u; there are at least sizes[o] - sizes[u] > 0
        movable = np.flatnonzero(member[o] & ~member[u])
        count = min(sizes[o] - target[o], target[u] - sizes[u], movable.size)
        moved = rng.choice(movable, size=count, replace=False)
        member[o, moved] = False
        member[u, moved] = True
        sizes[o] -= count
        sizes[u] += count
    return member


def balanced_subset(n: int, ratio: float, seed: int, run_id: int) -> np.ndarray:
    """The ``balanced`` design: int64 ascending ids of the examples run ``run_id`` trains on."""
    b = balanced_block_size(ratio)
    block_index, position = divmod(int(run_id), b)
    return np.flatnonzero(balanced_block(n, ratio, seed, block_index)[position]).astype(np.int64)


def subset(design: str, n: int, ratio: float, seed: int, run_id: int) -> np.ndarray:
    """The training subset of run ``run_id`` under ``design`` (``"random"`` or ``"balanced"``)."""
    design = params.choice(design, "design", DESIGNS)
    if design == "random":
        return random_subset(n, ratio, seed, run_id)
    return balanced_subset(n, ratio, seed, run_id)


def subsets(design: str, n: int, ratio: float, seed: int, run_ids) -> list[np.ndarray]:
    """:func:`subset` for several runs, building each balanced block once."""
    if design != "balanced":
        return [subset(design, n, ratio, seed, r) for r in run_ids]
    b = balanced_block_size(ratio)
    blocks: dict[int, np.ndarray] = {}
    out = []
    for r in run_ids:
        block_index, position = divmod(int(r), b)
        if block_index not in blocks:
            blocks[block_index] = balanced_block(n, ratio, seed, block_index)
        out.append(np.flatnonzero(blocks[block_index][position]).astype(np.int64))
    return out
