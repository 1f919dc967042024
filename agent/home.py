"""The terminal's home folder: key, certificates, downloads and agent.toml.

mkp-provision writes it once; the agent reads it and keeps its downloads fresh.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Home:
    """The files provisioning keeps in the terminal's home folder (the agent reads the same ones)."""

    root: Path

    @property
    def key(self) -> Path:
        return self.root / "terminal.key"

    @property
    def certificate(self) -> Path:
        return self.root / "terminal.pem"

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def trust_list(self) -> Path:
        return self.root / "trust-list.json"

    @property
    def crl(self) -> Path:
        return self.root / "crl.json"

    @property
    def etags(self) -> Path:
        return self.root / "etags.json"

    @property
    def agent_toml(self) -> Path:
        return self.root / "agent.toml"


def read_agent_toml(home: Home) -> dict[str, Any]:
    """The agent configuration written by an earlier run ({} if none or unreadable)."""
    try:
        return tomllib.loads(home.agent_toml.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _toml_value(value: object) -> str:
    # A JSON string is a valid TOML basic string (same escapes, \uXXXX included).
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value).lower()


def write_agent_toml(home: Home, tables: dict[str, dict[str, str | None]]) -> None:
    """Write agent.toml; tables and values not given (or None) keep what an earlier run wrote (e.g. the printer)."""
    old = {k: v for k, v in read_agent_toml(home).items() if isinstance(v, dict)}
    lines = ["# Written by mkp-provision; read by mkp-agent. Re-run mkp-provision to change it.", ""]
    for table in dict.fromkeys([*old, *tables]):
        values = tables.get(table, {})
        merged = {**old.get(table, {}), **{k: v for k, v in values.items() if v is not None}}
        if not merged:
            continue
        lines.append(f"[{table}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in merged.items()]
        lines.append("")
    write_atomic(home.agent_toml, "\n".join(lines).encode())


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write via a temp file and rename, so a crash never leaves half a file for the agent."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
        if os.geteuid() == 0 and path.exists():  # a re-run with sudo keeps the service user's files theirs
            old = path.stat()
            os.fchown(fd, old.st_uid, old.st_gid)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
