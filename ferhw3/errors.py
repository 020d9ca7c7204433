"""The errors a user's input can cause: each is shown as one line, `error: ...`, exit code 2."""


class DataError(ValueError):
    """A malformed input file; str() is the one-line message shown to the user."""


class UsageError(Exception):
    """A bad command-line value, a missing or unusable model, an output that cannot be written."""


class NoRoomError(UsageError):
    """The disk filled up (or a file-size limit was reached) while a file was written; the
    file it was replacing is intact."""


class SettingError(UsageError):
    """A setting (a config field, or another option of a run) whose value cannot work here.
    str() names it as a field (`val_size=60`); the command-line layer names its flag."""

    def __init__(self, where: str, field: str, value, problem: str):
        self.where, self.field, self.value, self.problem = where, field, value, problem
        super().__init__(self.text(f"{field}={value}"))

    def text(self, setting: str) -> str:
        return f"{self.where + ': ' if self.where else ''}{setting} {self.problem}"
