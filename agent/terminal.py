"""The enrolled terminal as the agent sees it: its home folder, its key, its signed session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests

from agent.home import Home, read_agent_toml, read_json
from agent.sync import signed_session
from mkp_core.signing import PrivateKey, load_private_key


class NotEnrolled(Exception):
    """This home folder holds no enrolled terminal (run mkp-provision first)."""


@dataclass(frozen=True)
class Terminal:
    home: Home
    server: str
    terminal_id: str
    key: PrivateKey

    @classmethod
    def open(cls, root: str | Path) -> Terminal:
        home = Home(Path(root))
        config = read_agent_toml(home)
        server = config.get("server", {}).get("url")
        terminal_id = config.get("terminal", {}).get("id")
        if not server or not terminal_id or not home.key.exists():
            raise NotEnrolled(
                f"{home.root} holds no enrolled terminal: run mkp-provision --home {home.root} first"
            )
        try:
            key = load_private_key(home.key)
        except (OSError, ValueError, TypeError) as e:
            raise NotEnrolled(f"{home.key} is not a usable terminal key: {e}") from None
        return cls(home, server, terminal_id, key)

    def session(self) -> requests.Session:
        return signed_session(self.terminal_id, self.key)

    def trust_list(self) -> dict:
        return read_json(self.home.trust_list) or {}
