"""The exception types for mistakes a user can make (bad files, fields, parameters, flags)."""

from __future__ import annotations

PARAMETER = "{parameter}"


class HeldoutError(ValueError):
    """Bad input: the message is one sentence naming the file, field or parameter.

    The command line prints it on one line and exits with status 2; library callers can catch
    it like any ``ValueError``.
    """


class ParameterError(HeldoutError):
    """A bad value for a parameter of a library function.

    The message names the parameter as the library calls it (``top_k``); the command line
    prints the same sentence with the flag that sets it (``--top-k``) instead, see
    :meth:`naming`.

    Args:
        parameter: the parameter's name (what the command line maps to its flag).
        template: the sentence, with ``{parameter}`` where the name goes.
        spelled: how the library message names it, when not by ``parameter`` itself
            (e.g. ``runs.by_ratio(r)`` for a choice of subset ratio).
    """

    def __init__(self, parameter: str, template: str, *, spelled: str | None = None):
        self.parameter = parameter
        self.template = template
        super().__init__(self.naming(spelled or parameter))

    def naming(self, name: str) -> str:
        """The message with ``name`` (e.g. a command-line flag) for the parameter."""
        return self.template.replace(PARAMETER, name)
