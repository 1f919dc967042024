"""The audit trail: every state change by an operator, partner or staff member, who, what, when,
the request and the reason; append-only, written in the same transaction as the change.

``init_app`` puts the recording on every request and the reading endpoint on the API.
"""

from __future__ import annotations

from flask_openapi3 import OpenAPI

from server.platform.audit import api, recording


def init_app(app: OpenAPI) -> None:
    recording.init_app(app)
    app.register_api(api.bp)
