"""Per-stage wall time of a job: wrap the functions it calls and add up their seconds."""

from __future__ import annotations

import functools
import time


def timed(inner, totals: dict, stage: str):
    """``inner`` wrapped to add each call's wall time to ``totals[stage]`` (a defaultdict(float))."""

    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[stage] += time.perf_counter() - start

    return wrapper
