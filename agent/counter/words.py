"""The counter page's words, from the one message catalogue: the page keeps none of its own.

Why: a resident reads the same wording at the counter as on My Page and from the command lines, and
a second catalogue in JavaScript would drift from the first (``mkp_core.i18n`` says more). So the
page names each word by a short key (``data-t="pay"`` in index.html, ``t("paid")`` in counter.js),
and this table gives each key its English msgid, marked for the catalogue; the agent translates
the table into every language once and serves it as JSON at ``/api/words``, which the page reads
before it draws its first screen. Both languages travel at once: the language switch is instant.

A placeholder is the catalogue's ``%(name)s``; counter.js fills it in. The language switch names
the other language in that language ("English" on the Japanese page, "日本語" on the English one).
"""

from __future__ import annotations

import json
from functools import cache

from mkp_core.i18n import LANGUAGES, N_, gettext

#: key -> English msgid: every word the counter page shows, and nothing it does not.
WORDS: dict[str, str] = {
    # the first screen and its buttons
    "title": N_("Points counter"),
    "choose": N_("What would you like to do?"),
    "pay": N_("Pay with points"),
    "admission": N_("Admission"),
    "balance": N_("Check balance"),
    "lookup": N_("Look up member number"),
    "refund": N_("Refund"),
    "voucher": N_("Read a paper voucher"),
    "procedures": N_("Registration"),
    "register": N_("Create a MyKey ID"),
    "link_service": N_("Link your member number here"),
    "link_partner": N_("Link a partner's member number"),
    "coupon": N_("Use a coupon"),
    "mypage_code": N_("Print a My Page activation code"),
    # the header: where, online or not, what waits to be sent
    "online": N_("online"),
    "offline_status": N_("Offline (no network)"),
    "queued": N_("Queue"),
    "agent_away": N_("The terminal does not answer"),
    "offline_note": N_("The network is down: the grey buttons cannot be used."),
    # the steps before the card, the card and the PIN
    "how_many": N_("How many points?"),
    "points": N_("points"),
    "which_ticket": N_("Choose a ticket"),
    "which_refund": N_("Choose the payment to refund"),
    "link_service_title": N_("Enter your member number"),
    "link_partner_title": N_("Enter the partner and your member number"),
    "coupon_title": N_("Enter the coupon code"),
    "local_id": N_("Member number"),
    "partner": N_("Partner code"),
    "member": N_("Member number at the partner"),
    "code": N_("Coupon code"),
    "place_card": N_("Place your My Number card on the card reader"),
    "enter_pin": N_("Enter your PIN (4 digits)"),
    "digits_entered": N_("digits entered"),
    "clear": N_("Clear"),
    "del": N_("Delete one digit"),
    "back": N_("Back"),
    "next": N_("Next"),
    "cancel": N_("Cancel"),
    "ok": N_("OK"),
    "working": N_("Working…"),
    "keep_card": N_("Please leave the card where it is"),
    "show_voucher": N_("Hold the voucher's QR code up to the camera"),
    # the result
    "done": N_("Start over"),
    "paid": N_("Payment complete"),
    "refunded": N_("Refund complete"),
    "balance_is": N_("Points balance"),
    "balance_left": N_("Left"),
    "expires_next": N_("Expiry"),
    "lookup_is": N_("Member number"),
    "mykey_is": N_("MyKey ID"),
    "mykey_new": N_("Created just now."),
    "mykey_had": N_("This is your card's MyKey ID."),
    "linked": N_("Member number linked"),
    "link_pending": N_("Received: it is linked once the shop confirms it."),
    "partner_linked": N_("Link requested"),
    "link_code": N_("Link code"),
    "link_code_help": N_("Enter this link code on the partner's site or app (it is shown only once)."),
    "coupon_taken": N_("Coupon accepted"),
    "arrives_on": N_("points arrive on %(day)s"),
    "voucher_taken": N_("Voucher accepted"),
    "serial": N_("Serial number %(serial)s"),
    "code_printed": N_("My Page activation code printed"),
    "code_shown": N_("My Page activation code"),
    "valid_until": N_("Valid until %(until)s (%(hours)s hours)"),
    "code_where": N_("At home, open %(url)s on a computer or phone and enter the code (it works once)."),
    "valid_then_where": N_("%(valid)s. %(where)s"),
    "offline_txn": N_("Offline transaction"),
    "receipt_printed": N_("Receipt printed"),
    "receipt_failed": N_("The receipt could not be printed"),
    "reprint": N_("Reprint receipt"),
    "retry_pin": N_("Try the PIN again"),
    "failed": N_("This could not be done"),
    "no_answer": N_("No answer"),
    "no_answer_detail": N_("The terminal did not answer. Please ask staff whether it was done."),
    "agent_unreachable": N_("The terminal does not answer. Please call a member of staff."),
    "page_fault": N_("The result could not be shown. Please ask a member of staff."),
}
#: Each language's name in itself: the switch shows the other one's.
LANGUAGE_NAMES: dict[str, str] = {"ja": N_("Japanese"), "en": N_("English")}
SWITCH = "language"
"""The key of the language switch's label."""


def words(lang: str) -> dict[str, str]:
    """Every word of the page in ``lang`` (a msgid with no translation stays English)."""
    other = next(other for other in LANGUAGES if other != lang)
    return {key: gettext(msgid, lang) for key, msgid in WORDS.items()} | {
        SWITCH: gettext(LANGUAGE_NAMES[other], other)
    }


@cache
def words_json() -> bytes:
    """What ``/api/words`` answers: ``{"ja": {key: word}, "en": {...}}``, made once per process."""
    return json.dumps({lang: words(lang) for lang in LANGUAGES}, ensure_ascii=False).encode()
