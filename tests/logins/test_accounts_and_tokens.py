"""Login accounts and one-time tokens as the services see them: on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from mkp_core.errors import Conflict
from server import logins
from server.db.engine import read, write
from server.logins.tables import login_accounts, login_tokens

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


def test_a_login_id_is_one_whatever_its_case_or_width(engine: Engine) -> None:
    with write(engine) as conn:
        made = logins.create_account(conn, "resident", "17", "Hanako.Y", PASSWORD)
        for twin in ("hanako.y", "ＨＡＮＡＫＯ.Ｙ"):
            with pytest.raises(Conflict, match="taken"):
                logins.create_account(conn, "resident", "18", twin, PASSWORD)
        assert logins.find_account(conn, "resident", "HANAKO.y") == made
        assert made.login_id == "Hanako.Y"
        # staff and residents are apart: the same ID may be a staff member's
        logins.create_account(conn, "staff", "3", "hanako.y", PASSWORD)


def test_a_login_id_changes_to_one_nobody_else_has(engine: Engine) -> None:
    from server.logins import accounts

    with write(engine) as conn:
        made = logins.create_account(conn, "resident", "17", "hanako.y", PASSWORD)
        logins.create_account(conn, "resident", "18", "taro.k", PASSWORD)
        with pytest.raises(Conflict, match="taken"):
            accounts.change_login_id(conn, made, "ＴＡＲＯ.Ｋ", NOW)
        assert accounts.change_login_id(conn, made, "hanako.y", NOW) == made  # the same: nothing
        cased = accounts.change_login_id(conn, made, "Hanako.Y", NOW)  # its own ID in other case
        moved = accounts.change_login_id(conn, cased, "hanako.umi", NOW)
        assert (moved.id, moved.login_id, moved.login_id_changed_at) == (made.id, "hanako.umi", NOW)
        assert logins.find_account(conn, "resident", "hanako.y") is None
        assert logins.find_account(conn, "resident", "HANAKO.UMI") == moved


def test_only_an_argon2id_hash_of_the_password_is_kept(engine: Engine) -> None:
    with write(engine) as conn:
        logins.create_account(conn, "resident", "17", "hanako", PASSWORD)
    with read(engine) as conn:
        stored = conn.execute(select(login_accounts.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


@pytest.mark.parametrize(
    ("login_id", "password", "code"),
    [
        ("ab", PASSWORD, "invalid_login_id"),
        ("has space", PASSWORD, "invalid_login_id"),
        ("-dash-first", PASSWORD, "invalid_login_id"),
        ("hanako", "short", "weak_password"),
        ("hanako1234", "HANAKO1234", "weak_password"),
    ],
)
def test_a_bad_login_id_or_password_is_refused_and_nothing_is_kept(
    engine: Engine, login_id: str, password: str, code: str
) -> None:
    with write(engine) as conn:
        with pytest.raises(logins.LoginError) as refused:
            logins.create_account(conn, "resident", "17", login_id, password)
        assert refused.value.code == code
        assert conn.execute(select(login_accounts)).first() is None


def test_a_person_has_one_login_of_a_kind(engine: Engine) -> None:
    with write(engine) as conn:
        logins.create_account(conn, "resident", "17", "hanako", PASSWORD)
        with pytest.raises(Conflict) as refused:
            logins.create_account(conn, "resident", "17", "hanako2", PASSWORD)
    assert refused.value.code == "login_exists"


def test_a_token_lets_its_subject_in_once_and_only_for_its_purpose(engine: Engine) -> None:
    with write(engine) as conn:
        token = logins.issue_token(conn, "login_link", "resident", "17", timedelta(minutes=10), NOW)
        assert conn.execute(select(login_tokens.c.token_hash)).scalar_one() != token  # a digest
        assert logins.use_token(conn, "activation", token, NOW) is None
        assert logins.peek_token(conn, "login_link", token, NOW) is not None
        used = logins.use_token(conn, "login_link", token, NOW)
        assert used is not None and (used.kind, used.subject) == ("resident", "17")
        assert logins.use_token(conn, "login_link", token, NOW) is None


def test_a_token_expires_and_a_new_one_can_void_the_old(engine: Engine) -> None:
    with write(engine) as conn:
        old = logins.issue_token(conn, "activation", "resident", "17", timedelta(hours=24), NOW, token="AAAA")
        late = NOW + timedelta(hours=24)
        assert logins.peek_token(conn, "activation", old, late) is None
        logins.void_tokens(conn, "activation", "resident", "17", NOW)
        assert logins.use_token(conn, "activation", old, NOW) is None


def test_removing_all_passkeys_keeps_the_login_a_way_in(engine: Engine) -> None:
    from sqlalchemy import update

    from server.logins import passkeys

    with write(engine) as conn:
        account = logins.create_account(conn, "resident", "17", "hanako", PASSWORD)
        passkeys.add_passkey(conn, account.id, "key-a", b"\x01", 0, "iPhone")
        passkeys.add_passkey(conn, account.id, "key-b", b"\x01", 0, "Pixel")
        removed = passkeys.remove_all_passkeys(conn, account.id)
        assert [k.name for k in removed] == ["iPhone", "Pixel"]
        assert passkeys.passkeys_of(conn, account.id) == []
        passkeys.add_passkey(conn, account.id, "key-c", b"\x01", 0, "iPhone")
        conn.execute(
            update(login_accounts).where(login_accounts.c.id == account.id).values(password_hash=None)
        )
        with pytest.raises(Conflict) as refused:  # its passkeys are its only way in
            passkeys.remove_all_passkeys(conn, account.id)
    assert refused.value.code == "last_way_to_log_in"
