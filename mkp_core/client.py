"""A small HTTP client for the ledger API, used by mkp-admin, the demo and the agent.

Every mutation carries a client id, so POSTs are retried safely on connection failures and
502/503/504: the server answers a retry with the first result.
"""

from __future__ import annotations

import uuid
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


class ApiError(Exception):
    """The server refused a request: ``status``, machine ``code``, human ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class Unreachable(Exception):
    """The server could not be reached at all."""


def new_client_id() -> str:
    return str(uuid.uuid4())


class ApiClient:
    """JSON over HTTP with one error shape; ``auth`` is any requests auth (bearer, signatures)."""

    def __init__(
        self, base_url: str, auth: requests.auth.AuthBase | None = None, timeout: float = 10.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = auth
        retry = Retry(
            total=4,
            connect=4,
            read=2,
            status=3,
            backoff_factor=0.2,
            status_forcelist=(502, 503, 504),
            allowed_methods=None,  # POSTs too: every mutation is idempotent by client id
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def request(self, method: str, path: str, json: dict[str, Any] | None = None) -> Any:
        try:
            response = self.session.request(method, self.base_url + path, json=json, timeout=self.timeout)
        except requests.ConnectionError as e:
            raise Unreachable(f"cannot reach the server at {self.base_url}: {_reason(e)}") from None
        except requests.Timeout:
            raise Unreachable(
                f"the server at {self.base_url} did not answer within {self.timeout:g} s"
            ) from None
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                raise ApiError(response.status_code, error["code"], error["message"])
            except (ValueError, KeyError, TypeError):
                raise ApiError(
                    response.status_code, "http_error", f"HTTP {response.status_code} from {self.base_url}"
                ) from None
        return response.json()

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


def _reason(e: Exception) -> str:
    text = str(e)
    for hint in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if hint in text:
            return hint.lower()
    return e.__class__.__name__
