"""The enrolled terminal as the agent sees it: its home folder, its key, its signed client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.downloads import terminal_client
from agent.home import Home, read_agent_toml, read_json
from mkp_core.client import DEFAULT_TIMEOUT, ApiClient
from mkp_core.crl import CrlStore, download_entries, load_current
from mkp_core.errors import FixedCodeError
from mkp_core.signing import PrivateKey, load_private_key
from mkp_core.trust import TrustStore


class NotEnrolled(FixedCodeError):
    """This home folder holds no enrolled terminal (run mkp-provision first)."""

    code = "not_enrolled"


#: The last CRLs loaded per file: (file, mtime, size, trust) -> stores.
_CRL_CACHE: dict[str, tuple[tuple[object, ...], list[CrlStore]]] = {}


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

    def client(self, timeout: float = DEFAULT_TIMEOUT) -> ApiClient:
        """The server's API, every request signed with this terminal's key."""
        return terminal_client(self.server, self.terminal_id, self.key, timeout=timeout)

    def trust_list(self) -> dict[str, Any]:
        return read_json(self.home.trust_list) or {}

    def config(self) -> dict[str, Any]:
        """The downloaded terminal config (place, its service, point codes, offline limits)."""
        return read_json(self.home.config) or {}

    @property
    def service(self) -> str | None:
        """The MyKey service this terminal's place belongs to (None: it looks nobody up)."""
        return (self.config().get("place") or {}).get("service")

    def jpki_trust(self) -> TrustStore:
        """The JPKI anchors of the downloaded trust list (``invalid_trust_anchors`` if none)."""
        pems = self.trust_list().get("jpki_anchors") or []
        return TrustStore.from_pem("".join(pems).encode(), source=str(self.home.trust_list))

    def crl_stores(self, trust: TrustStore) -> list[CrlStore]:
        """The downloaded CRLs, each full list with its deltas (empty if none was downloaded).

        Read and checked once per download: a counter taps many cards between CRL downloads, and a
        national CRL of a million serials takes seconds to load.
        """
        try:
            stat = self.home.crl.stat()
        except FileNotFoundError:
            return []
        stamp = (str(self.home.crl), stat.st_mtime_ns, stat.st_size, trust.identity)
        cached = _CRL_CACHE.get(str(self.home.crl))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        entries = download_entries(read_json(self.home.crl))
        stores = load_current(entries, trust, self.home.crl.name)
        _CRL_CACHE[str(self.home.crl)] = (stamp, stores)
        return stores
