"""The URL a terminal signed, rebuilt from the WSGI environ: server-only, so mkp_core need not know WSGI."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote


def wsgi_request_url(environ: Mapping[str, object]) -> str:
    """The absolute URL as the terminal sent it, from a WSGI environ (PEP 3333), for signature checks.

    Frameworks' ``request.url`` is decoded (werkzeug 3 gives an IRI: ``/日本``, ``%2F`` as ``/``), which
    no longer matches the signed ``@path`` / ``@query``; the raw request target (``RAW_URI`` from
    gunicorn and werkzeug, ``REQUEST_URI``) is used when the server provides it. Behind a reverse
    proxy the ``Host`` header must reach the app unchanged (or be restored by ProxyFix).
    """
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    host = environ.get("HTTP_HOST")
    if not host:
        port = str(environ.get("SERVER_PORT", ""))
        default = {"http": "80", "https": "443"}.get(scheme)
        host = f"{environ.get('SERVER_NAME', '')}{'' if port in ('', default) else ':' + port}"
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not target or not str(target).startswith("/"):
        path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
        # PEP 3333: PATH_INFO is the decoded path as latin-1 text; re-encode its bytes.
        target = quote(path.encode("latin-1"), safe="/:@!$&'()*+,;=-._~")
        if environ.get("QUERY_STRING"):
            target += "?" + str(environ["QUERY_STRING"])
    return f"{scheme}://{host}{target}"
