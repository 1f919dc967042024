"""The card holder's side of the MyKey Platform, and the terminal's lookups.

Each call is the same three moves: ask the server for a one-time challenge, let the card in the
reader (its PIN verified, see :func:`agent.card_session.proving_card`) sign it together with what
it consents to, and send the proof. Holder calls need no terminal (at home, the card is the
credential); lookups and link confirmations are signed terminal requests.

A call whose answer was lost after the server accepted it is safe to repeat: mutations carry a
client id (the server answers a repeat with the first result), and a read whose challenge was
spent by the lost attempt (``challenge_used``) is asked once more with a fresh challenge, signed
by the card that is still open.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agent.card_session import ProvingCard
from mkp_core import cardproof
from mkp_core.client import ApiClient, ApiError, new_client_id

HOLDER = "/v1/mykey"
TERMINAL = "/v1/terminal"
_STALE_CHALLENGE = {"challenge_used", "challenge_expired"}


class MyKeyClient:
    """What a holder does with their card (``api``: a plain client of the server, no credential)."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def _challenge(self, purpose: str) -> str:
        # Not a mutation (a repeat just makes another challenge, which expires): no client id.
        return str(self.api.request("POST", f"{HOLDER}/challenges", {"purpose": purpose})["challenge"])

    def _send(
        self,
        card: ProvingCard,
        purpose: str,
        path: str,
        fields: Mapping[str, Any],
        action: Mapping[str, str] | None = None,
        mutation: bool = True,
    ) -> dict[str, Any]:
        body = {**fields, "client_id": new_client_id()} if mutation else dict(fields)

        def attempt() -> dict[str, Any]:
            proof = card.prove(purpose, self._challenge(purpose), action).to_wire()
            return dict(self.api.request("POST", f"{HOLDER}{path}", {**body, "proof": proof}))

        return attempt() if mutation else _retry_stale(attempt)

    def register(
        self, card: ProvingCard, chosen: str | None = None, home_municipality: str | None = None
    ) -> dict[str, Any]:
        """The card's MyKey ID (made now, random or ``chosen``; or the one it has)."""
        fields = {k: v for k, v in (("mykey_id", chosen), ("home_municipality", home_municipality)) if v}
        action = cardproof.register_action(chosen, home_municipality)
        return self._send(card, cardproof.REGISTER, "/register", fields, action)

    def show(self, card: ProvingCard) -> dict[str, Any]:
        return self._send(card, cardproof.SHOW, "/show", {}, mutation=False)

    def change_id(self, card: ProvingCard, new_id: str) -> dict[str, Any]:
        action = cardproof.change_id_action(new_id)
        return self._send(card, cardproof.CHANGE_ID, "/id", {"new_id": new_id}, action)

    def link(self, card: ProvingCard, service: str, local_id: str) -> dict[str, Any]:
        action = cardproof.link_action(service, local_id)
        return self._send(card, cardproof.LINK, "/links", {"service": service, "local_id": local_id}, action)

    def unlink(self, card: ProvingCard, service: str) -> dict[str, Any]:
        action = cardproof.service_action(service)
        return self._send(card, cardproof.UNLINK, "/unlink", {"service": service}, action)

    def suspend(self, card: ProvingCard) -> dict[str, Any]:
        return self._send(card, cardproof.SUSPEND, "/suspend", {})

    def renew_with_code(self, new: ProvingCard, code: str) -> dict[str, Any]:
        """The new card takes over the MyKey ID an operator issued ``code`` for."""
        action = cardproof.renew_by_code_action()
        return self._send(new, cardproof.RENEW, "/renew", {"renewal_code": code}, action)

    def renew_with_old_card(self, old: ProvingCard, new: ProvingCard) -> dict[str, Any]:
        """Both cards answer one challenge, each naming the other's certificate."""
        challenge = self._challenge(cardproof.RENEW)
        old_proof = old.prove(
            cardproof.RENEW, challenge, cardproof.renew_by_old_card_action(_sha256(new.certificate))
        )
        new_proof = new.prove(
            cardproof.RENEW, challenge, cardproof.renew_by_old_card_action(_sha256(old.certificate))
        )
        body = {"client_id": new_client_id(), "proof": new_proof.to_wire(), "old_proof": old_proof.to_wire()}
        return dict(self.api.request("POST", f"{HOLDER}/renew", body))


class TerminalLookups:
    """A terminal's calls for the card in its reader (``api`` signs every request with its key)."""

    def __init__(self, api: ApiClient, service: str) -> None:
        self.api = api
        self.service = service

    def _challenge(self, purpose: str) -> str:
        path = f"{TERMINAL}/mykey/challenges"
        return str(self.api.request("POST", path, {"purpose": purpose})["challenge"])

    def lookup(self, card: ProvingCard) -> dict[str, Any]:
        """This terminal's service ID for the card: ``{"service": "A1", "service_id": "789"}``."""
        action = cardproof.service_action(self.service)

        def attempt() -> dict[str, Any]:
            proof = card.prove(cardproof.LOOKUP, self._challenge(cardproof.LOOKUP), action)
            return dict(self.api.request("POST", f"{TERMINAL}/lookup", {"proof": proof.to_wire()}))

        return _retry_stale(attempt)

    def confirm_link(self, card: ProvingCard) -> dict[str, Any]:
        """Staff of this service confirm the card holder's pending link."""
        action = cardproof.service_action(self.service)
        proof = card.prove(cardproof.CONFIRM_LINK, self._challenge(cardproof.CONFIRM_LINK), action)
        body = {"client_id": new_client_id(), "proof": proof.to_wire()}
        return dict(self.api.request("POST", f"{TERMINAL}/mykey/confirm-link", body))


def _retry_stale(attempt: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A read whose challenge a lost first attempt spent is asked again, once, with a new one."""
    try:
        return attempt()
    except ApiError as e:
        if e.code not in _STALE_CHALLENGE:
            raise
    return attempt()


def _sha256(certificate: bytes) -> str:
    return cardproof.certificate_sha256(certificate)
