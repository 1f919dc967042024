"""The CRL store: a verified JPKI CRL, held compactly so a kiosk can ask "revoked?" in microseconds.

J-LIS's user-authentication CRL lists on the order of a million serials and is fetched once a
day. A million ``RevokedCertificate`` objects, or even a list of a million Python ints (~36 MB),
is too much for a kiosk PC, so the store keeps the serials as a sorted ``array('Q')`` of their low 64 bits
and answers with :func:`bisect.bisect_left`. Serials of 65–160 bits (RFC 5280 allows 20 octets)
add two parallel arrays with the high bits; rows are sorted by the low word first, so one bisect
still finds them. Serials that no conforming CA makes (negative, over 20 octets) go into a small set.

Parsing and the signature check are ``cryptography``'s. Iterating its CRL object reads a million
serials in ~0.6 s and retains nothing, so no entry is parsed here. The signature is verified
over the tbsCertList bytes as received (sliced, not copied), not over the library's re-encoding
of them: see ``mkp_core.trust._verify_crl_signature`` and ``bench/crl.py``.

Deltas: :meth:`CrlStore.apply_delta` lays a delta CRL (X.509 deltaCRLIndicator) over a full one
without copying the full list: the delta's entries go into an overlay dict (revoked, or released
by reason ``removeFromCRL``) and its dates and CRL number become the store's.
"""

from __future__ import annotations

import os
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding

from mkp_core.errors import FixedCodeError
from mkp_core.trust import Anchor, TrustStore, utc_instant

__all__ = [
    "CLOCK_SKEW",
    "CrlDeltaError",
    "CrlError",
    "CrlFormatError",
    "CrlSignatureError",
    "CrlStore",
    "CrlUnknownIssuerError",
    "CrlUnsupportedError",
    "download_entries",
    "load_current",
]

#: A CRL whose thisUpdate is at most this far in the future still counts: kiosk clocks drift.
CLOCK_SKEW = timedelta(minutes=5)

_U64 = 1 << 64
_U160 = 1 << 160
_MASK64 = _U64 - 1
_BUCKET_MIN = 1 << 16  # below this many serials, one sorted() is cheap enough

_Extension = TypeVar("_Extension", bound=x509.ExtensionType)


class CrlError(FixedCodeError, ValueError):
    """A CRL was refused; the message names the source and says why, in one line."""

    code = "invalid_crl"


class CrlFormatError(CrlError):
    """The bytes are not a well-formed X.509 CRL."""


class CrlSignatureError(CrlError):
    """The CRL is not signed by any configured trust anchor (foreign CA or tampered)."""

    code = "untrusted_crl"


class CrlUnknownIssuerError(CrlSignatureError):
    """The CRL's issuer is no configured trust anchor at all (a CRL of another CA)."""

    code = "unknown_crl_issuer"


class CrlUnsupportedError(CrlError):
    """A well-formed CRL of a kind the store does not handle (indirect or partial CRL)."""

    code = "unsupported_crl"


class CrlDeltaError(CrlError):
    """A delta CRL that cannot be applied to the full CRL in the store."""

    code = "bad_delta_crl"


class _SerialIndex:
    """Sorted serial numbers without one Python object per serial."""

    __slots__ = ("_lo", "_hi1", "_hi2", "_odd", "count", "nbytes")

    def __init__(
        self, small: array[int], big: tuple[array[int], array[int], array[int]], odd: set[int]
    ) -> None:
        """``small``: serials < 2**64; ``big``: (low, middle, top) 64-bit words of the others.

        The input arrays are emptied while sorting, so the serials are never held twice.
        """
        self.count = len(small) + len(big[0]) + len(odd)
        self._odd = odd
        if not big[0]:
            self._lo = _sorted(small)
            self._hi1 = self._hi2 = None
        else:
            zeros = bytes(8 * len(small))
            lo, hi1, hi2 = small, array("Q", zeros), array("Q", zeros)
            del zeros
            for column, words in zip((lo, hi1, hi2), big, strict=True):
                column.extend(words)
                del words[:]
            self._lo, self._hi1, self._hi2 = _sorted_wide(lo, hi1, hi2)
        self.nbytes = sum(a.itemsize * len(a) for a in (self._lo, self._hi1, self._hi2) if a is not None)

    def __contains__(self, serial: int) -> bool:
        lo = self._lo
        if 0 <= serial < _U160:
            key = serial & _MASK64
            i = bisect_left(lo, key)
            if i == len(lo) or lo[i] != key:
                return False
            hi1, hi2, n = self._hi1, self._hi2, len(lo)
            if hi1 is None or hi2 is None:
                return serial < _U64
            h1, h2 = (serial >> 64) & _MASK64, serial >> 128
            while i < n and lo[i] == key:
                if hi1[i] == h1 and hi2[i] == h2:
                    return True
                i += 1
            return False
        return serial in self._odd


def _pivots(values: array[int]) -> list[int]:
    """Up to 15 pivots from a sample, splitting ``values`` into roughly equal buckets."""
    if len(values) <= _BUCKET_MIN:
        return []
    return sorted(values[i] for i in range(0, len(values), max(1, len(values) // 1024)))[64::64]


def _sorted(values: array[int]) -> array[int]:
    """``values`` sorted (and emptied), never as one list of a million Python ints.

    ``sorted()`` of a million serials makes ~36 MB of ints at once; sixteen buckets cut that
    peak to a sixteenth for ~0.3 s more. Skewed input only makes the buckets uneven.
    """
    pivots = _pivots(values)
    buckets = [array("Q") for _ in range(len(pivots) + 1)]
    appends = [b.append for b in buckets]
    for v in values:
        appends[bisect_right(pivots, v)](v)
    del values[:], appends
    out = array("Q")
    while buckets:
        out.extend(sorted(buckets.pop(0)))
    return out


def _sorted_wide(
    lo: array[int], hi1: array[int], hi2: array[int]
) -> tuple[array[int], array[int], array[int]]:
    """Rows (lo, hi1, hi2) sorted by (lo, hi2, hi1), bucketed like :func:`_sorted`.

    Only equal ``lo`` need the high words in order (they are scanned, not bisected), so any
    order among them would do; one integer key per row keeps it a single sort.
    """
    pivots = _pivots(lo)
    buckets = [(array("Q"), array("Q"), array("Q")) for _ in range(len(pivots) + 1)]
    for v, h1, h2 in zip(lo, hi1, hi2, strict=True):
        b_lo, b_h1, b_h2 = buckets[bisect_right(pivots, v)]
        b_lo.append(v)
        b_h1.append(h1)
        b_h2.append(h2)
    del lo[:], hi1[:], hi2[:]
    out = array("Q"), array("Q"), array("Q")
    while buckets:
        keys = sorted((v << 128) | (h2 << 64) | h1 for v, h1, h2 in zip(*buckets.pop(0), strict=True))
        out[0].extend(k >> 128 for k in keys)
        out[1].extend(k & _MASK64 for k in keys)
        out[2].extend((k >> 64) & _MASK64 for k in keys)
    return out


def _read_serials(crl: x509.CertificateRevocationList) -> _SerialIndex:
    """Collect the serials in one pass; entry extensions are never parsed."""
    small, odd = array("Q"), set()
    big = array("Q"), array("Q"), array("Q")
    append_small, (append_lo, append_hi1, append_hi2) = small.append, (b.append for b in big)
    for entry in crl:
        serial = entry.serial_number
        if 0 <= serial < _U64:
            append_small(serial)
        elif _U64 <= serial < _U160:
            append_lo(serial & _MASK64)
            append_hi1((serial >> 64) & _MASK64)
            append_hi2(serial >> 128)
        else:
            odd.add(serial)
    return _SerialIndex(small, big, odd)


def _tbs_span(der: bytes) -> memoryview:
    """The tbsCertList element (header and content) of a DER CRL, without copying it."""

    def header(pos: int) -> tuple[int, int]:  # content start, content length
        n = der[pos + 1]
        if n < 0x80:
            return pos + 2, n
        k = n & 0x7F
        return pos + 2 + k, int.from_bytes(der[pos + 2 : pos + 2 + k], "big")

    tbs_pos, _ = header(0)
    start, length = header(tbs_pos)
    return memoryview(der)[tbs_pos : start + length]


def _parse(data: bytes, label: str) -> tuple[x509.CertificateRevocationList, bytes]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"CRL must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise CrlFormatError(f"{label}: empty, not a CRL")
    try:
        if data[:64].lstrip().startswith(b"-----BEGIN"):
            crl = x509.load_pem_x509_crl(data)
            der = crl.public_bytes(Encoding.DER)
        else:
            crl = x509.load_der_x509_crl(data)
            der = data
        _ = crl.issuer.rfc4514_string(), crl.last_update_utc, crl.next_update_utc, crl.extensions
    except (ValueError, TypeError, x509.InvalidVersion, UnsupportedAlgorithm) as exc:
        raise CrlFormatError(f"{label}: not an X.509 CRL ({len(data)} bytes): {exc}") from None
    return crl, der


def _verify(crl: x509.CertificateRevocationList, der: bytes, trust: TrustStore, label: str) -> Anchor:
    with _tbs_span(der) as tbs:
        anchor = trust.issuer_of_crl(crl, tbs)
    if anchor is None:
        issuer = crl.issuer.rfc4514_string()
        if trust.named(crl.issuer):
            raise CrlSignatureError(
                f"{label}: signature does not verify with any trust anchor named {issuer!r} "
                "(foreign CA with the same name, or tampered CRL)"
            )
        raise CrlUnknownIssuerError(f"{label}: issuer {issuer!r} is not a configured trust anchor")
    return anchor


def _ext(crl: x509.CertificateRevocationList, cls: type[_Extension]) -> _Extension | None:
    try:
        return crl.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _refuse_partial(crl: x509.CertificateRevocationList, label: str) -> None:
    idp = _ext(crl, x509.IssuingDistributionPoint)
    if idp is None:
        return
    if idp.indirect_crl:
        raise CrlUnsupportedError(f"{label}: indirect CRLs are not supported")
    if idp.only_some_reasons or idp.only_contains_ca_certs or idp.only_contains_attribute_certs:
        raise CrlUnsupportedError(f"{label}: a partial CRL (issuingDistributionPoint restricts its scope)")


class CrlStore:
    """A verified CRL of one trust anchor: serial lookups, dates, CRL number, freshness."""

    def __init__(
        self,
        *,
        index: _SerialIndex,
        anchor: Anchor,
        this_update: datetime,
        next_update: datetime | None,
        crl_number: int | None,
        full_crl_number: int | None,
        source: str,
        changes: dict[int, bool] | None = None,
        count: int | None = None,
    ) -> None:
        self._index = index
        self._changes = changes or {}
        self.anchor = anchor
        self.this_update = this_update
        self.next_update = next_update
        self.crl_number = crl_number
        self.full_crl_number = full_crl_number
        self.source = source
        self.count = index.count if count is None else count

    @classmethod
    def load(cls, data: bytes, trust: TrustStore, path: str | os.PathLike[str] | None = None) -> CrlStore:
        """Verify and index a full CRL (PEM or DER).

        ``path`` only names the source in error messages and ``repr``; the bytes are the input.
        Raises :class:`CrlFormatError` (garbage), :class:`CrlSignatureError` (not signed by an
        anchor), :class:`CrlUnsupportedError`, or :class:`CrlDeltaError` when handed a delta.
        """
        label = os.fspath(path) if path is not None else "CRL"
        crl, der = _parse(data, label)
        delta = _ext(crl, x509.DeltaCRLIndicator)
        if delta is not None:
            raise CrlDeltaError(
                f"{label}: a delta CRL (base CRL number {delta.crl_number}); load the full CRL, then apply_delta"
            )
        anchor = _verify(crl, der, trust, label)
        _refuse_partial(crl, label)
        try:
            index = _read_serials(crl)
        except (ValueError, TypeError) as exc:
            raise CrlFormatError(f"{label}: malformed revokedCertificates: {exc}") from None
        number = _ext(crl, x509.CRLNumber)
        crl_number = number.crl_number if number is not None else None
        return cls(
            index=index,
            anchor=anchor,
            this_update=crl.last_update_utc,
            next_update=crl.next_update_utc,
            crl_number=crl_number,
            full_crl_number=crl_number,
            source=label,
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], trust: TrustStore) -> CrlStore:
        """Read ``path`` and :meth:`load` it; an unreadable file is a :class:`CrlError`."""
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise CrlError(f"{os.fspath(path)}: cannot read CRL ({exc.strerror or exc})") from None
        return cls.load(data, trust, path)

    def apply_delta(
        self, data: bytes, trust: TrustStore, path: str | os.PathLike[str] | None = None
    ) -> CrlStore:
        """Return a new store: this full CRL with a delta CRL laid over it (this one is unchanged).

        The delta must be signed by the same anchor, name a base CRL number no newer than the
        full CRL held, and carry a CRL number newer than the store's current one (no replays).
        """
        label = os.fspath(path) if path is not None else "delta CRL"
        crl, der = _parse(data, label)
        indicator = _ext(crl, x509.DeltaCRLIndicator)
        if indicator is None:
            raise CrlDeltaError(f"{label}: not a delta CRL (no deltaCRLIndicator); load it as a full CRL")
        anchor = _verify(crl, der, trust, label)
        if anchor.fingerprint != self.issuer_fingerprint:
            raise CrlDeltaError(f"{label}: signed by another CA than the full CRL in the store")
        _refuse_partial(crl, label)
        number_ext = _ext(crl, x509.CRLNumber)
        if number_ext is None:
            raise CrlDeltaError(f"{label}: delta CRL without a CRL number")
        number, base = number_ext.crl_number, indicator.crl_number
        if self.full_crl_number is None or base > self.full_crl_number:
            raise CrlDeltaError(
                f"{label}: needs full CRL number {base} or newer; the store holds number {self.full_crl_number}"
            )
        if self.crl_number is not None and number <= self.crl_number:
            raise CrlDeltaError(
                f"{label}: CRL number {number} is not newer than the store's {self.crl_number}"
            )
        changes = dict(self._changes)
        try:
            for entry in crl:
                try:
                    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
                except x509.ExtensionNotFound:
                    reason = None
                changes[entry.serial_number] = reason is not x509.ReasonFlags.remove_from_crl
        except (ValueError, TypeError) as exc:
            raise CrlFormatError(f"{label}: malformed entry: {exc}") from None
        count = self._index.count
        for serial, revoked in changes.items():
            in_full = serial in self._index
            count += (revoked and not in_full) - (not revoked and in_full)
        return CrlStore(
            index=self._index,
            anchor=self.anchor,
            this_update=crl.last_update_utc,
            next_update=crl.next_update_utc,
            crl_number=number,
            full_crl_number=self.full_crl_number,
            source=f"{self.source} + {label}",
            changes=changes,
            count=count,
        )

    @property
    def issuer_fingerprint(self) -> str:
        """SHA-256 (hex) of the trust anchor whose key signed this CRL."""
        return self.anchor.fingerprint

    @property
    def nbytes(self) -> int:
        """Bytes held by the serial arrays (the bulk of the store's memory)."""
        return self._index.nbytes

    def is_revoked(self, serial: int) -> bool:
        """True if ``serial`` is on the CRL (after any delta)."""
        if self._changes:
            revoked = self._changes.get(serial)
            if revoked is not None:
                return revoked
        return serial in self._index

    __contains__ = is_revoked

    def stale_reason(self, at: datetime | None = None, max_age: timedelta = timedelta(days=2)) -> str | None:
        """Why this CRL may not be relied on at ``at``, or None if it is fresh.

        Fresh means: thisUpdate not in the future (beyond :data:`CLOCK_SKEW`), ``at`` not past
        nextUpdate, and thisUpdate at most ``max_age`` before ``at`` (a CA that sets a far
        nextUpdate must not keep a kiosk on week-old revocation data).
        """
        when = utc_instant(at)
        if self.this_update - CLOCK_SKEW > when:
            return f"CRL thisUpdate {self.this_update.isoformat()} is in the future (check the clock)"
        if self.next_update is not None and when > self.next_update:
            return f"CRL past its nextUpdate {self.next_update.isoformat()}"
        if when - self.this_update > max_age:
            return f"CRL of {self.this_update.isoformat()} is older than the maximum age {max_age}"
        return None

    def is_fresh(self, at: datetime | None = None, max_age: timedelta = timedelta(days=2)) -> bool:
        """True if the CRL may be relied on at ``at`` (see :meth:`stale_reason`)."""
        return self.stale_reason(at, max_age) is None

    def __repr__(self) -> str:
        return (
            f"CrlStore({self.source!r}, number={self.crl_number}, count={self.count}, "
            f"this_update={self.this_update:%Y-%m-%dT%H:%MZ}, issuer={self.issuer_fingerprint[:16]}…)"
        )


def download_entries(data: object) -> list[tuple[str, str | None, bytes]]:
    """The (kind, issuer fingerprint, PEM) rows of a terminal's CRL download (``wire.CrlDownload``:
    per CA its full list, then the deltas laid on it); [] for anything else."""
    if not isinstance(data, dict):
        return []
    pems = data.get("pem")
    if isinstance(pems, list):
        infos = data.get("crls")
        if not isinstance(infos, list) or len(infos) != len(pems):
            infos = [{}] * len(pems)
        return [
            (str(i.get("kind", "full")), i.get("issuer_fingerprint"), str(pem).encode())
            for i, pem in zip(infos, pems, strict=True)
        ]
    if isinstance(data.get("crl"), str):  # the first version's single CRL
        return [("full", None, data["crl"].encode())]
    return []


def load_current(
    entries: Iterable[tuple[str, str | None, bytes]], trust: TrustStore, source: str = "CRL"
) -> list[CrlStore]:
    """The CRLs of several CA generations, each full list with the deltas laid on it, in order.

    ``entries``: (kind, issuer fingerprint, PEM or DER) as the server hands them out (per CA its
    newest full CRL, then its deltas). A delta whose issuer has no full list yet starts nothing:
    it is loaded as a full list and refused if it is not one. Errors are :class:`CrlError`.
    """
    stores: dict[str, CrlStore] = {}
    for n, (kind, issuer, data) in enumerate(entries, 1):
        label = f"{source}#{n}"
        if kind == "delta" and issuer in stores:
            stores[issuer] = stores[issuer].apply_delta(data, trust, label)
        else:
            store = CrlStore.load(data, trust, label)
            stores[store.issuer_fingerprint] = store
    return list(stores.values())
