"""Console forms sent twice make one change: every form that creates a row carries a client id.

Why: a clerk who presses Back and sends the form again, or clicks twice on a slow line, must not
make two places, two events or two connection tests. The platform's standard is that every
mutation is idempotent by client id; the API's callers send one, and so do the console's forms.

How: the page draws :func:`client_id_field` into the form, a fresh id each time the form is
drawn. The POST runs its change through :func:`server.db.idempotency.once`, keyed in the member
of staff's own namespace (:func:`server.console.blueprint.staff_key`): the first send makes the
change and keeps its reply in the same transaction; a second send with that id finds the reply,
shows the same page and changes nothing (nor writes to the audit trail). The same id with other
values (the form edited after going Back) is refused in one line, as is a form without an id.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from flask import request
from markupsafe import Markup
from sqlalchemy import Connection

from mkp_core.errors import Conflict, MkpError
from mkp_core.i18n import N_
from mkp_core.ids import CLIENT_ID_RE
from server.console.blueprint import bp, me, staff_key
from server.db.engine import run_write
from server.db.idempotency import Reply, once
from server.web.context import engine

FIELD = "client_id"
NOT_SENT_FIELDS = frozenset({FIELD, "csrf_token"})
#: The form has no client id (a page drawn before forms had one): the clerk reloads it.
NO_CLIENT_ID = N_("This form has expired. Reload the page and send it again.")
#: The form's id was used for other values: the clerk went Back, changed it and sent it again.
OTHER_VALUES = N_("This form was sent already with other values. Reload the page and try again.")


def client_id_field() -> Markup:
    """The hidden field of a form that creates something: a new client id each time it is drawn."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, uuid.uuid4().hex)


@bp.context_processor
def form_helpers() -> dict[str, object]:
    return {"client_id_field": client_id_field}


def sent_key() -> str:
    """The stored key of this POST's client id, in the member's namespace (else one clear line)."""
    sent = request.form.get(FIELD, "")
    if not CLIENT_ID_RE.fullmatch(sent):
        raise MkpError("no_client_id", NO_CLIENT_ID)
    return staff_key(sent)


def sent_body() -> dict[str, Any]:
    """What the form asked for (every field but the id and the CSRF token; files by digest)."""
    body: dict[str, Any] = {
        name: values for name, values in request.form.lists() if name not in NOT_SENT_FIELDS
    }
    for name, upload in request.files.items():
        upload.stream.seek(0)
        content = upload.stream.read()
        upload.stream.seek(0)
        body[f"file:{name}"] = [upload.filename or "", hashlib.sha256(content).hexdigest()]
    return body


def once_per_form(
    what: str, work: Callable[[Connection], Any], shown: Callable[[Any], Reply] = lambda _: {}
) -> Reply:
    """Run ``work`` (the form's change) once for this form's client id: ``shown`` of its result
    (what the answer page needs, kept for a second send), or on a second send the first's.
    ``what`` names the form (the scope of the id)."""
    key, body = sent_key(), sent_body()
    scope = f"console.{what}:{me().actor}"
    try:
        reply, _ = run_write(engine(), lambda conn: once(conn, key, scope, body, lambda: shown(work(conn))))
    except Conflict as e:
        if e.code == "idempotency_conflict":
            raise MkpError("form_sent_with_other_values", OTHER_VALUES) from None
        raise
    return reply
