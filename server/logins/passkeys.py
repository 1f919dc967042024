"""The passkeys of a login: WebAuthn credentials kept as id, public key and signature counter.

Only what verifying needs is kept (the ``webauthn`` library does the verifying, in the web
layer); a counter that goes backwards says the key was cloned, and the login is refused.

A person removes their own passkeys (:func:`remove_own_passkey`): another account's key is
missing to them, and the last way to log in of an account without a password stays. A removal
sent twice (a double click) is one removal: :func:`remove_own_passkey_once`, by the form's client
id, in the login's own namespace (``login:<account id>/<client id>``).

A login recovered with a new activation code loses all its passkeys
(:func:`remove_all_passkeys`): the card proved the resident again, but whoever had taken the login
over may have added a passkey of their own, which a new password alone would leave working.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, RowMapping, delete, select, update

from mkp_core.errors import Conflict, NotFound
from mkp_core.ids import validate_client_id
from server.db.engine import lock_key
from server.db.idempotency import once
from server.logins.accounts import account_by_id
from server.logins.tables import login_passkeys


@dataclass(frozen=True)
class Passkey:
    credential_id: str  # base64url
    account: int
    public_key: bytes
    sign_count: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


def _passkey(row: RowMapping) -> Passkey:
    return Passkey(
        row["credential_id"],
        row["account"],
        bytes(row["public_key"]),
        row["sign_count"],
        row["name"],
        row["created_at"],
        row["last_used_at"],
    )


def add_passkey(
    conn: Connection,
    account_id: int,
    credential_id: str,
    public_key: bytes,
    sign_count: int,
    name: str,
    now: datetime | None = None,
) -> Passkey:
    now = now or datetime.now(UTC)
    conn.execute(
        login_passkeys.insert().values(
            credential_id=credential_id,
            account=account_id,
            public_key=public_key,
            sign_count=sign_count,
            name=name[:80],
            created_at=now,
        )
    )
    return Passkey(credential_id, account_id, public_key, sign_count, name[:80], now, None)


def passkeys_of(conn: Connection, account_id: int) -> list[Passkey]:
    rows = conn.execute(
        select(login_passkeys)
        .where(login_passkeys.c.account == account_id)
        .order_by(login_passkeys.c.created_at)
    ).mappings()
    return [_passkey(r) for r in rows]


def find_passkey(conn: Connection, credential_id: str) -> Passkey | None:
    row = (
        conn.execute(select(login_passkeys).where(login_passkeys.c.credential_id == credential_id))
        .mappings()
        .first()
    )
    return _passkey(row) if row else None


def passkey_used(conn: Connection, passkey: Passkey, sign_count: int, now: datetime | None = None) -> None:
    conn.execute(
        update(login_passkeys)
        .where(login_passkeys.c.credential_id == passkey.credential_id)
        .values(sign_count=sign_count, last_used_at=now or datetime.now(UTC))
    )


def remove_passkey(conn: Connection, account_id: int, credential_id: str) -> bool:
    result = conn.execute(
        delete(login_passkeys).where(
            login_passkeys.c.account == account_id, login_passkeys.c.credential_id == credential_id
        )
    )
    return result.rowcount == 1


def own_passkey(conn: Connection, account_id: int, credential_id: str) -> Passkey:
    """``account_id``'s passkey ``credential_id``; another account's is missing (``NotFound``)."""
    found = find_passkey(conn, credential_id)
    if found is None or found.account != account_id:
        raise NotFound("passkey_not_found", "There is no such passkey.")
    return found


def is_last_way_in(conn: Connection, account_id: int) -> bool:
    """Would removing one passkey leave the account no way to log in (no password, one key)?"""
    account = account_by_id(conn, account_id)
    return account is not None and not account.has_password and len(passkeys_of(conn, account_id)) <= 1


def remove_own_passkey(conn: Connection, account_id: int, credential_id: str) -> Passkey:
    """Remove ``account_id``'s passkey ``credential_id``: the removed key.

    Refused: another account's key or none (``passkey_not_found``, as if missing), and the last
    way in of an account without a password (``last_way_to_log_in``). Two removals of one
    account's keys are serialised, so two tabs cannot each take one of its last two keys."""
    lock_key(conn, f"login-passkeys:{account_id}")
    found = own_passkey(conn, account_id, credential_id)
    if is_last_way_in(conn, account_id):
        raise Conflict(
            "last_way_to_log_in",
            "This passkey is your only way to log in: add another passkey before you remove it.",
        )
    remove_passkey(conn, account_id, credential_id)
    return found


def remove_all_passkeys(conn: Connection, account_id: int) -> list[Passkey]:
    """Remove every passkey of ``account_id``, which must have a password (the way in it keeps):
    the removed keys. Serialised with :func:`remove_own_passkey`."""
    lock_key(conn, f"login-passkeys:{account_id}")
    account = account_by_id(conn, account_id)
    if account is None or not account.has_password:
        raise Conflict(
            "last_way_to_log_in", "A login without a password keeps its passkeys: they are its way in."
        )
    removed = passkeys_of(conn, account_id)
    conn.execute(delete(login_passkeys).where(login_passkeys.c.account == account_id))
    return removed


def remove_own_passkey_once(conn: Connection, account_id: int, credential_id: str, client_id: str) -> str:
    """:func:`remove_own_passkey` once for ``client_id``: the removed key's name, the first
    removal's again when the form is sent twice (``invalid_client_id`` for a form without one)."""
    key = f"login:{account_id}/{validate_client_id(client_id)}"
    reply, _ = once(
        conn,
        key,
        "logins.remove_passkey",
        {"passkey": credential_id},
        lambda: {"name": remove_own_passkey(conn, account_id, credential_id).name},
    )
    return str(reply["name"])
