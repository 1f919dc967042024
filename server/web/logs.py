"""Log lines an operator can use: time, level, process, and the request they belong to.

Every request has an id: the caller's ``X-Request-Id`` when it is a sane token, else a new one.
It is echoed in the reply's ``X-Request-Id`` header and in every error body, and it is on every
log line written while the request runs, so "request 3f2a… failed" leads to its log lines.
The same format serves the app's loggers and gunicorn's error log (``mkp-server run``).
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from flask import g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_ENVIRON = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s request_id=%(request_id)s: %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def request_id() -> str:
    """This request's id (made on first use); "-" outside a request."""
    if not has_request_context():
        return "-"
    if "request_id" not in g:
        # From the environ, as request.headers would read it, without the exception it raises
        # and catches inside for a header the caller did not send.
        g.request_id = request_id_from(request.environ.get(REQUEST_ID_ENVIRON, ""))
    found: str = g.request_id
    return found


def request_id_from(offered: str) -> str:
    """The id of a request whose caller offered ``offered``: it when sane, else a new one."""
    return offered if _SANE_REQUEST_ID.fullmatch(offered) else secrets.token_hex(8)


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record (a filter on the handler, so library loggers get it too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id()
        return True


def formatter() -> logging.Formatter:
    return logging.Formatter(LOG_FORMAT, DATE_FORMAT)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """``logging.config.dictConfig`` for the server process: our format on stderr for our loggers
    and gunicorn's error log (gunicorn's access log stays off)."""
    handler = {"class": "logging.StreamHandler", "formatter": "mkp", "filters": ["request_id"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"mkp": {"format": LOG_FORMAT, "datefmt": DATE_FORMAT}},
        "handlers": {"stderr": {**handler, "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": level, "handlers": [], "propagate": False},
        },
    }
