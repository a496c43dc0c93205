"""The base class of every error caused by user input (a file, a parameter, a command line).

The CLI prints these as one clean line and exits 1; the GUI shows them in a dialog or status bar.
Anything else escaping is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; ``str(err)`` says what and how. ``node`` names the canvas node at
    fault and ``field`` the parameter, setting or file field, when there is one (views select and
    highlight them)."""

    def __init__(self, message: str = "", node: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.node = node
        self.field = field
