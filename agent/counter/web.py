"""The counter page on 127.0.0.1: the touch screen's browser talks to the agent, nothing else does.

The standard library's threading HTTP server is enough for one browser on the same machine (a
kiosk imports no web framework: see the import contracts). It serves the page and its files, its
words (``agent.counter.words``, from the one message catalogue, read once at start), the state the
page polls, and one POST per action. The PIN travels from the on-screen keypad to the agent over
the loopback interface only; a POST must come from the page's own origin (another site open in the
same browser cannot drive the counter), and bodies are small.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from agent.counter.service import Counter
from agent.counter.status import counter_state
from agent.counter.words import words_json
from agent.mypage import activation_for_page

MAX_BODY = 4096
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/counter.js": ("counter.js", "text/javascript; charset=utf-8"),
    "/static/counter.css": ("counter.css", "text/css; charset=utf-8"),
}


def _static(name: str) -> bytes:
    return resources.files("agent.counter").joinpath("static", name).read_bytes()


class CounterServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, counter: Counter, port: int = 0, host: str = "127.0.0.1") -> None:
        self.counter = counter
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes | bytearray) else host  # typeshed allows bytes
        return f"http://{name}:{port}"

    def start(self) -> CounterServer:
        threading.Thread(target=self.serve_forever, name="counter-page", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def _int(value: Any, name: str) -> int:
    if type(value) is not int:
        raise ValueError(f"{name} must be a whole number")
    return value


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _pin(body: dict[str, Any]) -> str:
    return _text(body, "pin")


#: The page's actions: each takes the counter and the POST's body, and answers what the page shows.
ACTIONS: dict[str, Callable[[Counter, dict[str, Any]], dict[str, Any]]] = {
    "spend": lambda c, b: c.spend(
        _pin(b),
        amount=None if b.get("amount") is None else _int(b["amount"], "amount"),
        item=b.get("item"),
        quantity=_int(b.get("quantity", 1), "quantity"),
        point_code=b.get("point_code"),
    ),
    "balance": lambda c, b: c.balance(_pin(b)),
    "lookup": lambda c, b: c.lookup(_pin(b)),
    "refund": lambda c, b: c.refund(_pin(b), _int(b.get("transfer_id"), "transfer_id")),
    "reprint": lambda c, b: c.reprint(_int(b.get("receipt_id"), "receipt_id")),
    "register": lambda c, b: c.register(_pin(b)),
    "link_service": lambda c, b: c.link_service(_pin(b), _text(b, "local_id")),
    "link_partner": lambda c, b: c.link_partner(_pin(b), _text(b, "partner"), _text(b, "member")),
    "coupon": lambda c, b: c.redeem_coupon(_pin(b), _text(b, "code")),
    "mypage_code": lambda c, b: activation_for_page(c, _pin(b)),
    "voucher": lambda c, b: c.scan_voucher(),
}
#: The page's own files only: no inline script or style, no other origin, never in a frame.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class _Handler(BaseHTTPRequestHandler):
    server: CounterServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # no access log: nothing of a card is kept
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: dict[str, Any]) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False, default=str).encode())

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in STATIC:
            name, content_type = STATIC[path]
            self._send(HTTPStatus.OK, _static(name), content_type)
        elif path == "/api/state":
            self._json(HTTPStatus.OK, counter_state(self.server.counter))
        elif path == "/api/words":
            self._send(HTTPStatus.OK, words_json())
        else:
            self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": {"code": "not_found"}})

    def do_POST(self) -> None:
        name = self.path.split("?", 1)[0].removeprefix("/api/actions/")
        origin = self.headers.get("Origin")
        if origin is not None and origin != self.server.url:
            self._json(HTTPStatus.FORBIDDEN, {"ok": False, "error": {"code": "foreign_origin"}})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if name not in ACTIONS or length > MAX_BODY:
            self._json(
                HTTPStatus.NOT_FOUND if name not in ACTIONS else HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                {"ok": False, "error": {"code": "bad_request"}},
            )
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be an object")
            result = ACTIONS[name](self.server.counter, body)
        except (ValueError, TypeError) as e:
            self._json(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                {"ok": False, "error": {"code": "bad_request", "detail": str(e)}},
            )
            return
        self._json(HTTPStatus.OK, result)
