"""The errors a user's input can cause: each is shown as one line, `error: ...`, exit code 2."""


class DataError(ValueError):
    """A malformed input file; str() is the one-line message shown to the user."""


class UsageError(Exception):
    """A bad command-line value, a missing or unusable model, an output that cannot be written."""
