"""The scanner's one error type, apart so frame sources and decoders share it."""

from __future__ import annotations

from mkp_core.errors import MkpError


class ScannerError(MkpError):
    """No code could be read. ``code``:

    camera_unavailable (no such camera, or it cannot be opened), camera_lost (it stopped giving
    frames), unreadable_image (a file that is missing or not an image), bad_frame (not an image
    array), no_code_found (every frame was read and none held a code), unknown_symbology.
    """
