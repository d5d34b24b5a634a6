"""Typed errors, each carrying a one-line message meant for the user.

The CLI prints `str(error)` and exits 1 (or the error's `exit_code`); `--debug` shows the full
traceback instead. Library code raises these and never prints or exits itself.
"""

from __future__ import annotations


class SelfCodeAlignError(Exception):
    """Base class: a problem the user can fix, described in one line."""

    exit_code = 1


class ConfigError(SelfCodeAlignError):
    """The configuration (YAML, `--set`, or a flag) is invalid."""


class MissingExtraError(SelfCodeAlignError):
    """An optional dependency is not installed; the message names the pip extra."""


class StoreError(SelfCodeAlignError):
    """The run directory cannot be used as asked (unreadable, inconsistent, ...)."""


class ConfigMismatchError(StoreError):
    """A stage already holds outputs made with different settings."""


class InputError(SelfCodeAlignError):
    """An input file or dataset is missing or malformed."""


class BackendError(SelfCodeAlignError):
    """An inference backend failed (server errors after retries, a model that will not load)."""


class IncompleteError(SelfCodeAlignError):
    """A run stopped at a stage that could not finish this time (a rerun continues it)."""

    exit_code = 3


class EmptyInputError(InputError):
    """The input held no record the stage could use (empty, or every line rejected)."""

    exit_code = 4


class AlreadyDoneError(SelfCodeAlignError):
    """Nothing to do: the command's output is already complete (not a failure; `--force`
    makes it again)."""

    exit_code = 0
