"""Whose a client id is: the one place that turns a caller's client id into the key stored for it.

A client id makes a mutation idempotent, so whoever can send an id first decides what it means.
One global namespace let any caller take an id another caller (or the server) would use next:
a terminal that booked ``conversion:7`` as its own id blocked the conversion's real transfer.

So every stored key names its owner: ``<principal>/<client id>``, the principal taken from the
request's credential at the API boundary (``server.web.context.caller_key``), never from the body:

* ``op:<operator id>`` an operator's bearer token, ``t:<terminal id>`` a terminal's signed
  request (its offline entries too), ``p:<partner id>`` a partner's signed request,
  ``p:<partner id>/order/<order id>`` a partner's orders (keyed by partner and order), and
  ``ph:<place id>`` a shop's phone page (its link names the place), ``c:<certificate SHA-256>``
  a holder's own request with their card (at home: the card's proof is the credential);
* ``srv/<what>`` the ids the server makes for its own bookings (``srv/conversion:7``).

A caller's id never contains ``/`` (``mkp_core.ids.CLIENT_ID_RE``), so no caller can reach
another's namespace or the server's: the same id from two principals is two requests. Replies
show a caller the id it sent (:func:`as_sent`), never the stored key.

Keys stored before scoping (migration 0013) that have no ``/`` are legacy: those whose owner is
known were rewritten by the migration; the rest stay as history no new request can match.
"""

from __future__ import annotations

SEPARATOR = "/"
SERVER = "srv"


def operator_key(operator_id: int, client_id: str) -> str:
    return f"op:{operator_id}{SEPARATOR}{client_id}"


def terminal_key(terminal_id: str, client_id: str) -> str:
    return f"t:{terminal_id}{SEPARATOR}{client_id}"


def partner_key(partner_id: str, client_id: str) -> str:
    return f"p:{partner_id}{SEPARATOR}{client_id}"


def card_key(certificate_sha256: str, client_id: str) -> str:
    """A holder's own request with their card (the card's proof is the credential): the card's
    namespace, named by its certificate's SHA-256."""
    return f"c:{certificate_sha256}{SEPARATOR}{client_id}"


def partner_order_key(partner_id: str, order_id: str) -> str:
    """A partner's order: its own key under the partner, apart from the partner's client ids."""
    return f"p:{partner_id}{SEPARATOR}order{SEPARATOR}{order_id}"


def server_key(what: str) -> str:
    """An id the server makes for a booking of its own (``conversion:7``): no caller can send it."""
    return f"{SERVER}{SEPARATOR}{what}"


def phone_key(place_id: str, client_id: str) -> str:
    """A shop's phone page (its link names the place): the place's own namespace."""
    return f"ph:{place_id}{SEPARATOR}{client_id}"


def unverified_entry_key(key: str, content_digest: str) -> str:
    """Where the refusal of an offline entry that did not verify is kept: beside the entry's key,
    never on it (a tampered copy must not take the id the genuine entry will be booked under)."""
    owner, _, client_id = key.rpartition(SEPARATOR)
    return f"{owner}{SEPARATOR}unverified:{content_digest[:32]}{SEPARATOR}{client_id}"


def as_sent(key: str) -> str:
    """The client id (or order id) as its caller sent it: always a key's last part, as no caller's
    id holds a ``/`` (a legacy key without an owner is shown as it is)."""
    return key.rpartition(SEPARATOR)[2]
