"""What the counter says when it refuses: one line per outcome, by error code, in every language.

Residents at a counter are often elderly and may not have used the card since they got it, so
each message says what happened and what to do next, in plain words, never a code. The code is
still sent with it (the page and the logs key on it).

The wording is the one message catalogue's (:mod:`mkp_core.i18n`: English msgids, Japanese in
``mkp_core/locale/ja``), so a resident reads the same words at the counter as elsewhere and a
reviewer finds them in one place; this table only says which message answers which code. A
message is sent in every language at once, ``{"ja": ..., "en": ...}``: the counter page switches
language without asking again, and ``mkp-agent`` prints its locale's. A placeholder is the
catalogue's ``%(name)s``, filled from the error's details.
"""

from __future__ import annotations

import re
from typing import Any

from mkp_core.i18n import LANGUAGES, N_, gettext

#: code → English msgid of the counter's words for it.
MESSAGES: dict[str, str] = {
    # the card and the reader
    "no_card": N_("Please place the card on the card reader."),
    "card_removed": N_("The card was taken away. Place it again and leave it until the end."),
    "no_reader": N_("No card reader is connected. Please call a member of staff."),
    "pcscd_not_running": N_("The card reader is not working. Please call a member of staff."),
    "reader_error": N_("The card reader is not working. Please call a member of staff."),
    "not_my_number_card": N_("This is not a My Number card. Please use your My Number card."),
    "invalid_pin_format": N_("The PIN is 4 digits."),
    "wrong_pin": N_("Wrong PIN. After %(tries)s more wrong tries the card locks."),
    "pin_blocked": N_("The PIN is locked. Please have it reset at your municipal office."),
    "card_error": N_("The card could not be read. Please try again."),
    "card_command_failed": N_("The card could not be read. Please try again."),
    # the card's certificate
    "certificate_expired": N_(
        "The card's certificate has expired. Please renew it at your municipal office."
    ),
    "certificate_not_yet_valid": N_("The card's certificate is not valid yet."),
    "certificate_revoked": N_(
        "This card cannot be used (its certificate is revoked). Please ask your municipal office."
    ),
    "certificate_untrusted": N_("This card's certificate cannot be verified."),
    "not_user_auth_certificate": N_("This card's certificate cannot be used here."),
    "certificate_replaced": N_("Your MyKey ID moved to your new card. Please use the new card."),
    "crl_stale": N_("Cards cannot be checked just now. Please try again later."),
    # the MyKey ID
    "not_registered": N_("This card has no MyKey ID yet. Staff can create one for you here."),
    "mykey_suspended": N_("This MyKey ID is suspended. Please ask your municipal office."),
    "not_linked": N_("Your ID for this shop is not linked yet."),
    "link_pending": N_("Your link waits for staff to confirm it."),
    # points
    "insufficient_points": N_("Not enough points (balance %(balance)s points)."),
    "points_expired": N_("These points have expired."),
    "not_allowed_here": N_("These points cannot be used here."),
    "above_maximum": N_("One payment may be at most %(max_amount)s points."),
    "below_minimum": N_("One payment must be at least %(min_amount)s points."),
    "refund_too_late": N_("The time for a refund has passed."),
    "not_refundable": N_("This payment cannot be refunded here."),
    "refund_not_today": N_("Only today's payments can be refunded here. Please ask your municipal office."),
    "not_this_card": N_("Please place the card that paid."),
    # the resident's own affairs: services, partners, coupons
    "no_service": N_("This place has no service to link."),
    "invalid_service_id": N_("Enter the member number in letters and digits."),
    "service_exists": N_("This service is linked already."),
    "member_taken": N_("This member number is linked to another MyKey ID. Please ask staff."),
    "unknown_partner": N_("There is no partner with this code. Please check it."),
    "invalid_partner": N_("Enter the partner code in letters and digits, as on its card or leaflet."),
    "invalid_member": N_("That is not a member number of this partner. Please enter it again."),
    "partner_revoked": N_("This partner cannot be linked now."),
    "invalid_coupon_code": N_("That is not a coupon code. Please enter it again."),
    "coupon_typo": N_("The coupon code has a typo. Please enter it again."),
    "coupon_unknown": N_("There is no such coupon code."),
    "unknown_code": N_("There is no such coupon code."),
    "coupon_used": N_("This coupon has been used."),
    "coupon_expired": N_("This coupon has expired."),
    "coupon_cancelled": N_("This coupon was cancelled."),
    "too_many_attempts": N_("Too many wrong tries: please wait a while."),
    # paper vouchers
    "no_scanner": N_("This terminal has no camera to read vouchers."),
    "no_code_found": N_("No QR code was read. Hold the voucher up to the camera and try again."),
    "camera_unavailable": N_("The camera is not working. Please call a member of staff."),
    "camera_lost": N_("The camera is not working. Please call a member of staff."),
    "voucher_used": N_("This voucher has been used."),
    "voucher_expired": N_("This voucher has expired."),
    "voucher_voided": N_("This voucher is void."),
    "voucher_not_yet_valid": N_("This voucher is not valid yet."),
    # offline
    "offline_limit": N_("The network is down: this amount cannot be taken now (limit %(limit)s points)."),
    "offline_too_long": N_("The network has been down too long: payments are stopped. Please call staff."),
    "offline_crl_too_old": N_("The card check data is too old: payments are stopped. Please call staff."),
    "offline_not_possible": N_("The network is down: this cannot be done just now."),
    "server_unreachable": N_("The network is not reachable."),
    # the printer
    "offline": N_("The receipt could not be printed (printer). The payment is done; it can be reprinted."),
    "code_not_printed": N_(
        "The code is shown here instead: please copy it down, and show it to nobody else."
    ),
    "paper_out": N_("The printer is out of paper. The payment is done; add paper and reprint."),
}

#: Any other refusal.
GENERIC = N_("This could not be done. Please call a member of staff.")
#: A paper voucher the terminal's check refused for a reason the resident cannot act on
#: (its signature, its key, its encoding): one line for all of them.
VOUCHER_REFUSED = N_("This voucher cannot be used. Please ask a member of staff.")
_VOUCHER_CODES = ("voucher_", "invalid_voucher", "not_a_voucher")

#: What a placeholder the error did not fill in shows.
UNFILLED = "…"
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def fill(text: str, details: dict[str, Any]) -> str:
    """``text`` with its ``%(name)s`` placeholders filled from ``details`` (a missing one as '…')."""
    return _PLACEHOLDER.sub(lambda m: str(details[m[1]]) if m[1] in details else UNFILLED, text)


def msgid_for(code: str) -> str:
    """The catalogue message that answers ``code`` (a generic line if the code is unknown)."""
    fallback = VOUCHER_REFUSED if code.startswith(_VOUCHER_CODES) else GENERIC
    return MESSAGES.get(code, fallback)


def message(code: str, /, **details: Any) -> dict[str, str]:
    """The counter's words for ``code`` in every language: ``{"ja": ..., "en": ...}``."""
    msgid = msgid_for(code)
    return {lang: fill(gettext(msgid, lang), details) for lang in LANGUAGES}
