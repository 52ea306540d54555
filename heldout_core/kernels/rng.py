"""Random streams for the bootstrap: SplitMix64, one stream per statistic.

Randomness is explicit: a statistic's draws come from the stream ``stream_state(seed, stream)``
(its example or pair id), so results depend on neither the number of threads nor on what else is
computed in the same call.
"""

from __future__ import annotations

import numpy as np

from .config import njit_serial


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


@njit_serial
def _mix64(z):
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit_serial
def stream_state(seed, stream):
    """Initial SplitMix64 state of stream ``stream`` (e.g. an example index) under ``seed``."""
    return _mix64(np.uint64(seed) ^ _mix64(np.uint64(stream) + _GOLDEN))


@njit_serial
def next_uniform(state):
    """SplitMix64 step: (new state, uniform float64 in [0, 1))."""
    state = np.uint64(state) + _GOLDEN  # the cast keeps int64 + uint64 from promoting to float
    return state, (_mix64(state) >> _S11) * (1.0 / 9007199254740992.0)
