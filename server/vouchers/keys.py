"""The server's voucher signing keys: Ed25519, the private half a 0600 file, the public half published.

Why files and a table: every server worker and host signs with the same key, so the private key
lives where the card-challenge key does (``secrets_dir``, shared by the hosts, 0600 in a 0700
folder, never logged or sent anywhere), while what terminals must know (key id, public key, from
when it signs, when it was retired, whether it was withdrawn) is a row every worker reads the same.

Rotation retires the signing key at that moment (its vouchers stay good until they expire) and
starts a new one; withdrawal makes a leaked key verify nothing, here and, after their next
download of the trust list, on every terminal. With no usable key, the first voucher makes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import Connection, func, insert, select, update

from mkp_core.errors import Conflict, NotFound
from mkp_core.keyring import KeyRing, RingKey, key_id_of, load_public_key
from mkp_core.voucher import generate_voucher_key
from server.db.engine import lock_key
from server.files import folder_lock, private_dir, write_private_atomic
from server.vouchers.tables import voucher_keys, vouchers

KEY_FOLDER = "voucher-keys"


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private_key: ed25519.Ed25519PrivateKey
    valid_from: datetime  # what it signs claims no earlier a time (whole seconds)


def _key_path(secrets_dir: str | Path, key_id: str) -> Path:
    return Path(secrets_dir) / KEY_FOLDER / f"{key_id}.pem"


def _write_key(secrets_dir: str | Path, key: ed25519.Ed25519PrivateKey) -> str:
    """Keep the private key (PKCS#8 PEM, 0600) and return its id; the file appears whole or not at all."""
    key_id = key_id_of(key.public_key())
    folder = private_dir(Path(secrets_dir) / KEY_FOLDER)
    with folder_lock(folder):
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_private_atomic(_key_path(secrets_dir, key_id), pem)
    return key_id


_LOADED: dict[tuple[str, str], ed25519.Ed25519PrivateKey] = {}


def load_private(secrets_dir: str | Path, key_id: str) -> ed25519.Ed25519PrivateKey:
    """The private key of ``key_id`` from its file (read once per process); refused if others can read it."""
    cached = _LOADED.get((str(secrets_dir), key_id))
    if cached is not None:
        return cached
    path = _key_path(secrets_dir, key_id)
    if not path.exists():
        raise Conflict(
            "voucher_key_missing",
            f"the private file of voucher key {key_id} is not in the secrets folder: "
            "copy the folder from the other server host, or rotate the key",
        )
    if path.stat().st_mode & 0o077:
        raise PermissionError(f"{path} must be readable by its owner only (chmod 600)")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey) or key_id_of(key.public_key()) != key_id:
        raise Conflict("voucher_key_missing", f"{path} does not hold voucher key {key_id}")
    _LOADED[(str(secrets_dir), key_id)] = key
    return key


def _rows(conn: Connection) -> list[Any]:
    return list(conn.execute(select(voucher_keys).order_by(voucher_keys.c.valid_from, voucher_keys.c.key_id)))


def _view(row: Any) -> dict[str, Any]:
    status = "withdrawn" if row.withdrawn_at else "retired" if row.retired_at else "signing"
    return {
        "key_id": row.key_id,
        "status": status,
        "valid_from": row.valid_from,
        "retired_at": row.retired_at,
        "withdrawn_at": row.withdrawn_at,
        "withdraw_reason": row.withdraw_reason,
    }


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    return [_view(r) for r in _rows(conn)]


def rotate(
    conn: Connection, secrets_dir: str | Path, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """Retire the signing key now and start a new one; the new key's row.

    Vouchers and trust lists carry whole seconds: the old key retires at the next whole second
    and the new one signs from this one, so what either signed in the second of the rotation
    verifies on a terminal too (for that second both keys are good; only the new one signs).
    """
    now = now or datetime.now(UTC)
    start = now.replace(microsecond=0)
    retire = start + timedelta(seconds=1) if now.microsecond else start
    lock_key(conn, "voucher-keys")
    key = generate_voucher_key()
    key_id = _write_key(secrets_dir, key)
    conn.execute(
        update(voucher_keys)
        .where(voucher_keys.c.retired_at.is_(None), voucher_keys.c.withdrawn_at.is_(None))
        .values(retired_at=retire)
    )
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    conn.execute(
        insert(voucher_keys).values(
            key_id=key_id, public_key_pem=pem.decode(), valid_from=start, created_by=actor
        )
    )
    row = conn.execute(select(voucher_keys).where(voucher_keys.c.key_id == key_id)).one()
    return _view(row)


def withdraw(
    conn: Connection, key_id: str, reason: str | None, now: datetime | None = None
) -> dict[str, Any]:
    """Make ``key_id`` verify nothing (a leaked key); a withdrawn key stays withdrawn."""
    now = now or datetime.now(UTC)
    row = conn.execute(select(voucher_keys).where(voucher_keys.c.key_id == key_id)).first()
    if row is None:
        raise NotFound("unknown_voucher_key", f"no voucher key {key_id}")
    if row.withdrawn_at is None:
        conn.execute(
            update(voucher_keys)
            .where(voucher_keys.c.key_id == key_id)
            .values(withdrawn_at=now, withdraw_reason=reason, retired_at=row.retired_at or now)
        )
    view = _view(conn.execute(select(voucher_keys).where(voucher_keys.c.key_id == key_id)).one())
    count, points = _outstanding(conn, key_id)
    return {**view, "outstanding": count, "outstanding_points": points}


def _outstanding(conn: Connection, key_id: str) -> tuple[int, int]:
    """Vouchers of this key not yet used, voided or expired, and their points: to void (their
    points go back) and reprint for whoever brings one (a new serial under a good key)."""
    count, points = conn.execute(
        select(func.count(), func.coalesce(func.sum(vouchers.c.amount), 0))
        .select_from(vouchers)
        .where(vouchers.c.key_id == key_id, vouchers.c.status.in_(("issued", "printed")))
    ).one()
    return int(count), int(points)


def is_withdrawn(conn: Connection, key_id: str) -> bool:
    """True if ``key_id`` was withdrawn; ``unknown_voucher_key`` if there is no such key."""
    row = conn.execute(select(voucher_keys.c.withdrawn_at).where(voucher_keys.c.key_id == key_id)).first()
    if row is None:
        raise NotFound("unknown_voucher_key", f"no voucher key {key_id}")
    return row.withdrawn_at is not None


def signing_key(
    conn: Connection, secrets_dir: str | Path, actor: str, now: datetime | None = None
) -> SigningKey:
    """The key new vouchers are signed with (made now if there is none that may sign).

    ``now``: when the vouchers about to be signed are issued; a key made for them signs from
    then (made a moment later, it would claim to postdate them: ``voucher_before_key``). Two
    workers making the first key at once take turns on a lock; the second finds the first's.
    """
    key_id = _signing_key_id(conn)
    if key_id is None:
        lock_key(conn, "voucher-keys")
        key_id = _signing_key_id(conn) or rotate(conn, secrets_dir, actor, now)["key_id"]
    valid_from = conn.execute(
        select(voucher_keys.c.valid_from).where(voucher_keys.c.key_id == key_id)
    ).scalar_one()
    return SigningKey(key_id, load_private(secrets_dir, key_id), valid_from)


def _signing_key_id(conn: Connection) -> str | None:
    return conn.execute(
        select(voucher_keys.c.key_id)
        .where(voucher_keys.c.retired_at.is_(None), voucher_keys.c.withdrawn_at.is_(None))
        .order_by(voucher_keys.c.valid_from.desc())
    ).scalar()


def ring(conn: Connection) -> KeyRing:
    """Every voucher key as terminals trust it: retired keys with their time, withdrawn ids apart."""
    rows = _rows(conn)
    keys = [RingKey(load_public_key(r.public_key_pem), r.retired_at, valid_from=r.valid_from) for r in rows]
    return KeyRing(keys, withdrawn=[r.key_id for r in rows if r.withdrawn_at is not None])


def published(conn: Connection) -> dict[str, Any]:
    """The trust list's ``voucher_keys``: the ring's JSON form (key id, PEM, valid from, retired; withdrawn ids)."""
    return ring(conn).to_dict()
