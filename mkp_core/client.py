"""The HTTP client of the ledger API, used by mkp-admin, the demo, provisioning and the agent.

It is the only place that reads the server's error bodies: every refusal comes out as an
:class:`ApiError` with the server's ``code``, and a server that cannot be reached as
:class:`Unreachable`, so callers decide by code and never parse message text.

Every mutation carries a client id, so POSTs are retried safely on connection failures and
502/503/504: the server answers a retry with the first result. A request that may have reached
the server is retried by :meth:`ApiClient.send` itself, so its auth runs again: a terminal's
retry is signed anew, with a fresh nonce the server has not seen (a replayed one is refused).
Only connecting, which sends nothing, is retried inside urllib3.

Sessions come from :func:`new_session`. A transport mounted with :func:`mount_transport` (the
tests mount the Flask app itself, in-process) serves its URL prefix in every session made after.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.util.retry import Retry

from mkp_core.errors import MkpError

DEFAULT_TIMEOUT = 10.0
RETRY_STATUSES = (502, 503, 504)
ATTEMPTS = 3  # sends of one request that may each have reached the server
BACKOFF = 0.2  # seconds before the second attempt, doubling after

_transports: dict[str, BaseAdapter] = {}


class _QuietRetries(logging.Filter):
    """urllib3 logs a warning for every retry of a connection ("Retrying (Retry(total=1, …)) after
    connection broken by …"): a command line would show them before its own one line, and a kiosk's
    log would fill with them while the server is away. This client says the outcome once
    (:class:`Unreachable`), so those lines are dropped; urllib3's other warnings stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Retrying")


logging.getLogger("urllib3.connectionpool").addFilter(_QuietRetries())


class ApiError(MkpError):
    """The server refused a request: HTTP ``status``, machine ``code``, human ``message``."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(code, message, details)
        self.status = status

    @classmethod
    def from_response(cls, response: requests.Response) -> ApiError:
        """The error a reply of status >= 400 carries (``http_error`` if its body is not ours)."""
        try:
            error = response.json()["error"]
            details = error.get("details")
            return cls(
                response.status_code,
                str(error["code"]),
                str(error["message"]),
                details if isinstance(details, list) else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls(response.status_code, "http_error", f"HTTP {response.status_code} from {response.url}")


class Unreachable(MkpError):
    """The server could not be reached at all (network, DNS, refused, timed out)."""

    kind = "unavailable"

    def __init__(self, message: str) -> None:
        super().__init__("server_unreachable", message)


class BadServerUrl(MkpError):
    """The server's address is no http(s) URL (``localhost:8080`` wants its ``http://``)."""

    def __init__(self, message: str) -> None:
        super().__init__("bad_server_url", message)


def server_url(text: str) -> str:
    """``text`` if it is an http(s) URL with a host; :class:`BadServerUrl` naming the fix if not."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise BadServerUrl(f"the server address {text!r} has no scheme: write http://{text} (or https://)")
    if scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise BadServerUrl(f"the server address {text!r} is not an http:// or https:// URL")
    return text


def new_client_id() -> str:
    return str(uuid.uuid4())


def mount_transport(prefix: str, adapter: BaseAdapter) -> None:
    """Serve URLs starting with ``prefix`` through ``adapter`` in every session made from now on."""
    _transports[prefix] = adapter


def unmount_transport(prefix: str) -> None:
    _transports.pop(prefix, None)


def new_session(auth: requests.auth.AuthBase | None = None, retries: bool = True) -> requests.Session:
    """A session that retries connecting (nothing was sent yet); other retries are ApiClient's."""
    session = requests.Session()
    session.auth = auth
    if retries:
        # Two more tries over half a second ride out a blip; a server that stays away is reported
        # quickly, so a kiosk can go offline and an operator is not kept waiting.
        retry = Retry(
            total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.25, allowed_methods=None
        )
        adapter = HTTPAdapter(max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    for prefix, transport in _transports.items():
        session.mount(prefix, transport)
    return session


class ApiClient:
    """JSON over HTTP with one error shape; ``auth`` is any requests auth (bearer, terminal signatures)."""

    def __init__(
        self,
        base_url: str,
        auth: requests.auth.AuthBase | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = server_url(base_url).rstrip("/")
        self.timeout = timeout
        self.session = session or new_session()
        if auth is not None:
            self.session.auth = auth

    def send(
        self,
        method: str,
        path: str,
        json: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """The raw reply of status < 400 (a 304 included); ``ApiError`` or ``Unreachable`` otherwise.

        A reply of 502/503/504, or a connection lost after sending, is tried again (up to
        ``ATTEMPTS`` sends, backing off): each attempt is prepared anew, so signatures are fresh.
        """
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            if attempt:
                time.sleep(BACKOFF * 2 ** (attempt - 1))
            try:
                response = self.session.request(
                    method, self.base_url + path, json=json, headers=dict(headers or {}), timeout=self.timeout
                )
            except requests.ConnectionError as e:
                if last or _never_sent(e):  # urllib3 has already retried connecting
                    raise Unreachable(f"cannot reach the server at {self.base_url}: {_reason(e)}") from None
                continue
            except requests.Timeout:
                if last:
                    raise Unreachable(
                        f"the server at {self.base_url} did not answer within {self.timeout:g} s"
                    ) from None
                continue
            except requests.RequestException as e:
                raise Unreachable(
                    f"cannot talk to the server at {self.base_url}: {type(e).__name__}"
                ) from None
            if response.status_code in RETRY_STATUSES and not last:
                continue
            if response.status_code >= 400:
                raise ApiError.from_response(response)
            return response
        raise AssertionError("unreachable")

    def request(self, method: str, path: str, json: dict[str, Any] | None = None) -> Any:
        response = self.send(method, path, json)
        try:
            return response.json()
        except ValueError:
            raise ApiError(response.status_code, "http_error", f"{path}: the reply is not JSON") from None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST a mutation; a client id is added if the body has none."""
        body = {"client_id": new_client_id(), **body}
        return self.request("POST", path, body)


class BearerToken(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def _never_sent(e: requests.ConnectionError) -> bool:
    """True if the request failed while connecting (refused, no route, no name, timed out): it never left."""
    reason = e.args[0] if e.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _reason(e: Exception) -> str:
    text = str(e)
    for hint in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if hint in text:
            return hint.lower()
    return e.__class__.__name__
