"""Typed checks of the JSON the project reads back: compact-store metadata and ``run.json``.

JSON from a file is untrusted: a field may be missing, of another type (``"3"``, ``3.0``,
``true``, ``Infinity``), out of range, or nested thousands deep. Each check here returns the
field's value when it is what the format says, and otherwise raises one
:class:`~heldout_core.errors.HeldoutError` naming the file and the field.
"""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

from .errors import HeldoutError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def parse_json(text: str, what: str) -> Any:
    """``json.loads`` with every failure (syntax, nesting depth, huge numbers) as one sentence."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HeldoutError(f"{what} is not valid JSON.") from None
    except (RecursionError, ValueError, OverflowError):  # nested too deep; digits past int's limit
        raise HeldoutError(f"{what} is not JSON this project reads (nested too deep or numbers too long).") from None


def _where(what: str, field: str) -> str:
    return f"{what}: field '{field}'"


def require_object(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise HeldoutError(f"{what} must hold a JSON object, got {type(value).__name__}.")
    return value


def get(obj: dict, field: str, what: str, *, required: bool = True, default: Any = None) -> Any:
    if field not in obj:
        if required:
            raise HeldoutError(f"{what} lacks the field '{field}'.")
        return default
    return obj[field]


def integer(value: Any, field: str, what: str, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int:
    """A JSON integer (not a float, not a boolean) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise HeldoutError(f"{_where(what, field)} must be an integer, got {_show(value)}.")
    if not minimum <= value <= maximum:
        raise HeldoutError(f"{_where(what, field)} must lie in {minimum}..{maximum}, got {_show(value)}.")
    return value


def number(value: Any, field: str, what: str, *, low: float, high: float, open_low: bool = False) -> float:
    """A finite JSON number within [low, high] (or (low, high] with ``open_low``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HeldoutError(f"{_where(what, field)} must be a number, got {_show(value)}.")
    value = float(value)
    if not math.isfinite(value) or value > high or value < low or (open_low and value == low):
        left = "(" if open_low else "["
        raise HeldoutError(f"{_where(what, field)} must be a finite number in {left}{low:g}, {high:g}], got {_show(value)}.")
    return value


def string(value: Any, field: str, what: str, *, optional: bool = False, choices: Sequence[str] | None = None) -> str | None:
    """A JSON string (or null with ``optional``), one of ``choices`` when given."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise HeldoutError(f"{_where(what, field)} must be a string, got {_show(value)}.")
    if choices is not None and value not in choices:
        raise HeldoutError(f"{_where(what, field)} must be one of {', '.join(choices)}, got {_show(value)}.")
    return value


def integer_list(value: Any, field: str, what: str, *, length: int, minimum: int = INT64_MIN) -> list[int]:
    """A flat JSON list of ``length`` integers in [minimum, int64 max]."""
    if not isinstance(value, list):
        raise HeldoutError(f"{_where(what, field)} must be a list of integers, got {_show(value)}.")
    if len(value) != length:
        raise HeldoutError(f"{_where(what, field)} has {len(value)} entries for {length} runs.")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not minimum <= item <= INT64_MAX:
            raise HeldoutError(f"{_where(what, field)} must hold integers in {minimum}..{INT64_MAX}, "
                               f"got {_show(item)}.")
    return value


def plain_mapping(value: Any, field: str, what: str) -> dict:
    """A JSON object whose values are scalars or flat lists of scalars (experiment options)."""
    if not isinstance(value, dict):
        raise HeldoutError(f"{_where(what, field)} must be a JSON object, got {_show(value)}.")
    for key, item in value.items():
        items = item if isinstance(item, list) else [item]
        if not all(isinstance(x, (str, int, float, bool)) or x is None for x in items):
            raise HeldoutError(f"{_where(what, field)}: '{key}' must be a number, string, boolean or a list of them, "
                               f"got {_show(item)}.")
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
