"""What My Page says when a service refuses: one clear line per refusal code, in the visitor's
language, saying what happened and what to do. The services' own messages are English and
written for programs and operators; a resident reads these instead."""

from __future__ import annotations

from mkp_core.errors import MkpError, Throttled
from server.site import gettext


def _(message: str) -> str:
    """Marks a message for the catalogue; it is translated when shown (:func:`refusal`)."""
    return message


REFUSALS = {
    "insufficient_points": _("You do not have enough points for this."),
    "points_expired": _("Those points have expired and cannot be used."),
    "mykey_suspended": _("Your MyKey ID is suspended. Ask your town hall to resume it."),
    "mykey_taken": _("That MyKey ID is taken. Choose another."),
    "no_changes_left": _("Your MyKey ID cannot be changed again."),
    "invalid_mykey_id": _("A MyKey ID is 8 half-width letters and digits."),
    "mykey_id_too_short": _("A MyKey ID is 8 half-width letters and digits."),
    "mykey_id_too_long": _("A MyKey ID is 8 half-width letters and digits."),
    "mykey_id_reserved": _("That MyKey ID cannot be chosen. Choose another."),
    "too_many_id_changes": _("Too many MyKey ID tries. Try again in an hour."),
    "coupon_unknown": _("This coupon code is not valid. Check it and try again."),
    "coupon_used": _("This coupon code has been used already."),
    "coupon_expired": _("This coupon code has expired."),
    "coupon_cancelled": _("This coupon code was cancelled by its partner."),
    "invalid_coupon_code": _("A coupon code is 17 characters, like XXXX-XXXX-XXXX-XXXX-C."),
    "coupon_typo": _("This coupon code has a typo: a character mistyped or two swapped. Check it."),
    "too_many_attempts": _("Too many wrong codes. Wait an hour, then try again."),
    "unknown_point_code": _("There are no such points. Choose from the list."),
    "unknown_municipality": _("There is no such municipality. Enter its 6-digit code."),
    "unknown_partner": _("There is no such partner. Choose from the list."),
    "partner_revoked": _("This partner no longer takes part."),
    "member_taken": _("This member number is linked to someone else. Ask the partner."),
    "partner_already_linked": _("You have another member number linked at this partner."),
    "not_linked": _("This service is not linked."),
    "unknown_service": _("There is no such service."),
    "unknown_event": _("There is no such event. Choose from the list."),
    "event_closed": _("This event has closed."),
    "not_an_event": _("These points do not belong to an event."),
    "unknown_reward": _("There is no such reward. Choose from the list."),
    "sold_out": _("This reward is sold out."),
    "reward_not_started": _("This reward cannot be claimed yet."),
    "reward_ended": _("This reward can no longer be claimed."),
    "claim_limit": _("You have claimed this reward as many times as allowed."),
    "last_way_to_log_in": _(
        "This passkey is your only way to log in: add another passkey before you remove it."
    ),
    "invalid_client_id": _("This form has expired. Reload the page and send it again."),
    "idempotency_conflict": _("This form was sent already with other values. Reload the page and try again."),
}


def refusal(e: MkpError) -> str:
    """One line for the resident: what happened and what to do."""
    known = REFUSALS.get(e.code)
    if known is not None:
        return gettext(known)
    if isinstance(e, Throttled):
        return gettext("Too many tries. Wait a while, then try again.")
    return gettext("This could not be done (%(code)s). Check what you entered and try again.", code=e.code)
