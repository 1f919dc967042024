"""The terminal CA: certifies each terminal's own key at enrollment.

The CA key is a file with 0600 permissions under ``terminal_ca_dir`` (0700), made by
``mkp-server init``. The server authenticates terminals by the public key it stored at
enrollment; the certificate is what the terminal shows elsewhere (and what an auditor can
check) that the key is enrolled.

Several workers may open a missing CA at once: they take turns on a lock file, the first makes
the CA (each file written aside, then renamed into place) and the others load it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mkp_core.errors import MkpError
from server.files import folder_lock, write_private_atomic

TERMINAL_CERT_DAYS = 825


class TerminalCA:
    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        self.key = key
        self.certificate = certificate

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> TerminalCA:
        """Load the CA from ``directory``, creating key and certificate the first time."""
        folder = Path(directory)
        key_path, cert_path = folder / "terminal-ca.key", folder / "terminal-ca.pem"
        if key_path.exists() and cert_path.exists():
            return cls._load(key_path, cert_path)
        with folder_lock(folder):
            if key_path.exists() and cert_path.exists():
                return cls._load(key_path, cert_path)  # another worker made it while we waited
            ca = cls._new()
            # The certificate goes in last: a key without one is an unfinished CA, made again.
            write_private_atomic(key_path, ca.private_key_pem)
            write_private_atomic(cert_path, ca.certificate.public_bytes(serialization.Encoding.PEM))
            return ca

    @classmethod
    def _load(cls, key_path: Path, cert_path: Path) -> TerminalCA:
        if key_path.stat().st_mode & 0o077:
            raise PermissionError(f"{key_path} must be readable by its owner only (chmod 600)")
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} is not the terminal CA's EC key")
        return cls(key, x509.load_pem_x509_certificate(cert_path.read_bytes()))

    @property
    def private_key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @classmethod
    def _new(cls) -> TerminalCA:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mkp"),
                x509.NameAttribute(NameOID.COMMON_NAME, "mkp terminal CA"),
            ]
        )
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def issue(self, csr: x509.CertificateSigningRequest, terminal_id: str) -> x509.Certificate:
        """A certificate for the CSR's key, naming the terminal id (nothing from the CSR's subject)."""
        now = datetime.now(UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, terminal_id)]))
            .issuer_name(self.certificate.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=TERMINAL_CERT_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )


def parse_csr(pem: str) -> x509.CertificateSigningRequest:
    """A CSR for an EC P-256 key with a valid self-signature, or ``MkpError('invalid_csr')``."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except (ValueError, TypeError):
        raise MkpError("invalid_csr", "csr is not a PEM certificate signing request") from None
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise MkpError("invalid_csr", "the terminal key must be ECDSA P-256")
    if not csr.is_signature_valid:
        raise MkpError("invalid_csr", "the CSR's signature does not verify")
    return csr
