"""Enrollment on the terminal itself: key, CSR, one-time code, certificate, downloads, agent.toml.

The terminal key is made here, written to ``HOME/terminal.key`` (0600) and never sent anywhere:
only a CSR (public key + proof of possession) leaves the machine. Every step can be run again:
an existing key is reused, the server answers a repeated code with the same key with the same
terminal, and downloads use ETags so an unchanged file is not fetched twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from agent.home import Home, read_agent_toml, write_atomic
from mkp_core.client import ApiClient, ApiError, Unreachable
from mkp_core.errors import MkpError
from mkp_core.ids import InvalidId, normalize_one_time_code
from mkp_core.signing import (
    PrivateKey,
    generate_terminal_key,
    key_fingerprint,
    load_private_key,
    save_private_key,
)


class ProvisionError(MkpError):
    """A step that cannot go on: ``code`` for programs, ``message`` and ``fix`` one line each for people."""

    def __init__(self, code: str, message: str, fix: str) -> None:
        super().__init__(code, message)
        self.fix = fix


def create_home(home: Home) -> None:
    """Make the folder (owner-only, it holds the key); an existing folder keeps its mode."""
    try:
        home.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise ProvisionError(
            "home_unwritable",
            f"cannot create {home.root}: {e.strerror or e}",
            "choose another --home folder, or run as a user who may write there",
        ) from None
    if not os.access(home.root, os.W_OK):
        raise ProvisionError(
            "home_unwritable",
            f"{home.root} is not writable by this user",
            "choose another --home folder, or run as its owner",
        )


# --- key and CSR ---------------------------------------------------------------------------------


def load_or_create_key(home: Home) -> tuple[PrivateKey, bool]:
    """The terminal key: the one already in HOME (a re-run), else a new one. Returns (key, created)."""
    if home.key.exists():
        try:
            return load_private_key(home.key), False
        except (ValueError, TypeError) as e:
            raise ProvisionError(
                "bad_key",
                f"{home.key} is not a usable terminal key: {e}",
                f"move {home.key} away and run again with a new enrollment code",
            ) from None
    key = generate_terminal_key()
    save_private_key(key, home.key)
    return key, True


def make_csr(key: PrivateKey, name: str = "mkp terminal") -> str:
    """A PEM CSR for the terminal key: the public key plus a signature proving we hold the private one."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64] or "mkp terminal")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def normalize_code(code: str) -> str:
    """People type codes: accept any case, spaces and dashes; refuse a wrong length before any network."""
    try:
        return normalize_one_time_code(code)
    except InvalidId:
        raise ProvisionError(
            "bad_code_format",
            f"{code!r} is not an enrollment code",
            "type the 16 letters and digits the operator gave you, e.g. ABCD-EFGH-JKMN-PQRS",
        ) from None


# --- enrollment ----------------------------------------------------------------------------------

ENROLL_REFUSALS: dict[str, tuple[str, str]] = {
    "unknown_code": (
        "the enrollment code is wrong",
        "check the code letter by letter, or ask the operator for a new one",
    ),
    "code_used": (
        "the enrollment code was already used by another terminal",
        "ask the operator for a new code (mkp-admin terminal enroll)",
    ),
    "code_expired": (
        "the enrollment code has expired",
        "ask the operator for a new code (mkp-admin terminal enroll)",
    ),
    "terminal_revoked": ("the terminal for this code has been revoked", "ask the operator for a new code"),
    "invalid_csr": (
        "the server refused this terminal's key",
        "move terminal.key out of the home folder and run again with a new code",
    ),
}


@dataclass(frozen=True)
class Enrollment:
    terminal_id: str
    certificate_pem: str
    ca_pem: str
    server_time: datetime | None


def unreachable(server: str, e: Exception) -> ProvisionError:
    return ProvisionError(
        "server_unreachable",
        str(e) or f"cannot reach the server at {server}",
        f"check the network cable or Wi-Fi and the server address {server}",
    )


def enroll(server: str, code: str, key: PrivateKey, name: str = "mkp terminal") -> Enrollment:
    """Send the code and a CSR; check that the certificate that comes back is for our key."""
    client = ApiClient(server)
    try:
        answer = client.request(
            "POST", "/v1/enroll", {"code": normalize_code(code), "csr": make_csr(key, name)}
        )
    except Unreachable as e:
        raise unreachable(server, e) from None
    except ApiError as e:
        message, fix = ENROLL_REFUSALS.get(
            e.code, (f"the server refused enrollment: {e.message}", "show this line to the operator")
        )
        raise ProvisionError(e.code, message, fix) from None
    try:
        cert = x509.load_pem_x509_certificate(answer["certificate"].encode())
        ca = x509.load_pem_x509_certificate(answer["ca_certificate"].encode())
        cert.verify_directly_issued_by(ca)
        ok = key_fingerprint(cert.public_key()) == key_fingerprint(key)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError, InvalidSignature) as e:
        raise ProvisionError(
            "bad_certificate",
            f"the server's answer holds no valid certificate: {e}",
            "show this line to the operator",
        ) from None
    if not ok:
        raise ProvisionError(
            "bad_certificate",
            "the certificate from the server is not for this terminal's key",
            "show this line to the operator",
        )
    return Enrollment(
        str(answer["terminal_id"]),
        answer["certificate"],
        answer["ca_certificate"],
        parse_time(answer.get("server_time")),
    )


def save_enrollment(home: Home, enrollment: Enrollment) -> None:
    """Keep the terminal and CA certificates next to the key."""
    write_atomic(home.certificate, enrollment.certificate_pem.encode())
    write_atomic(home.ca, enrollment.ca_pem.encode())


def enrolled_terminal_id(home: Home) -> str | None:
    """The terminal id if this HOME is already enrolled (certificate, key and agent.toml agree), else None."""
    if not (home.certificate.exists() and home.key.exists()):
        return None
    terminal_id = read_agent_toml(home).get("terminal", {}).get("id")
    try:
        cert = x509.load_pem_x509_certificate(home.certificate.read_bytes())
        same_key = key_fingerprint(cert.public_key()) == key_fingerprint(load_private_key(home.key))  # type: ignore[arg-type]
    except (OSError, ValueError, TypeError):
        return None
    return terminal_id if same_key and isinstance(terminal_id, str) and terminal_id else None


# --- small helpers -------------------------------------------------------------------------------


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time from the server as an aware UTC datetime (None if absent or malformed)."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
