"""Partner points with the card: redeem a coupon code, link a partner member number,
see conversions on hold, set the home municipality. The card is the credential, as for MyKey."""

from __future__ import annotations

from typing import Any

from agent.card_session import ProvingCard
from agent.mykey import MyKeyClient
from mkp_core import cardproof
from mkp_core.client import ApiClient, new_client_id

HOLDER = "/v1/holder"


class PartnerPoints:
    """A holder's partner-point calls (``api``: a plain client of the server, no credential)."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self._mykey = MyKeyClient(api)

    def _send(
        self,
        card: ProvingCard,
        purpose: str,
        path: str,
        fields: dict[str, Any],
        action: dict[str, str] | None,
    ) -> dict[str, Any]:
        challenge = self._mykey._challenge(purpose)
        proof = card.prove(purpose, challenge, action).to_wire()
        return dict(self.api.request("POST", f"{HOLDER}{path}", {**fields, "proof": proof}))

    def redeem_coupon(self, card: ProvingCard, code: str, destination: str | None = None) -> dict[str, Any]:
        """The code's points go into holding; they reach the wallet when the partner's hold ends."""
        fields = {
            "client_id": new_client_id(),
            "code": code,
            **({"destination": destination} if destination else {}),
        }
        return self._send(
            card, cardproof.COUPON, "/coupons/redeem", fields, cardproof.coupon_action(code, destination)
        )

    def link_partner(self, card: ProvingCard, partner: str, member: str) -> dict[str, Any]:
        """Ask to link ``member`` at ``partner``; the answer's ``link_code`` (shown once) is what the
        member enters in the partner's own site or app, so that the partner confirms the link."""
        fields = {"client_id": new_client_id(), "partner": partner, "member": member}
        return self._send(
            card,
            cardproof.PARTNER_LINK,
            "/partner-links",
            fields,
            cardproof.partner_link_action(partner, member),
        )

    def pending(self, card: ProvingCard) -> dict[str, Any]:
        return self._send(card, cardproof.CONVERSIONS, "/conversions", {}, None)

    def set_home(self, card: ProvingCard, municipality: str | None) -> dict[str, Any]:
        fields = {"client_id": new_client_id(), **({"municipality": municipality} if municipality else {})}
        return self._send(card, cardproof.HOME, "/home", fields, cardproof.home_action(municipality))
