"""Helpers every command module uses to register itself."""

from __future__ import annotations

import argparse
from typing import Callable

from ..errors import HeldoutError


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each option's destination -> its longest flag (``top_k`` -> ``--top-k``, ``ratios`` -> ``--ratio``)."""
    return {action.dest: max(action.option_strings, key=len)
            for action in parser._actions if action.option_strings and action.dest != "help"}


def set_command(parser: argparse.ArgumentParser, func: Callable[[argparse.Namespace], int]) -> None:
    """Make ``func`` the parser's command, with its flags known for error messages."""
    parser.set_defaults(func=func, flags=flag_names(parser))


def parse_options(pairs: list[str]) -> dict[str, str]:
    """``-o a=1 -o b=x`` -> ``{"a": "1", "b": "x"}``; HeldoutError naming a malformed one."""
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise HeldoutError(f"-o/--option expects NAME=VALUE, got '{pair}'.")
        options[name.strip()] = value.strip()
    return options
