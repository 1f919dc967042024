"""The counter's actions: the card in the reader, the server (or the offline queue), the receipt.

Each action is one card session: the certificate is read and checked against the terminal's own
trust list and CRL, the PIN verified on the card, and the card signs a challenge of the server
(online) or the transaction itself (offline). One card session at a time: the reader is one.
An action reads the terminal's downloads (config.json, the trust list) once, on first use, however
often it looks at the place, the price list, the limits or the anchors (:class:`SessionFiles`).

**Spends never get lost or doubled.** Online, the request is journaled before it is sent; its
client id is the ledger's idempotency key, so a repeat (after a lost answer, or after the agent
died and restarted) gets the first result. If the server cannot be reached, the same client id
goes into the offline queue (on disk before anything prints), within the offline limits; the
receipt says オフライン取引. :meth:`Counter.sync` sends the queue in batches and records the
server's answer for each entry exactly once; refusals are final (the server keeps them in its
exceptions report).
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from agent import contact, failpoints
from agent.card_session import ProvingCard, check_card_locally, proving_card
from agent.counter.limits import OfflineLimits, OfflineRefused
from agent.counter.messages import message
from agent.counter.receipts import JST, ReceiptPrinting, receipt_body
from agent.mykey import MyKeyClient
from agent.partner_points import PartnerPoints
from agent.queue import ACCEPTED, DONE, REFUSED, VOID, OfflineQueue, day_start
from agent.terminal import Terminal
from agent.voucher_prints import confirm_pending
from agent.vouchers import VoucherDesk, read_voucher_text, voucher_camera
from drivers.card.reader import CardError, CardEvent, ReaderBackend, WrongPinError
from mkp_core import cardproof, offline
from mkp_core.client import ApiClient, ApiError, Unreachable
from mkp_core.errors import MkpError
from mkp_core.ids import validate_local_service_id
from mkp_core.trust import TrustStore

if TYPE_CHECKING:
    from drivers.scanner import FrameSource

TERMINAL = "/v1/terminal"
SYNC_BATCH = 200

_P = ParamSpec("_P")
_R = TypeVar("_R")


class SessionFiles:
    """The terminal's downloads as one card action sees them, each file read on first use and
    kept until the action ends: the sync loop may write new ones meanwhile, and the next action
    reads those."""

    def __init__(self, terminal: Terminal) -> None:
        self._terminal = terminal

    @functools.cached_property
    def config(self) -> dict[str, Any]:
        """config.json: the place, its price list, the offline limits."""
        return self._terminal.config()

    @functools.cached_property
    def trust(self) -> TrustStore:
        """The JPKI anchors of the trust list."""
        return self._terminal.jpki_trust()


def card_action(action: Callable[Concatenate[Counter, _P], _R]) -> Callable[Concatenate[Counter, _P], _R]:
    """One card action: within it, the terminal's downloads are read at most once each. Public:
    the My Page code (``agent.mypage``) is a card action of the counter's too."""

    @functools.wraps(action)
    def run(counter: Counter, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with counter._session_files():
            return action(counter, *args, **kwargs)

    return run


@dataclass(frozen=True)
class SpendRequest:
    amount: int | None
    item: str | None = None
    quantity: int = 1
    point_code: str | None = None

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"quantity": self.quantity}
        for name in ("amount", "item", "point_code"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


def refusal(e: BaseException) -> dict[str, Any]:
    """A failed action as the page shows it: the code and the counter's words for it."""
    code = getattr(e, "code", None) or "error"
    details: dict[str, Any] = dict(e.values) if isinstance(e, OfflineRefused) else {}
    for found in (e.details or []) if isinstance(e, MkpError) else []:
        # The server's figures (the limit, the balance) fill the blanks; rows' texts do not.
        details.update({k: v for k, v in found.items() if type(v) is int})
    out: dict[str, Any] = {"ok": False, "error": {"code": code}}
    if isinstance(e, WrongPinError):
        details["tries"] = e.tries_left
        out["pin_tries_left"] = e.tries_left
    out["error"]["message"] = message(code, **details)
    out["error"]["detail"] = str(e)
    return out


class Counter:
    """The counter of one enrolled terminal (``backend``: its card reader)."""

    def __init__(
        self,
        terminal: Terminal,
        backend: ReaderBackend,
        reader: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.terminal = terminal
        self.backend = backend
        self.reader = reader
        self.clock = clock
        self.api: ApiClient = terminal.client(timeout=5.0)
        self.queue = OfflineQueue(terminal.home.root / "counter.sqlite3")
        self.receipts = ReceiptPrinting(terminal.home, queue=self.queue)
        self._card = threading.Lock()
        self.online = True  # until a call finds the server away
        self.card_present = False  # kept by the card watch (see :meth:`watch_cards`)
        self.language = "ja"
        self.idle_timeout_s = 60
        #: The longest the page waits for an action's answer (card, server, camera), then says so.
        self.action_timeout_s = 60
        #: The longest the camera looks for a voucher's QR code.
        self.scan_timeout_s = 20.0
        self.zone = JST
        #: Where the voucher scanner reads (a camera); None: no scanner, the page offers none.
        self.voucher_camera: Callable[[], FrameSource] | None = voucher_camera(terminal.home)
        self._camera = threading.Lock()
        self._session = threading.local()  # ``files``: the SessionFiles of this thread's card action

    # -- what the page shows ----------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """config.json: as the card action of this thread read it, else read now."""
        return self._files().config

    def _files(self) -> SessionFiles:
        files: SessionFiles | None = getattr(self._session, "files", None)
        return files if files is not None else SessionFiles(self.terminal)

    @contextmanager
    def _session_files(self) -> Iterator[None]:
        if getattr(self._session, "files", None) is not None:  # an action within an action
            yield
            return
        self._session.files = SessionFiles(self.terminal)
        try:
            yield
        finally:
            self._session.files = None

    @property
    def place(self) -> dict[str, Any]:
        return self.config().get("place") or {}

    def last_contact(self) -> datetime | None:
        """When the server last answered this terminal (kept across restarts)."""
        return contact.last_contact(self.terminal.home)

    def contacted(self) -> None:
        """The server answered (a refusal is an answer): the offline limits count from here."""
        self.online = True
        contact.contacted(self.terminal.home, self.clock())

    def check_server(self) -> bool:
        """Ask the server now whether it is there (``online`` says what the last call found: a
        command line that has made no call yet would report a server long gone as online)."""
        try:
            self._call("GET", "/healthz")
        except (ApiError, Unreachable):
            pass  # a refusal is an answer; an unreachable server left ``online`` False
        return self.online

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A signed request to the server; remembers whether the server answered (a refusal is an answer)."""
        try:
            reply = self.api.request(method, path, body)
        except ApiError:
            self.contacted()
            raise
        except Unreachable:
            self.online = False
            raise
        self.contacted()
        return reply

    def watch_cards(self) -> Callable[[], None]:
        """Follow card insertions and removals (for the page); returns the function that stops it."""

        def event(e: CardEvent) -> None:
            self.card_present = e.kind == "inserted"

        try:
            self.card_present = any(self._has_card(r) for r in self.backend.readers())
        except CardError:
            self.card_present = False
        watch = self.backend.watch(event)
        return watch.stop

    def _has_card(self, reader: str) -> bool:
        if self.reader is not None and self.reader not in reader:
            return False
        try:
            with self._card, self.backend.connect(reader):
                return True
        except CardError:
            return False

    # -- card sessions --------------------------------------------------------------------------

    @contextmanager
    def _card_session(self, pin: str) -> Iterator[ProvingCard]:
        """The card opened with its PIN, after the terminal's own check of its certificate."""
        with self._card, proving_card(self.backend, pin, self.reader) as card:
            trust = self._files().trust
            check_card_locally(card, trust, self.terminal.crl_stores(trust), at=self.clock())
            yield card

    def _challenge(self, purpose: str) -> str:
        return str(self._call("POST", f"{TERMINAL}/mykey/challenges", {"purpose": purpose})["challenge"])

    # -- spend ----------------------------------------------------------------------------------

    @card_action
    def spend(
        self,
        pin: str,
        amount: int | None = None,
        item: str | None = None,
        quantity: int = 1,
        point_code: str | None = None,
    ) -> dict[str, Any]:
        """Spend points from the card's holder here: online, else offline within the limits."""
        request = SpendRequest(amount, item, quantity, point_code)
        client_id = f"{self.terminal.terminal_id}-{uuid.uuid4()}"
        try:
            with self._card_session(pin) as card:
                try:
                    result, was_offline = self._spend_online(card, request, client_id), False
                except Unreachable:
                    result, was_offline = self._spend_offline(card, request, client_id), True
        except (MkpError, CardError) as e:
            return refusal(e)
        return self._finish("spend", result, was_offline)

    def _spend_online(self, card: ProvingCard, request: SpendRequest, client_id: str) -> dict[str, Any]:
        place = self.place["id"]
        challenge = self._challenge(cardproof.SPEND)
        action = cardproof.spend_action(
            client_id, place, request.amount, request.item, request.quantity, request.point_code
        )
        proof = card.prove(cardproof.SPEND, challenge, action)
        failpoints.reach("spend:card-signed")
        body = {"client_id": client_id, "proof": proof.to_wire(), **request.fields()}
        self.queue.attempt(client_id, body)
        try:
            reply = self._call("POST", f"{TERMINAL}/spend", body)
        except ApiError:
            self.queue.attempt_done(client_id, VOID)  # refused: nothing was taken
            raise
        failpoints.reach("spend:sent")
        self.queue.attempt_done(client_id, DONE, reply)
        return dict(reply)

    def _offline_amount(self, request: SpendRequest) -> int:
        if request.item is None:
            if request.amount is None:
                raise OfflineRefused("missing_amount", "give the amount, or an item of the price list")
            return request.amount
        item = next((i for i in self.config().get("price_list") or [] if i.get("code") == request.item), None)
        if item is None:
            raise OfflineRefused("unknown_item", f"no item {request.item} in this place's price list")
        return int(item["price"]) * request.quantity

    def _spend_offline(self, card: ProvingCard, request: SpendRequest, client_id: str) -> dict[str, Any]:
        now = self.clock()
        amount = self._offline_amount(request)
        sha = cardproof.certificate_sha256(card.certificate)
        trust = self._files().trust
        stores = self.terminal.crl_stores(trust)
        newest = max((s.this_update for s in stores), default=None)
        totals = self.queue.totals()
        OfflineLimits.from_config(self.config()).check(
            amount,
            self.queue.card_total_since(sha, day_start(now)),
            totals.pending_amount,
            self.last_contact(),
            newest,
            now,
        )
        seq = self.queue.next_seq()
        transaction = offline.Transaction(
            terminal=self.terminal.terminal_id,
            seq=seq,
            client_id=client_id,
            place=self.place["id"],
            at=now,
            amount=request.amount,
            item=request.item,
            quantity=request.quantity,
            point_code=request.point_code,
        )
        proof = card.prove(cardproof.OFFLINE_SPEND, client_id, transaction.action())
        entry = offline.seal(self.terminal.key, transaction, proof)
        failpoints.reach("spend:before-queue")
        self.queue.add_after_attempt(seq, client_id, sha, amount, entry)
        failpoints.reach("spend:after-queue")
        return {"amount": amount, "reference": f"{self.terminal.terminal_id}-{seq}", "client_id": client_id}

    def _finish(self, kind: str, result: dict[str, Any], was_offline: bool) -> dict[str, Any]:
        body = receipt_body(kind, self.place.get("name", ""), result, was_offline, self.clock())
        printed = self.receipts.print_new(body)
        # The action's kind last: a refund's reply is a transfer whose own "kind" is the ledger's.
        out = {**result, "ok": True, "kind": kind, "offline": was_offline, "receipt": printed.to_dict()}
        if printed.error:
            out["receipt"]["message"] = message(printed.error)
        return out

    # -- the other actions ----------------------------------------------------------------------

    def _online(
        self, pin: str, purpose: str, path: str, fields: dict[str, Any], action: dict[str, str]
    ) -> Any:
        with self._card_session(pin) as card:
            challenge = self._challenge(purpose)
            proof = card.prove(purpose, challenge, action)
            return self._call("POST", path, {**fields, "proof": proof.to_wire()})

    @card_action
    def balance(self, pin: str) -> dict[str, Any]:
        """The holder's balances by point code, with what expires next (online only)."""
        try:
            reply = self._online(pin, cardproof.BALANCE, f"{TERMINAL}/balance", {}, {})
        except Unreachable as e:
            return refusal(OfflineRefused("offline_not_possible", str(e)))
        except (MkpError, CardError) as e:
            return refusal(e)
        return {"ok": True, "kind": "balance", **reply}

    @card_action
    def lookup(self, pin: str) -> dict[str, Any]:
        """This place's service ID for the card."""
        service = self.place.get("service") or ""
        try:
            reply = self._online(
                pin, cardproof.LOOKUP, f"{TERMINAL}/lookup", {}, cardproof.service_action(service)
            )
        except Unreachable as e:
            return refusal(OfflineRefused("offline_not_possible", str(e)))
        except (MkpError, CardError) as e:
            return refusal(e)
        return {"ok": True, "kind": "lookup", **reply}

    @card_action
    def refund(self, pin: str, transfer_id: int) -> dict[str, Any]:
        """Give back a spend made here (the holder's card must be the one that paid)."""
        client_id = f"{self.terminal.terminal_id}-{uuid.uuid4()}"
        fields = {"client_id": client_id, "transfer_id": transfer_id}
        try:
            reply = self._online(
                pin,
                cardproof.REFUND,
                f"{TERMINAL}/refund",
                fields,
                cardproof.refund_action(transfer_id, client_id),
            )
        except Unreachable as e:
            return refusal(OfflineRefused("offline_not_possible", str(e)))
        except (MkpError, CardError) as e:
            return refusal(e)
        return self._finish("refund", dict(reply), False)

    # -- the resident's own affairs, with the card at the counter ------------------------------
    # The same calls as `mkp-agent mykey | partner | voucher` (agent/mykey.py, partner_points.py,
    # vouchers.py), made with the card in this counter's reader and its PIN from the page.

    def _holder_api(self) -> ApiClient:
        """A plain client of the counter's server: the card, not the terminal, is the credential."""
        return ApiClient(self.api.base_url, timeout=self.api.timeout)

    def _as_holder(
        self, kind: str, pin: str, work: Callable[[ApiClient, ProvingCard], Any]
    ) -> dict[str, Any]:
        """Open the card with ``pin``, do ``work`` with the server, answer as the page shows it."""
        try:
            with self._card_session(pin) as card:
                reply = work(self._holder_api(), card)
        except Unreachable as e:
            self.online = False
            return refusal(OfflineRefused("offline_not_possible", str(e)))
        except (MkpError, CardError) as e:
            if isinstance(e, ApiError):
                self.contacted()
            return refusal(e)
        self.contacted()
        return {**dict(reply), "ok": True, "kind": kind}

    @card_action
    def register(self, pin: str) -> dict[str, Any]:
        """The card's MyKey ID: made now (a random one), or the one it has."""
        return self._as_holder("register", pin, lambda api, card: MyKeyClient(api).register(card))

    @card_action
    def link_service(self, pin: str, local_id: str) -> dict[str, Any]:
        """Link the holder's number at this place's service (staff of the service may confirm it)."""
        service = self.place.get("service")
        try:
            if not service:
                raise MkpError("no_service", "this place has no service to link")
            validate_local_service_id(local_id)
        except MkpError as e:
            return refusal(e)  # refused before the card is touched: no PIN try is spent
        return self._as_holder(
            "link_service", pin, lambda api, card: MyKeyClient(api).link(card, service, local_id)
        )

    @card_action
    def link_partner(self, pin: str, partner: str, member: str) -> dict[str, Any]:
        """Ask to link a partner's member number; the answer's link code is shown once."""
        return self._as_holder(
            "link_partner",
            pin,
            lambda api, card: PartnerPoints(api).link_partner(card, partner.strip().upper(), member.strip()),
        )

    @card_action
    def redeem_coupon(self, pin: str, code: str) -> dict[str, Any]:
        """A partner's coupon code: its points go into holding, then to the wallet."""
        return self._as_holder(
            "coupon", pin, lambda api, card: PartnerPoints(api).redeem_coupon(card, code.strip())
        )

    @property
    def has_scanner(self) -> bool:
        return self.voucher_camera is not None

    def scan_voucher(self) -> dict[str, Any]:
        """Read a paper voucher's QR code with the terminal's camera and redeem it here (no card:
        the voucher is the value, and it is credited to this place)."""
        if self.voucher_camera is None:
            return refusal(MkpError("no_scanner", "this terminal has no camera for vouchers"))
        try:
            with self._camera:  # one camera: one scan at a time
                text = read_voucher_text(self.voucher_camera(), self.scan_timeout_s)
            reply = VoucherDesk(self.terminal, self.clock).redeem(text=text)
        except MkpError as e:  # the scanner's errors too
            if isinstance(e, Unreachable):
                self.online = False
            return refusal(e)
        return {**reply, "ok": True, "kind": "voucher"}

    def reprint(self, receipt_id: int) -> dict[str, Any]:
        printed = self.receipts.print_kept(receipt_id)
        out: dict[str, Any] = {"ok": printed.printed, "kind": "reprint", "receipt": printed.to_dict()}
        if printed.error:
            out["error"] = {"code": printed.error, "message": message(printed.error)}
        return out

    # -- heartbeat ------------------------------------------------------------------------------

    def device_status(self) -> dict[str, Any]:
        """What the heartbeat says of this counter (and ``mkp-agent status`` shows)."""
        from agent.update import installed_version

        try:
            readers = self.backend.readers()
            reader = ", ".join(readers) if readers else "no reader"
        except CardError as e:
            reader = f"error: {e.code}"
        last = self.queue.last_receipts(1)
        printer = self.receipts.profile or "no printer"
        if last and last[0]["error"]:
            printer += f" (last receipt: {last[0]['error']})"
        totals = self.queue.totals()
        trust = self.terminal.jpki_trust()
        newest = max((s.this_update for s in self.terminal.crl_stores(trust)), default=None)
        return {
            "version": installed_version(),
            "reader": reader[:200],
            "printer": printer[:200],
            "queue_pending": totals.pending,
            "queue_amount": totals.pending_amount,
            "queue_oldest": totals.oldest.isoformat() if totals.oldest else None,
            "crl_this_update": newest.isoformat() if newest else None,
        }

    def heartbeat(self) -> dict[str, Any]:
        """Tell the server how this counter is; ``Unreachable`` if it cannot be told."""
        return dict(self._call("POST", f"{TERMINAL}/heartbeat", self.device_status()))

    # -- the queue and the journal ----------------------------------------------------------------

    def resolve_attempts(self) -> dict[str, int]:
        """Send again the online spends whose answer was never heard (the agent died, the network
        went); the server answers each with its first result, or says it never took it."""
        done = void = 0
        for client_id, request in self.queue.unfinished_attempts():
            try:
                reply = self._call("POST", f"{TERMINAL}/spend", request)
            except ApiError:
                self.queue.attempt_done(client_id, VOID)  # the server never took it
                void += 1
                continue
            self.queue.attempt_done(client_id, DONE, reply)
            done += 1
        return {"resolved": done, "void": void}

    def sync(self, batch: int = SYNC_BATCH) -> dict[str, Any]:
        """Send every pending entry, in batches; record each answer once. ``Unreachable`` if the
        server is away (nothing changes then)."""
        resolved = self.resolve_attempts()
        prints = confirm_pending(self.queue, self._call)  # vouchers printed here, not yet confirmed
        accepted = refused = 0
        while entries := self.queue.pending(batch):
            failpoints.reach("sync:before-send")
            reply = self._call("POST", f"{TERMINAL}/sync", {"entries": [e.entry for e in entries]})
            failpoints.reach("sync:sent")
            answers: dict[str, tuple[str, dict[str, Any]]] = {}
            for answer in reply["results"]:
                status = ACCEPTED if answer["status"] == "accepted" else REFUSED
                answers[answer["client_id"]] = (status, answer)
            self._record(answers)
            accepted += sum(1 for s, _ in answers.values() if s == ACCEPTED)
            refused += sum(1 for s, _ in answers.values() if s == REFUSED)
        pending = self.queue.totals().pending
        return {"accepted": accepted, "refused": refused, **resolved, **prints, "pending": pending}

    def _record(self, answers: dict[str, tuple[str, dict[str, Any]]]) -> None:
        items = list(answers.items())
        half = len(items) // 2
        self.queue.answer(dict(items[:half]))
        failpoints.reach("sync:mid-answer")
        self.queue.answer(dict(items[half:]))
