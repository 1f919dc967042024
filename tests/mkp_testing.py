"""Helpers every test folder shares (on sys.path through setup.cfg's pytest `pythonpath`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from drivers.card.virtual.vpcd import reader_name

BIN = Path(sys.executable).parent
READER0 = reader_name(0)
READER1 = reader_name(1)


def cli(
    name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess:
    """Run one of this virtualenv's console scripts the way a user does; stdout and stderr as text."""
    exe = BIN / name
    return subprocess.run(
        [str(exe) if exe.exists() else name, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
