"""The test PKI shaped like J-LIS's: the one place that builds CA certificates, cards' certificates and CRLs.

The real JPKI user-authentication CA is a self-signed RSA-2048 root signing with
sha256WithRSAEncryption under the subject ``C=JP, O=JPKI, OU=JPKI for user authentication,
OU=Japan Agency for Local Authority Information Systems``. A card's user-authentication
certificate is ``C=JP, CN=<opaque id>``, RSA-2048, digitalSignature only, five years, and finds
its CRL by directory name. J-LIS publishes a full CRL daily. The builders below make the same
shapes, so the certificate check and the CRL store run unchanged against them.

Every function is pure (no files, no state): the file-backed CA (:mod:`.ca`), the virtual cards,
the tests and the benchmarks all call them, and each test asks for an odd artefact (no key usage,
a CA flag, a delta CRL, PSS, an Ed25519 CA) through a keyword instead of a builder of its own.
Every CA certificate made here carries a policy notice saying it is a test key.
"""

from __future__ import annotations

import datetime as dt
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

#: What may sign here: J-LIS uses RSA; the others exercise the checks' other code paths.
CAKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
CAPublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

JLIS_UNIT = "Japan Agency for Local Authority Information Systems"
TEST_NOTICE = "TEST CA made by mkp (drivers/card/virtual). Not a J-LIS key. Never trust it in production."
#: A user-authentication certificate's validity, in years (J-LIS: five).
CERT_YEARS = 5
#: How long a CRL stays current (J-LIS publishes daily).
CRL_VALIDITY = dt.timedelta(days=1)


def jpki_ca_name(second_unit: str = JLIS_UNIT) -> x509.Name:
    """The JPKI user-authentication CA's DN; another ``second_unit`` names a look-alike test CA."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for user authentication"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, second_unit),
        ]
    )


#: J-LIS's own DN, letter for letter (every generation of its CA shares it).
JPKI_AUTH_CA_NAME = jpki_ca_name()


def utcnow() -> dt.datetime:
    """Now, aware, in whole seconds (what certificates and CRLs can hold)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def add_years(t: dt.datetime, years: int) -> dt.datetime:
    """``t`` moved by whole calendar years; 29 February becomes the 28th in other years."""
    try:
        return t.replace(year=t.year + years)
    except ValueError:
        return t.replace(year=t.year + years, day=28)


def opaque_id() -> str:
    """A random common name: the certificate says nothing about its holder."""
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(16))


def new_rsa_key() -> rsa.RSAPrivateKey:
    """An RSA-2048 key with e = 65537, as on the card and in J-LIS's CA."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_usage_with(**flags: bool) -> x509.KeyUsage:
    """A KeyUsage with the named bits set (``digital_signature=True``) and every other bit clear."""
    bits = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    return x509.KeyUsage(**{**bits, **flags})


AUTH_KEY_USAGE = key_usage_with(digital_signature=True)
CA_KEY_USAGE = key_usage_with(key_cert_sign=True, crl_sign=True)


def auth_subject(common_name: str | None = None) -> x509.Name:
    """A card certificate's subject: ``C=JP, CN=<common_name or a random opaque id>``."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name or opaque_id()),
        ]
    )


def _issuer_key(ca: x509.Certificate) -> CAPublicKey:
    """The CA certificate's key, as one of the kinds that may sign here."""
    key = ca.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise TypeError(f"a CA key must be RSA, EC or Ed25519, not {type(key).__name__}")
    return key


def _hash_for(key: CAKey) -> hashes.SHA256 | None:
    """SHA-256 as J-LIS signs; Ed25519 hashes internally and takes none."""
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def build_ca_certificate(
    key: CAKey,
    *,
    name: x509.Name = JPKI_AUTH_CA_NAME,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    notice: str | None = TEST_NOTICE,
) -> x509.Certificate:
    """A self-signed CA certificate: CA flag and keyCertSign + cRLSign (critical), SKI, test notice.

    The default validity runs from six years ago for sixteen years, so that an expired card
    certificate (five years) still lies inside its CA's lifetime, as it would with J-LIS.
    """
    now = utcnow()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or add_years(now, -6))
        .not_valid_after(not_after or add_years(now, 10))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if notice is not None:
        policy = x509.PolicyInformation(
            x509.oid.CertificatePoliciesOID.ANY_POLICY, [x509.UserNotice(None, notice)]
        )
        builder = builder.add_extension(x509.CertificatePolicies([policy]), critical=False)
    return builder.sign(key, _hash_for(key))


def build_auth_certificate(
    ca: x509.Certificate,
    ca_key: CAKey,
    public_key: CertificatePublicKeyTypes,
    *,
    serial: int | None = None,
    subject: x509.Name | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key_usage: x509.KeyUsage | None = AUTH_KEY_USAGE,
    is_ca: bool = False,
) -> x509.Certificate:
    """A user-authentication certificate for ``public_key``, issued by ``ca`` and signed with ``ca_key``.

    Defaults are a card's: random serial, :func:`auth_subject`, valid from a minute ago for
    :data:`CERT_YEARS`, digitalSignature only, the CRL found by the CA's directory name.
    Knobs for the checks' tests: ``key_usage=None`` leaves the extension out; ``is_ca`` adds a
    CA flag that no user certificate may carry.
    """
    nb = not_before or utcnow() - dt.timedelta(minutes=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject or auth_subject())
        .issuer_name(ca.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number() if serial is None else serial)
        .not_valid_before(nb)
        .not_valid_after(not_after or add_years(nb, CERT_YEARS))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(_issuer_key(ca)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            # like J-LIS: the CRL is found by directory name, not by URL
            x509.CRLDistributionPoints(
                [x509.DistributionPoint(None, None, None, [x509.DirectoryName(ca.subject)])]
            ),
            critical=False,
        )
    )
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    if is_ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    return builder.sign(ca_key, _hash_for(ca_key))


@dataclass(frozen=True, slots=True)
class Revocation:
    """One CRL entry. ``revoked_at`` defaults to the CRL's thisUpdate; the rest is left out if None."""

    serial: int
    revoked_at: dt.datetime | None = None
    reason: x509.ReasonFlags | None = None
    invalid_since: dt.datetime | None = None


def _entry_template(
    revoked_at: dt.datetime, reason: x509.ReasonFlags | None, invalid_since: dt.datetime | None
) -> x509.RevokedCertificateBuilder:
    builder = x509.RevokedCertificateBuilder().revocation_date(revoked_at)
    if reason is not None:
        builder = builder.add_extension(x509.CRLReason(reason), critical=False)
    if invalid_since is not None:
        builder = builder.add_extension(x509.InvalidityDate(invalid_since), critical=False)
    return builder


def build_crl(
    ca: x509.Certificate,
    ca_key: CAKey,
    revoked: Iterable[int | Revocation] = (),
    *,
    this_update: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
    number: int | None = 1,
    delta_base: int | None = None,
    critical_extensions: Iterable[x509.ExtensionType] = (),
    pss: bool = False,
) -> x509.CertificateRevocationList:
    """A CRL of ``ca`` signed with ``ca_key``, listing ``revoked``: serials, or :class:`Revocation` entries.

    Defaults are J-LIS's daily full CRL: thisUpdate now, nextUpdate a day later, CRL number 1
    (``None`` leaves it out), authorityKeyIdentifier. ``delta_base`` makes it a delta CRL on that
    base number; ``critical_extensions`` go in as critical (a reader must understand or refuse
    them); ``pss`` signs with RSA-PSS instead of PKCS#1 v1.5.

    Built in linear time, so that a million entries (the benchmark) take tens of seconds and not
    hours: the builder's ``add_revoked_certificate`` copies the whole list on every call, so the
    entries go in at once; entries that share a date and reason share one half-made entry builder.
    """
    tu = this_update or utcnow()
    templates: dict[
        tuple[dt.datetime, x509.ReasonFlags | None, dt.datetime | None], x509.RevokedCertificateBuilder
    ] = {}
    entries = []
    for item in revoked:
        entry = item if isinstance(item, Revocation) else Revocation(item)
        shape = (entry.revoked_at or tu, entry.reason, entry.invalid_since)
        template = templates.get(shape)
        if template is None:
            template = templates[shape] = _entry_template(*shape)
        entries.append(template.serial_number(entry.serial).build())
    builder = (
        x509.CertificateRevocationListBuilder(revoked_certificates=entries)
        .issuer_name(ca.subject)
        .last_update(tu)
        .next_update(next_update or tu + CRL_VALIDITY)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(_issuer_key(ca)), critical=False)
    )
    if number is not None:
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
    if delta_base is not None:
        builder = builder.add_extension(x509.DeltaCRLIndicator(delta_base), critical=True)
    for extension in critical_extensions:
        builder = builder.add_extension(extension, critical=True)
    rsa_padding = padding.PSS(padding.MGF1(hashes.SHA256()), 32) if pss else None
    return builder.sign(ca_key, _hash_for(ca_key), rsa_padding=rsa_padding)
