"""Files and folders the server creates are private to the user it runs as (0600 / 0700).

The database, the terminal CA's key and the agent releases are nobody else's business: a
database file readable by any local user (or any backup reader) once held live enrollment codes.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: str | os.PathLike[str]) -> Path:
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


def private_file(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` empty and 0600 unless it exists (then it is left as it is)."""
    target = Path(path)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return target
    os.fchmod(fd, PRIVATE_FILE)
    os.close(fd)
    return target


def make_private(path: str | os.PathLike[str]) -> bool:
    """chmod an existing file to 0600 (a folder to 0700); True if its mode changed."""
    target = Path(path)
    if not target.exists():
        return False
    mode = PRIVATE_DIR if target.is_dir() else PRIVATE_FILE
    if target.stat().st_mode & 0o777 == mode:
        return False
    os.chmod(target, mode)
    return True


@contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold ``folder``'s lock file (the folder is made private if missing): workers that would make
    the same file at once take turns, and the second finds what the first made."""
    path = private_dir(folder)
    with os.fdopen(os.open(path / ".lock", os.O_WRONLY | os.O_CREAT, PRIVATE_FILE), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        yield


def write_private_atomic(path: Path, data: bytes) -> None:
    """``path`` appears whole (0600) or not at all."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def secret_key(path: str | os.PathLike[str], size: int = 32) -> bytes:
    """A random key kept in ``path`` (0600), made the first time it is asked for.

    Every worker and every server host that shares the file shares the key; a file that others
    can read is refused, as the terminal CA's key is.
    """
    target = Path(path)
    if not target.exists():
        with folder_lock(target.parent):
            if not target.exists():
                write_private_atomic(target, secrets.token_bytes(size))
    if target.stat().st_mode & 0o077:
        raise PermissionError(f"{target} must be readable by its owner only (chmod 600)")
    key = target.read_bytes()
    if len(key) < 16:
        raise ValueError(f"{target} holds {len(key)} bytes, not a key: remove it to make a new one")
    return key
