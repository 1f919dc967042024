"""The printer's one error type, apart so every printer module can raise it without import cycles."""

from __future__ import annotations

from mkp_core.errors import MkpError


class PrinterError(MkpError):
    """The printer cannot be used or cannot print this. ``code``:

    bad_connection, offline, not_writable, unsupported (a missing package), no_kanji (text outside
    the printer's Shift JIS set, or a model without a Kanji font), invalid_text (a control
    character), no_japanese_font (nothing to draw Japanese with), invalid_receipt (what to print
    breaks its rules).
    """
