"""My Page from the card: an activation code printed at a kiosk, a login link at home.

Why here: the web never sees the card. A resident proves their card once, where a reader is —
the kiosk prints a one-time activation code on a receipt in Japanese, which they type at
``/mypage/signup`` at home; or, with their own reader, ``mkp-agent mypage login`` opens the
browser on a one-time login link. Either way the card signs the request (purpose
``mypage-code`` / ``mypage-login``) over a server challenge, after its PIN.

The counter page calls :func:`request_activation_code` (a card action in the counter's shape:
``{"ok": True, ...}`` or the counter's refusal). The code is printed straight away and not kept
on the kiosk (receipts are kept for reprinting; a code must not be): a receipt that did not
print is answered with the code on screen, and a new code can be asked for at any time.
:func:`activation_for_page` is what the page gets: the code only when its receipt failed, so a
printed code never reaches the screen (nor the browser's memory) of a shared kiosk.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from agent.card_session import ProvingCard
from agent.counter.limits import OfflineRefused
from agent.counter.messages import message
from agent.counter.receipts import ReceiptPrinting
from agent.counter.service import Counter, card_action, refusal
from drivers.card.reader import CardError
from drivers.printer.errors import PrinterError
from drivers.printer.escpos_device import open_printer
from drivers.printer.job import PrintJob
from drivers.printer.printed_words import printed, printed_time
from drivers.profiles import ProfileError, load_printer_profile
from mkp_core import activation_code, cardproof
from mkp_core.client import ApiClient, Unreachable, new_client_id
from mkp_core.errors import MkpError
from mkp_core.i18n import N_

JST = timezone(timedelta(hours=9), "JST")
ACTIVATION_PATH = "/v1/terminal/mypage/activation-codes"
LOGIN_LINK_PATH = "/v1/mykey/mypage/login-links"
SIGNUP_PATH = "/mypage/signup"

#: The code slip's words, from the one catalogue, printed in Japanese (drivers.printer.printed_words).
SLIP_TITLE = N_("Activation code for My Page")
SLIP_VALID_UNTIL = N_("Valid until %(when)s")
#: One sentence around the address, printed a line at a time: the address stands on a line of its own.
SLIP_WHERE = N_("At home, open\n%(url)s\non a computer or phone and enter this code.")
SLIP_ONCE = N_("The code works once.")
SLIP_SECRET = N_("Show it to nobody else.")


def activation_lines(place: str, code: str, expires_at: datetime, server: str) -> list[str]:
    """What the receipt says, line by line (Japanese): the code, until when, where to type it."""
    until = expires_at.astimezone(JST)
    return [
        place,
        printed(SLIP_TITLE),
        code,
        printed(SLIP_VALID_UNTIL, when=printed_time(until)),
        *printed(SLIP_WHERE, url=f"{server.rstrip('/')}{SIGNUP_PATH}").split("\n"),
        printed(SLIP_ONCE),
        printed(SLIP_SECRET),
    ]


def activation_job(profile_id: str, place: str, code: str, expires_at: datetime, server: str) -> PrintJob:
    """The receipt laid out for the terminal's printer model."""
    lines = activation_lines(place, code, expires_at, server)
    job = PrintJob(load_printer_profile(profile_id))
    job.text(lines[0], align="center", big=True)
    job.text(lines[1], align="center")
    job.feed()
    job.text(lines[2], align="center", big=True)
    job.text(lines[3], align="center")
    job.feed()
    for line in lines[4:]:
        job.text(line)
    job.qr(f"{server.rstrip('/')}{SIGNUP_PATH}")
    job.cut()
    return job


def print_activation(
    printing: ReceiptPrinting, place: str, code: str, expires_at: datetime, server: str
) -> str | None:
    """Print the code's receipt now (it is not kept): None when it went out, else the printer's error."""
    if not printing.profile or not printing.connection:
        return "no_printer"
    try:
        data = activation_job(printing.profile, place, code, expires_at, server).data
        with open_printer(load_printer_profile(printing.profile), printing.connection) as printer:
            printer.send(data)
    except PrinterError as e:
        return e.code
    except ProfileError:
        return "no_printer"
    return None


@card_action
def request_activation_code(counter: Counter, pin: str) -> dict[str, Any]:
    """The card's holder gets a My Page activation code, printed on a receipt (online only).

    ``{"ok": True, "kind": "mypage_code", "code", "expires_at", "mykey_id", "receipt": {...}}``,
    or the counter's refusal (a wrong PIN, a suspended ID, the server away). A card action like
    the counter's own: the downloads are read once for it, and a card's trouble is refused in
    the same words as at a spend."""
    client_id = f"{counter.terminal.terminal_id}-{uuid.uuid4()}"
    action = cardproof.mypage_action(client_id)
    try:
        reply = counter._online(pin, cardproof.MYPAGE_CODE, ACTIVATION_PATH, {"client_id": client_id}, action)
    except Unreachable as e:
        return refusal(OfflineRefused("offline_not_possible", str(e)))
    except (MkpError, CardError) as e:
        return refusal(e)
    expires = datetime.fromisoformat(reply["expires_at"])
    place = str(counter.place.get("name", ""))
    error = print_activation(counter.receipts, place, reply["code"], expires, counter.terminal.server)
    return {
        "ok": True,
        "kind": "mypage_code",
        **reply,
        "receipt": {"printed": error is None, "error": error},
    }


def activation_for_page(counter: Counter, pin: str) -> dict[str, Any]:
    """:func:`request_activation_code` as the counter page shows it: where to type the code and
    for how long; the code itself only when the receipt did not print (then with the words that
    say to copy it down)."""
    done = request_activation_code(counter, pin)
    if not done["ok"]:
        return done
    answer = {
        **done,
        "signup_url": f"{counter.terminal.server.rstrip('/')}{SIGNUP_PATH}",
        "valid_hours": activation_code.VALIDITY_HOURS,
    }
    if done["receipt"]["printed"]:
        del answer["code"]
    else:
        answer["receipt"] = {**done["receipt"], "message": message("code_not_printed")}
    return answer


def login_link(api: ApiClient, card: ProvingCard) -> dict[str, Any]:
    """A one-time login link for the card's holder (at home: ``api`` is a plain client):
    ``{"url", "path", "expires_at"}``."""
    client_id = new_client_id()
    challenge = api.request("POST", "/v1/mykey/challenges", {"purpose": cardproof.MYPAGE_LOGIN})["challenge"]
    proof = card.prove(cardproof.MYPAGE_LOGIN, str(challenge), cardproof.mypage_action(client_id))
    reply = dict(api.request("POST", LOGIN_LINK_PATH, {"client_id": client_id, "proof": proof.to_wire()}))
    return {**reply, "url": api.base_url.rstrip("/") + reply["path"]}
