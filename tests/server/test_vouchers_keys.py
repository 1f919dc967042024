"""The server's voucher keys on disk: made by `mkp-server init` (terminals provisioned afterwards
already trust it), private to the server's user, kept across runs, never printed."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import pytest
from mkp_testing import invoke

from mkp_core.voucher import Voucher, decode_voucher, encode_voucher, new_serial
from server.cli import main
from server.db.engine import make_engine, read, write
from server.vouchers import keys


def test_init_makes_one_private_voucher_key_and_keeps_it(database_url, tmp_path):
    secrets = tmp_path / "secrets"
    env = {
        "MKP_SECRETS_DIR": str(secrets),
        "MKP_TERMINAL_CA_DIR": str(tmp_path / "ca"),
        "MKP_RELEASE_DIR": str(tmp_path / "rel"),
    }
    first = invoke(main, "init", "--db", database_url, env=env)
    assert first.exit_code == 0, first.output
    files = list((secrets / keys.KEY_FOLDER).glob("*.pem"))
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((secrets / keys.KEY_FOLDER).stat().st_mode) == 0o700
    assert "PRIVATE KEY" not in first.output and files[0].stem in first.output
    again = invoke(main, "init", "--db", database_url, env=env)
    assert again.exit_code == 0 and list((secrets / keys.KEY_FOLDER).glob("*.pem")) == files
    engine = make_engine(database_url)
    with read(engine) as conn:
        assert [k["key_id"] for k in keys.list_keys(conn)] == [files[0].stem]
    engine.dispose()


def test_a_key_file_others_can_read_is_refused(database_url, tmp_path):
    secrets = tmp_path / "secrets"
    env = {
        "MKP_SECRETS_DIR": str(secrets),
        "MKP_TERMINAL_CA_DIR": str(tmp_path / "ca"),
        "MKP_RELEASE_DIR": str(tmp_path / "rel"),
    }
    assert invoke(main, "init", "--db", database_url, env=env).exit_code == 0
    (path,) = (secrets / keys.KEY_FOLDER).glob("*.pem")
    path.chmod(0o644)
    keys._LOADED.clear()  # another process, reading the file afresh
    with pytest.raises(PermissionError, match="chmod 600"):
        keys.load_private(secrets, path.stem)


def test_a_key_made_for_a_voucher_signs_from_the_vouchers_own_second(engine, tmp_path):
    """The first voucher makes the key: issued at .999 of a second, the key made a moment later
    (the next second) must still verify it (found as a flaky redemption under load)."""
    issued = datetime(2026, 12, 2, 1, 0, 0, 999_000, tzinfo=UTC)
    with write(engine) as conn:
        key = keys.signing_key(conn, tmp_path / "secrets", "test", issued)
        ring = keys.ring(conn)
    voucher = Voucher(
        new_serial(),
        "142018",
        500,
        issued.replace(microsecond=0),
        datetime(2027, 1, 1, tzinfo=UTC),
        key.key_id,
    )
    assert decode_voucher(encode_voucher(voucher, key.private_key), ring, now=issued) == voucher
