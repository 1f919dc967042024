"""The systemd unit that keeps `mkp-agent run` going on an enrolled terminal.

Hardened the usual way for a long-running agent: it may write only its home folder, gets no new
privileges, sees a private /tmp and no kernel knobs. Devices stay visible (USB readers and
printers), so ``PrivateDevices`` is deliberately not set.
"""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path

from agent.home import write_atomic
from provisioning.enroll import ProvisionError

UNSAFE = set(" \t\n\r%\"'\\;$")


def agent_executable() -> Path:
    """mkp-agent next to the running Python (the same virtualenv as mkp-provision)."""
    return Path(sys.executable).parent / "mkp-agent"


def home_owner(home: Path) -> str:
    """The user the agent should run as by default: whoever owns the home folder (and so the key)."""
    uid = home.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def unit_text(home: Path, user: str, terminal_id: str, executable: Path | None = None) -> str:
    """The unit file's text; refuses paths systemd would split or expand (spaces, %, quotes)."""
    exe = executable or agent_executable()
    for what, value in (("home folder", str(home)), ("mkp-agent path", str(exe)), ("user", user)):
        bad = sorted(set(value) & UNSAFE)
        if bad or not value:
            raise ProvisionError(
                "bad_unit_path",
                f"the {what} {value!r} contains characters a service file cannot hold: {bad}",
                "use a folder without spaces or quotes, e.g. /var/lib/mkp",
            )
    return f"""\
# Written by mkp-provision for terminal {terminal_id}.
# Install: sudo cp THIS-FILE /etc/systemd/system/mkp-agent.service
#          sudo systemctl daemon-reload && sudo systemctl enable --now mkp-agent
[Unit]
Description=mkp kiosk agent (terminal {terminal_id})
Wants=network-online.target
After=network-online.target pcscd.socket

[Service]
Type=simple
User={user}
WorkingDirectory={home}
ExecStart={exe} run
Restart=on-failure
RestartSec=5
# Exit 4: revoked or not enrolled; restarting cannot help, a technician must act.
RestartPreventExitStatus=4
UMask=0077
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={home}
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
CapabilityBoundingSet=

[Install]
WantedBy=multi-user.target
"""


def write_unit(path: Path, home: Path, user: str, terminal_id: str) -> Path:
    """Write the unit file (0644, as systemd expects); a clear one-line error if the path is not writable."""
    text = unit_text(home, user, terminal_id)
    if path.is_dir():
        path = path / "mkp-agent.service"
    try:
        write_atomic(path, text.encode())
    except OSError as e:
        raise ProvisionError(
            "unit_unwritable",
            f"cannot write {path}: {e.strerror or e}",
            "run with sudo, or write it to a folder you own and copy it with sudo",
        ) from None
    return path


def hand_over(home: Path, user: str) -> str | None:
    """Make HOME usable by the service user; returns why it cannot be, or None when it can.

    Run as root (``sudo mkp-provision ...``), HOME and its files are given to ``user``, which is
    what a technician expects. Run as anyone else, nothing is changed and a problem is reported.
    """
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        return f"there is no user {user!r} on this computer"
    if account.pw_uid == 0:
        return None
    files = [home, *home.iterdir()]
    if os.geteuid() == 0:
        for path in files:
            os.chown(path, account.pw_uid, account.pw_gid)
        return None
    foreign = [p.name or str(p) for p in files if p.stat().st_uid != account.pw_uid]
    return f"{user} does not own {', '.join(foreign)}" if foreign else None
