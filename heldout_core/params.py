"""Validation of the parameters shared by the library's public functions, each in one place.

Each checker takes the value and the parameter's name, returns the value normalised (a float,
an int), and raises :class:`~heldout_core.errors.ParameterError` naming the parameter otherwise;
the command line re-words that message with its own flag.
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np

from .errors import PARAMETER, ParameterError

INTERVAL_METHODS = ("newcombe", "bootstrap", "bca")
SUBSET_DESIGNS = ("random", "balanced")
MAX_SEED = 2**63


def _is_int(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def integer(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer within [minimum, maximum] (either bound optional)."""
    if not _is_int(value):
        raise ParameterError(name, f"{PARAMETER} must be an integer, got {value!r}.")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ParameterError(name, f"{PARAMETER} must be at least {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise ParameterError(name, f"{PARAMETER} must be at most {maximum}, got {value}.")
    return value


def number(value, name: str, *, low: float | None = None, high: float | None = None,
           open_low: bool = False, open_high: bool = False) -> float:
    """A finite real number within [low, high] (or open at either end)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)):
        raise ParameterError(name, f"{PARAMETER} must be a number, got {value!r}.")
    value = float(value)
    left, right = ("(" if open_low else "["), (")" if open_high else "]")
    span = f"{left}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{right}"
    if not math.isfinite(value) or (low is not None and (value < low or (open_low and value == low))) \
            or (high is not None and (value > high or (open_high and value == high))):
        raise ParameterError(name, f"{PARAMETER} must be a finite number in {span}, got {value:g}.")
    return value


def choice(value, name: str, choices: Sequence[str]) -> str:
    """One of ``choices``."""
    if value not in choices:
        raise ParameterError(name, f"{PARAMETER} must be one of {', '.join(choices)}, got {value!r}.")
    return value


def flag(value, name: str) -> bool:
    """A switch: True or False (numpy booleans too), never a truthy stand-in such as 0 or "no"."""
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(name, f"{PARAMETER} must be True or False, got {value!r}.")
    return bool(value)


def row_range(value, n: int, name: str = "test_rows") -> slice:
    """Consecutive rows ``start .. stop - 1`` of ``n`` as a slice with step 1: None (all rows),
    a ``range`` or ``slice`` with step 1, or a ``(start, stop)`` pair; empty ranges are allowed."""
    if value is None:
        return slice(0, n)
    if isinstance(value, (range, slice)):
        start, stop, step = value.start, value.stop, value.step
    elif isinstance(value, tuple) and len(value) == 2:
        (start, stop), step = value, None
    else:
        raise ParameterError(name, f"{PARAMETER} must be a range of consecutive rows (range, slice or (start, stop)), "
                                   f"got {value!r}.")
    start = 0 if start is None else integer(start, name, minimum=0)
    stop = n if stop is None else integer(stop, name, minimum=start)
    if step not in (None, 1) or stop > n:
        raise ParameterError(name, f"{PARAMETER} must be consecutive rows within 0..{n}, got {value!r}.")
    return slice(start, stop)


def confidence(value, name: str = "confidence") -> float:
    """A two-sided interval level in (0, 1)."""
    return number(value, name, low=0.0, high=1.0, open_low=True, open_high=True)


def seed(value, name: str = "seed") -> int:
    """A seed: an integer in [0, 2**63)."""
    return integer(value, name, minimum=0, maximum=MAX_SEED - 1)


def subset_ratio(value, name: str = "ratio") -> float:
    """A subset ratio strictly between 0 and 1."""
    return number(value, name, low=0.0, high=1.0, open_low=True, open_high=True)


def influence_threshold(value, name: str = "threshold") -> float:
    """A threshold on an influence or memorization estimate, which lie in [-1, 1]."""
    return number(value, name, low=-1.0, high=1.0)
