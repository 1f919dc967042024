"""What checking a card proof in a request needs: the anchors, the current CRLs, the challenge key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import current_app

from mkp_core import wire
from mkp_core.cardproof import CardProof
from server.files import secret_key
from server.platform.crls.current import current_crls, trust_store
from server.platform.mykey.cards import CardCheck
from server.web.context import config


def challenge_key() -> bytes:
    """The key card challenges are MACed with (``secrets_dir/challenge.key``, made on first use)."""
    ext = current_app.extensions
    if "mkp.challenge_key" not in ext:
        ext["mkp.challenge_key"] = secret_key(Path(config().secrets_dir) / "challenge.key")
    found: bytes = ext["mkp.challenge_key"]
    return found


def card_check() -> CardCheck:
    """What checking a card proof needs: the JPKI anchors, the current CRLs, the challenge key."""
    c = config()
    return CardCheck(
        trust=trust_store(),
        crls=current_crls(),
        challenge_key=challenge_key(),
        crl_max_age=timedelta(hours=c.crl_max_age_hours),
    )


def card_proof(body: wire.CardProofBody) -> CardProof:
    """A request's card proof as the checks take it."""
    return CardProof.from_wire(body.model_dump())
