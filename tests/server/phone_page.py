"""The phone voucher page as a test client meets it: the form's hidden fields (its CSRF token and
client id) read from the page, as a browser sends them back."""

from __future__ import annotations

import re
from typing import Any

_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


def form_fields(client: Any, path: str) -> dict[str, str]:
    """The hidden fields of the page at ``path`` (the session cookie stays in ``client``)."""
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return dict(_HIDDEN.findall(page.get_data(as_text=True)))


def refusal_code(page: str) -> str | None:
    """The code a refusal carries in the page's markup (the shop reads words, never the code)."""
    found = re.search(r'data-code="([a-z_]+)"', page)
    return found.group(1) if found else None
