"""The one code a validation error is answered with, for a whole request body (``server/web/errors.py``)
and for one item of a batch judged item by item (a partner's orders): both must name a bad field
the same way, so the rule is written once. No Flask here: domains below the web layer use it.
"""

from __future__ import annotations

from pydantic import ValidationError

from mkp_core.wire import FIELD_ERROR_CODES

#: Pydantic's error types for a value that is not an object where one was wanted.
NOT_AN_OBJECT = ("model_type", "model_attributes_type", "dict_type")


def error_code(e: ValidationError, not_an_object: str = "invalid_body") -> str:
    """The code a validation error is answered with, from its first error: our own rules carry
    their code; a missing field, an unknown one, a value that is not an object
    (``not_an_object``); else the field's code (``FIELD_ERROR_CODES``). Used for a whole body and
    for one item of a batch that is judged item by item."""
    first = e.errors(include_url=True, include_context=False, include_input=False)[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    if "url" not in first:  # our own rules (PydanticCustomError) carry their code; pydantic's link to docs
        return str(first["type"])
    if first["type"] == "missing":
        return "missing_field"
    if first["type"] in NOT_AN_OBJECT:
        return not_an_object
    if first["type"] == "extra_forbidden":
        return "unknown_field"
    return FIELD_ERROR_CODES.get(field, "invalid_request")
