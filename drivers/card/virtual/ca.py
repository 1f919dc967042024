"""A test CA shaped like J-LIS's JPKI user-authentication CA, for virtual cards (library only).

The real CA is a self-signed RSA-2048 root with sha256WithRSAEncryption and the subject
``C=JP, O=JPKI, OU=JPKI for user authentication, OU=Japan Agency for Local Authority Information
Systems``; this one has the same shape so that the agent's certificate checks run unchanged
against it. It is clearly a test key: its certificate carries a policy notice saying so, and it
lives in a directory the tests or the demo made.

Directory layout::

    ca.pem         the CA certificate (a TrustStore anchor)
    ca.key         its private key, PKCS#8 PEM, mode 0600
    revoked.json   serials revoked so far, with dates, and the last CRL number issued
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

JPKI_AUTH_CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for user authentication"),
        x509.NameAttribute(
            NameOID.ORGANIZATIONAL_UNIT_NAME, "Japan Agency for Local Authority Information Systems"
        ),
    ]
)
TEST_NOTICE = "TEST CA made by mkp-vcard. Not a J-LIS key. Never trust it in production."
CERT_YEARS = 5


class CaError(Exception):
    """The CA directory is missing, incomplete, or already exists."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def add_years(t: dt.datetime, years: int) -> dt.datetime:
    try:
        return t.replace(year=t.year + years)
    except ValueError:  # 29 February
        return t.replace(year=t.year + years, day=28)


def opaque_id() -> str:
    """A random common name: the certificate says nothing about its holder."""
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(16))


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
    def init(cls, directory: str | os.PathLike[str], *, now: dt.datetime | None = None) -> TestCA:
        """Make a new CA in ``directory`` (created if needed); refuses to overwrite one."""
        d = Path(directory)
        if (d / "ca.key").exists() or (d / "ca.pem").exists():
            raise CaError(f"{d} already holds a CA; refusing to overwrite it")
        d.mkdir(parents=True, exist_ok=True)
        now = now or utcnow()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(JPKI_AUTH_CA_NAME)
            .issuer_name(JPKI_AUTH_CA_NAME)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            # valid from 6 years ago so that expired test certificates still sit inside it
            .not_valid_before(add_years(now, -6))
            .not_valid_after(add_years(now, 10))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(
                x509.CertificatePolicies(
                    [
                        x509.PolicyInformation(
                            x509.oid.CertificatePoliciesOID.ANY_POLICY,
                            [x509.UserNotice(None, TEST_NOTICE)],
                        )
                    ]
                ),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
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
    def _load_state(self) -> dict:
        try:
            return json.loads(self._state_path.read_text())
        except FileNotFoundError:
            return {"crl_number": 0, "revoked": []}

    def _save_state(self, state: dict) -> None:
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
        nb = not_before or utcnow() - dt.timedelta(minutes=1)
        na = not_after or add_years(nb, CERT_YEARS)
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                        x509.NameAttribute(NameOID.COMMON_NAME, common_name or opaque_id()),
                    ]
                )
            )
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(nb)
            .not_valid_after(na)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                # like J-LIS: the CRL is found by directory name, not by URL
                x509.CRLDistributionPoints(
                    [x509.DistributionPoint(None, None, None, [x509.DirectoryName(self.certificate.subject)])]
                ),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
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
        """Sign a CRL of everything revoked so far (next update a day later, as J-LIS does daily)."""
        state = self._load_state()
        state["crl_number"] += 1
        tu = this_update or utcnow()
        nu = next_update or tu + dt.timedelta(days=1)
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(tu)
            .next_update(nu)
            .add_extension(x509.CRLNumber(state["crl_number"]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
            )
        )
        for serial, when in self.revoked():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        crl = builder.sign(self.key, hashes.SHA256())
        self._save_state(state)
        return crl
