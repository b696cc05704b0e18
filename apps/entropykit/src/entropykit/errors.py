"""Errors the app framework turns into clean messages and exit codes (no traceback).

Exit codes: 0 success, 1 runtime error, 2 usage or configuration error, 130 interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """The user asked for something that cannot work (bad option, missing file, taken directory).

    Domain apps raise it for bad command-line input; the framework prints the message and exits
    with code 2. The message should name the problem and the fix.
    """


class ConfigError(UsageError):
    """A configuration file or ``--set`` override does not fit the config dataclass."""
