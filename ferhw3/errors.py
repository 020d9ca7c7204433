"""The errors a user's input can cause: each is shown as one line, `error: ...`, exit code 2."""


class DataError(ValueError):
    """A malformed input file; str() is the one-line message shown to the user."""


class UsageError(Exception):
    """A bad command-line value, a missing or unusable model, an output that cannot be written."""


class NoRoomError(UsageError):
    """The disk filled up (or a file-size limit was reached) while a file was written; the
    file it was replacing is intact."""
