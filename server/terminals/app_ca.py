"""The terminal CA this server enrolls terminals with, opened once per worker."""

from __future__ import annotations

from flask import current_app

from server.terminals.ca import TerminalCA
from server.web.context import config


def terminal_ca() -> TerminalCA:
    """The terminal CA (made by ``mkp-server init``; made here if it is missing)."""
    ext = current_app.extensions
    if "mkp.terminal_ca" not in ext:
        ext["mkp.terminal_ca"] = TerminalCA.open(config().terminal_ca_dir)
    found: TerminalCA = ext["mkp.terminal_ca"]
    return found
