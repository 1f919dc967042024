"""A test CA shaped like J-LIS's JPKI user-authentication CA, kept in a directory (library only).

This is the CA behind ``mkp-vcard`` and the demo: it keeps its key, its certificate and what it
revoked in files, and leaves the shapes of certificates and CRLs to :mod:`.pki`, the one place
that builds them. Its certificate carries the J-LIS DN letter for letter, so the agent's checks
run unchanged against it, and a policy notice saying it is a test key.

Directory layout::

    ca.pem         the CA certificate (a TrustStore anchor)
    ca.key         its private key, PKCS#8 PEM, mode 0600
    revoked.json   serials revoked so far, with dates, and the last CRL number issued
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from drivers.card.virtual.pki import (
    Revocation,
    auth_subject,
    build_auth_certificate,
    build_ca_certificate,
    build_crl,
    new_rsa_key,
    utcnow,
)
from mkp_core.errors import FixedCodeError


class CaError(FixedCodeError):
    """The CA directory is missing, incomplete, or already exists."""

    code = "ca_error"


class _Revoked(TypedDict):
    serial: int
    revoked_at: str  # ISO 8601


class _State(TypedDict):
    """What ``revoked.json`` holds."""

    crl_number: int
    revoked: list[_Revoked]


@dataclass
class TestCA:
    """A JPKI-shaped test CA living in a directory."""

    __test__ = False  # not a pytest test class

    directory: Path
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def cert_path(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def _state_path(self) -> Path:
        return self.directory / "revoked.json"

    @classmethod
    def init(cls, directory: str | os.PathLike[str]) -> TestCA:
        """Make a new CA in ``directory`` (created if needed); refuses to overwrite one."""
        d = Path(directory)
        if (d / "ca.key").exists() or (d / "ca.pem").exists():
            raise CaError(f"{d} already holds a CA; refusing to overwrite it")
        d.mkdir(parents=True, exist_ok=True)
        key = new_rsa_key()
        cert = build_ca_certificate(key)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(d / "ca.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        (d / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ca = cls(d, cert, key)
        ca._save_state({"crl_number": 0, "revoked": []})
        return ca

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> TestCA:
        """Open an existing CA directory."""
        d = Path(directory)
        try:
            cert = x509.load_pem_x509_certificate((d / "ca.pem").read_bytes())
            key = serialization.load_pem_private_key((d / "ca.key").read_bytes(), password=None)
        except FileNotFoundError as e:
            raise CaError(
                f"{d} is not a CA directory (missing {Path(e.filename).name}); run 'mkp-vcard ca init {d}'"
            ) from e
        except ValueError as e:
            raise CaError(f"{d}: unreadable CA files: {e}") from e
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CaError(f"{d}/ca.key is not an RSA key")
        return cls(d, cert, key)

    # -- state -----------------------------------------------------------------------------
    def _load_state(self) -> _State:
        try:
            return cast(_State, json.loads(self._state_path.read_text()))  # written by _save_state
        except FileNotFoundError:
            return {"crl_number": 0, "revoked": []}

    def _save_state(self, state: _State) -> None:
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self._state_path)

    # -- issuing ---------------------------------------------------------------------------
    def issue_auth_certificate(
        self,
        public_key: rsa.RSAPublicKey,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        common_name: str | None = None,
    ) -> x509.Certificate:
        """Issue a user-authentication certificate: ``C=JP, CN=<opaque id>``, 5 years, no personal data."""
        return build_auth_certificate(
            self.certificate,
            self.key,
            public_key,
            subject=auth_subject(common_name),
            not_before=not_before,
            not_after=not_after,
        )

    # -- revocation ------------------------------------------------------------------------
    def revoke(self, serial: int, at: dt.datetime | None = None) -> bool:
        """Add ``serial`` to the revocation list; False if it was already there."""
        state = self._load_state()
        if any(r["serial"] == serial for r in state["revoked"]):
            return False
        state["revoked"].append({"serial": serial, "revoked_at": (at or utcnow()).isoformat()})
        self._save_state(state)
        return True

    def revoke_many(self, serials: list[int], at: dt.datetime | None = None) -> int:
        """Revoke many serials in one write (benchmarks, big CRLs); returns how many were new."""
        state = self._load_state()
        known = {r["serial"] for r in state["revoked"]}
        when = (at or utcnow()).isoformat()
        new = [s for s in dict.fromkeys(serials) if s not in known]
        state["revoked"].extend({"serial": s, "revoked_at": when} for s in new)
        self._save_state(state)
        return len(new)

    def revoked(self) -> list[tuple[int, dt.datetime]]:
        """Serials revoked so far, with their revocation times."""
        return [
            (r["serial"], dt.datetime.fromisoformat(r["revoked_at"])) for r in self._load_state()["revoked"]
        ]

    def issue_crl(
        self, *, this_update: dt.datetime | None = None, next_update: dt.datetime | None = None
    ) -> x509.CertificateRevocationList:
        """Sign a CRL of everything revoked so far, under the next CRL number (next update: a day on)."""
        state = self._load_state()
        state["crl_number"] += 1
        crl = build_crl(
            self.certificate,
            self.key,
            (Revocation(r["serial"], dt.datetime.fromisoformat(r["revoked_at"])) for r in state["revoked"]),
            this_update=this_update,
            next_update=next_update,
            number=state["crl_number"],
        )
        self._save_state(state)
        return crl
