"""Partner link codes: the one-time code a holder's link request gives them, which the partner's
confirmation must carry.

Why: a partner member number says nothing about who asks to link it; any card may ask to link
any number. So the holder's card-proven request gets a code (shown once: the kiosk's or the
CLI's answer), the member types it into the partner's own site or app, where the partner knows
the member is who they say, and the partner confirms with it: only the request whose code the
partner presents becomes the link. Someone who asked first for another person's number never
sees that person's code.

The form is the coupon codec's (``mkp_core.coupon``): 16 random characters of Crockford's
Base32 (80 bits) in groups of four, then a check character that catches every single typo and
every swap of neighbours, so a mistyped code is told apart from a wrong one, and the same
forgiving input (case, spaces, hyphens, O for 0, I and L for 1). The server keeps its SHA-256.
"""

from __future__ import annotations

from mkp_core import coupon
from mkp_core.errors import MkpError

#: How long a link request's code confirms it: a week lets the member take the receipt home and
#: reach the partner's site over a weekend; a lost receipt's code is dead soon after.
VALIDITY_DAYS = 7


class LinkCodeError(MkpError):
    """A typed link code that cannot be any request's: misshapen, or its check character off."""


def new_code() -> str:
    """A fresh link code as shown to the holder: ``XXXX-XXXX-XXXX-XXXX-C``."""
    return coupon.pretty(coupon.new_code())


def digest(typed: str) -> str:
    """What the server keeps of a code, and compares: SHA-256 of its normalised form; or
    :class:`LinkCodeError` (``invalid_link_code``, ``link_code_typo``) for what is no code."""
    try:
        code = coupon.normalise(typed)
    except coupon.CouponFormatError:
        raise LinkCodeError(
            "invalid_link_code",
            f"a link code is {coupon.LENGTH} characters, XXXX-XXXX-XXXX-XXXX-C (hyphens and spaces ignored)",
        ) from None
    if not coupon.check_ok(code):
        raise LinkCodeError(
            "link_code_typo",
            "this link code has a typo: its check character does not fit (a character mistyped or two swapped)",
        )
    return coupon.digest(code)
