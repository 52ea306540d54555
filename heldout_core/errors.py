"""The one exception type for mistakes a user can make (bad files, fields, flags)."""


class HeldoutError(ValueError):
    """Bad input: the message is one sentence naming the file, field or parameter.

    The command line prints it on one line and exits with status 2; library callers can catch
    it like any ``ValueError``.
    """
