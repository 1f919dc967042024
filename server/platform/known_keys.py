"""Public keys a server process has read, by key id: parsed once, confirmed by each request.

Terminals and partners sign every request; reading and parsing the signer's key each time cost a
transaction of its own for what changes once in a key's life. A process therefore remembers each
key it has read, with the PEM it came from, and the caller confirms in its own write transaction
that the stored key is still that PEM and still allowed (``server.platform.terminal_auth_keys``,
``server.partners.auth``): a revocation or a new key made by any worker or host counts at the
signer's very next request. One class serves both, so both are bounded the same way.
"""

from __future__ import annotations

import functools

from mkp_core import signing


@functools.lru_cache(maxsize=4096)
def parse_key(pem: str) -> signing.PublicKey:
    """A PEM made a key object once."""
    return signing.load_public_key(pem.encode())


class KnownKeys:
    """Key id -> (stored PEM, parsed key); past ``limit`` entries the memory is emptied and refilled
    as signers call (dict updates are atomic: threads may race, and either one's entry is right)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._keys: dict[str, tuple[str, signing.PublicKey]] = {}

    def get(self, key_id: str) -> tuple[str, signing.PublicKey] | None:
        """(PEM, key) of ``key_id`` as this process last read it, or None."""
        return self._keys.get(key_id)

    def remember(self, key_id: str, pem: str) -> signing.PublicKey:
        """Parse ``pem`` and keep it for ``key_id``."""
        key = parse_key(pem)
        if len(self._keys) >= self.limit:
            self._keys.clear()
        self._keys[key_id] = (pem, key)
        return key

    def forget(self, key_id: str) -> None:
        """Drop ``key_id``'s key (revoked, re-keyed, or a signature failed with it)."""
        self._keys.pop(key_id, None)
