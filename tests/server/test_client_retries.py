"""mkp's HTTP client retries what may have failed on the way, safely: a terminal's retry is signed
anew (the server refuses a nonce it has seen), and a retried mutation posts once."""

from __future__ import annotations

from mkp_testing import served_in_process

from mkp_core import signing
from mkp_core.client import ApiClient, BearerToken


class GatewayTimingOutOnce:
    """A reverse proxy in front of the server that gives up on the first request with 502 after the
    server has handled it: the worst case for a retry (the server saw the nonce, made the change)."""

    def __init__(self, app) -> None:
        self.app = app
        self.nonces: list[str] = []
        self.failures = 1

    def __call__(self, environ, start_response):
        self.nonces.append(environ.get("HTTP_SIGNATURE_INPUT", ""))
        if self.failures:
            self.failures -= 1
            for _ in self.app(environ, lambda *args: None):  # the server does the work...
                pass
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return [b"upstream timed out"]  # ...and the answer is lost
        return self.app(environ, start_response)


def test_a_retried_terminal_request_is_signed_anew(app, enrolled):
    terminal_id, key, _ = enrolled
    gateway = GatewayTimingOutOnce(app.wsgi_app)
    app.wsgi_app = gateway
    with served_in_process(app) as url:
        answer = ApiClient(url, signing.TerminalAuth(terminal_id, key)).get("/v1/terminal/ping")
    assert answer["terminal_id"] == terminal_id
    assert len(gateway.nonces) == 2 and gateway.nonces[0] != gateway.nonces[1]


def test_a_retried_grant_posts_once(app, town):
    app.wsgi_app = GatewayTimingOutOnce(app.wsgi_app)
    with served_in_process(app) as url:
        api = ApiClient(url, BearerToken(town.central["Authorization"].split()[1]))
        body = {
            "department": "142018-kosodate",
            "mykey_id": "HANAKO23",
            "amount": 500,
            "grant_kind": "childcare",
        }
        transfer = api.post("/v1/grants", body)
        balances = api.get("/v1/mykeys/HANAKO23/balances")["balances"]
    assert transfer["amount"] == 500
    assert [(b["point_code"], b["balance"]) for b in balances] == [("142018", 500)]
