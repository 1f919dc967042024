"""Where a CRL comes from: a file, or an http(s) URL (J-LIS's distribution point, a mirror).

Used by `mkp-admin crl import` on the operator's machine and by `mkp-server crl-sweep` on the
server (so it lives here, where both can import it); neither trusts the transport: the CRL's CA
signature is what the server checks.
"""

from __future__ import annotations

import base64
from pathlib import Path

import requests
from cryptography import x509

from mkp_core.errors import MkpError

#: A CRL of a million serials is about 40 MB of DER.
MAX_CRL_BYTES = 128 * 1024 * 1024
TIMEOUT = 60.0


def read_crl(source: str, limit: int = MAX_CRL_BYTES) -> bytes:
    """The bytes of the CRL at ``source`` (a path or an http(s) URL); ``crl_unavailable`` if none."""
    if source.startswith(("http://", "https://")):
        return _download(source, limit)
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > limit:
            raise MkpError("crl_too_large", f"{path} is {size} bytes; at most {limit}")
        return path.read_bytes()
    except OSError as e:
        raise MkpError("crl_unavailable", f"cannot read the CRL {path}: {e.strerror or e}") from None


def _download(url: str, limit: int) -> bytes:
    try:
        with requests.get(url, stream=True, timeout=TIMEOUT) as response:
            if response.status_code != 200:
                raise MkpError("crl_unavailable", f"{url} answered HTTP {response.status_code}")
            data = bytearray()
            for chunk in response.iter_content(1 << 16):
                data += chunk
                if len(data) > limit:
                    raise MkpError("crl_too_large", f"{url} sends more than {limit} bytes")
            return bytes(data)
    except requests.RequestException as e:
        raise MkpError("crl_unavailable", f"cannot download the CRL from {url}: {type(e).__name__}") from None


def as_upload_text(data: bytes, source: str = "the file") -> str:
    """What the upload API takes: PEM as it is, DER in base64. ``invalid_crl`` naming ``source``
    if the bytes are no X.509 CRL at all (a card's JSON, a certificate): checked here, so the person
    who picked the wrong file hears "not a CRL", not the parser's words."""
    pem = data.lstrip().startswith(b"-----BEGIN")
    try:
        (x509.load_pem_x509_crl if pem else x509.load_der_x509_crl)(data)
    except ValueError:
        raise MkpError(
            "invalid_crl", f"{source} is not a CRL: give the CA's revocation list (PEM or DER)"
        ) from None
    if pem:
        return data.decode("ascii", "replace")
    return base64.b64encode(data).decode()
