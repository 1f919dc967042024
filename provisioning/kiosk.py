"""Debian's Chromium in kiosk mode on the counter page, started when the kiosk's user logs in.

An XDG autostart entry (``~/.config/autostart/mkp-counter.desktop``), which every Debian desktop
session honours: full screen, no address bar, no error or translation bars, no first-run
dialogs, nothing kept between sessions. The page itself is served by `mkp-agent run` on
127.0.0.1, so the browser never leaves this computer.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from agent.home import write_atomic
from provisioning.enroll import ProvisionError

CHROMIUM = "/usr/bin/chromium"
PAGE = "http://127.0.0.1:8765/"
FLAGS = (
    "--kiosk",
    "--noerrdialogs",
    "--disable-infobars",
    "--disable-translate",
    "--disable-features=Translate",
    "--no-first-run",
    "--incognito",
    "--overscroll-history-navigation=0",
    "--disable-pinch",
    "--check-for-update-interval=31536000",
)


def desktop_entry(page: str = PAGE, browser: str = CHROMIUM) -> str:
    return f"""\
# Written by mkp-provision: the counter page full screen at login. Delete this file to stop it.
[Desktop Entry]
Type=Application
Name=mkp counter
Comment=The counter page of mkp-agent on this computer
Exec={browser} {" ".join(FLAGS)} {page}
X-GNOME-Autostart-enabled=true
NoDisplay=true
"""


def autostart_dir(user: str | None) -> Path:
    """Where the session of ``user`` (None: whoever runs this) looks for autostart entries."""
    if user is None or user == pwd.getpwuid(os.geteuid()).pw_name:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / "autostart"
    try:
        return Path(pwd.getpwnam(user).pw_dir) / ".config" / "autostart"
    except KeyError:
        raise ProvisionError(
            "unknown_user", f"there is no user {user!r} on this computer", "give --user an existing login"
        ) from None


def write_autostart(folder: Path, page: str = PAGE) -> Path:
    """Write the entry (0644, a desktop file other programs read); a one-line error if it cannot be."""
    path = folder / "mkp-counter.desktop"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path, desktop_entry(page).encode())
    except OSError as e:
        raise ProvisionError(
            "autostart_unwritable",
            f"cannot write {path}: {e.strerror or e}",
            "run as the kiosk's user, or with sudo and --user USER",
        ) from None
    return path
