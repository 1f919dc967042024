"""Files and folders the server creates are private to the user it runs as (0600 / 0700).

The database, the terminal CA's key and the agent releases are nobody else's business: a
database file readable by any local user (or any backup reader) once held live enrollment codes.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: str | os.PathLike) -> Path:
    """Make ``path`` and any missing parents, each new one 0700 (existing ones are left alone)."""
    folder = Path(path)
    missing = []
    for parent in (folder, *folder.parents):
        if parent.exists():
            break
        missing.append(parent)
    for new in reversed(missing):
        try:
            new.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # another worker made it first
        os.chmod(new, PRIVATE_DIR)  # mkdir's mode passes through the umask; make sure
    return folder


def private_file(path: str | os.PathLike) -> Path:
    """Create ``path`` empty and 0600 unless it exists (then it is left as it is)."""
    target = Path(path)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return target
    os.fchmod(fd, PRIVATE_FILE)
    os.close(fd)
    return target


def make_private(path: str | os.PathLike) -> bool:
    """chmod an existing file to 0600 (a folder to 0700); True if its mode changed."""
    target = Path(path)
    if not target.exists():
        return False
    mode = PRIVATE_DIR if target.is_dir() else PRIVATE_FILE
    if target.stat().st_mode & 0o777 == mode:
        return False
    os.chmod(target, mode)
    return True
