"""DumpError, what every step of a dump's import raises, with a one-line message."""

from __future__ import annotations


class DumpError(ValueError):
    """A dump file cannot be loaded; the message names the file, and the row and field."""


class DumpNotFound(DumpError):
    """The dump is not at its URL (HTTP 404): not published yet, or no trading in its period."""
