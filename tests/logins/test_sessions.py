"""Sessions and throttled password logins, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from server import logins
from server.db.engine import read, write
from server.logins import sessions, throttling
from server.logins.service import Attempt, log_in_with_password
from server.logins.tables import login_sessions

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
KEY = b"k" * 32


@pytest.fixture
def hanako(engine: Engine) -> logins.Account:
    with write(engine) as conn:
        return logins.create_account(conn, "resident", "17", "hanako", PASSWORD, NOW)


def attempt(login_id: str = "hanako", address: str = "192.0.2.1") -> Attempt:
    return Attempt("resident", login_id, address, "Firefox", KEY)


def test_the_right_password_starts_a_session_kept_as_a_hash(engine: Engine, hanako: logins.Account) -> None:
    token, started = log_in_with_password(engine, attempt("HANAKO"), PASSWORD, NOW)
    assert started.account == hanako
    with read(engine) as conn:
        assert conn.execute(select(login_sessions.c.token_hash)).scalar_one() != token
        assert sessions.session_for(conn, token, NOW) == started


def test_a_wrong_password_and_an_unknown_id_are_told_alike(engine: Engine, hanako: logins.Account) -> None:
    for login_id, password in (("hanako", "wrong password!"), ("nobody", PASSWORD)):
        with pytest.raises(logins.LoginFailed) as refused:
            log_in_with_password(engine, attempt(login_id), password, NOW)
        assert refused.value.code == "login_failed"


def test_five_failures_lock_the_id_until_the_window_ends(engine: Engine, hanako: logins.Account) -> None:
    for _ in range(throttling.PER_LOGIN_ID):
        with pytest.raises(logins.LoginFailed):
            log_in_with_password(engine, attempt(), "wrong password!", NOW)
    later = NOW + timedelta(minutes=5)
    with pytest.raises(logins.LoginThrottled) as throttled:  # even the right one, from elsewhere
        log_in_with_password(engine, attempt(address="198.51.100.7"), PASSWORD, later)
    assert throttled.value.retry_after == 10 * 60
    log_in_with_password(engine, attempt(), PASSWORD, NOW + throttling.WINDOW)


def test_an_address_that_fails_on_many_ids_is_locked_out(engine: Engine, hanako: logins.Account) -> None:
    for n in range(throttling.PER_ADDRESS):
        with pytest.raises(logins.LoginFailed):
            log_in_with_password(engine, attempt(f"guess{n}"), "wrong password!", NOW)
    with pytest.raises(logins.LoginThrottled):
        log_in_with_password(engine, attempt(), PASSWORD, NOW)
    log_in_with_password(engine, attempt(address="198.51.100.7"), PASSWORD, NOW)


def test_a_good_login_forgets_the_ids_failures(engine: Engine, hanako: logins.Account) -> None:
    for _ in range(throttling.PER_LOGIN_ID - 1):
        with pytest.raises(logins.LoginFailed):
            log_in_with_password(engine, attempt(), "wrong password!", NOW)
    log_in_with_password(engine, attempt(), PASSWORD, NOW)
    with pytest.raises(logins.LoginFailed):  # counted from zero again: a failure, not a lock
        log_in_with_password(engine, attempt(), "wrong password!", NOW)


def test_a_session_ends_when_idle_and_at_its_absolute_end(engine: Engine, hanako: logins.Account) -> None:
    policy = sessions.POLICIES["resident"]
    with write(engine) as conn:
        token, _ = sessions.start_session(conn, hanako, "Firefox", NOW)
        assert sessions.session_for(conn, token, NOW + policy.idle - timedelta(seconds=1)) is not None
        assert sessions.session_for(conn, token, NOW + 2 * policy.idle - timedelta(seconds=2)) is not None
        assert sessions.session_for(conn, token, NOW + 3 * policy.idle) is None  # idle too long
        busy, _ = sessions.start_session(conn, hanako, "Firefox", NOW)
        moment = NOW
        while moment < NOW + policy.absolute - policy.idle:
            moment += policy.idle / 2
            assert sessions.session_for(conn, busy, moment) is not None
        assert sessions.session_for(conn, busy, NOW + policy.absolute) is None


def test_sessions_are_listed_ended_one_by_one_or_everywhere(engine: Engine, hanako: logins.Account) -> None:
    with write(engine) as conn:
        first, one = sessions.start_session(conn, hanako, "Firefox", NOW)
        second, two = sessions.start_session(conn, hanako, "Safari", NOW)
        third, _ = sessions.start_session(conn, hanako, "Chromium", NOW)
        other = logins.create_account(conn, "resident", "18", "taro", PASSWORD, NOW)
        theirs, _ = sessions.start_session(conn, other, "Edge", NOW)
        assert [s.user_agent for s in logins.sessions_of(conn, hanako, NOW)] == [
            "Chromium",
            "Safari",
            "Firefox",
        ]
        assert not logins.end_session(conn, other, one.id, NOW)  # not theirs to end
        assert logins.end_session(conn, hanako, one.id, NOW)
        assert sessions.session_for(conn, first, NOW) is None
        assert logins.end_all_sessions(conn, hanako, NOW) == 2
        assert (
            sessions.session_for(conn, second, NOW) is None and sessions.session_for(conn, third, NOW) is None
        )
        assert sessions.session_for(conn, theirs, NOW) is not None
        assert two.id != one.id
