"""mkp-admin as a new user meets it: each fault a first try found is told in one plain line that
says what to do, errors come out as JSON under --json, times are Japan's, and the locale picks
Japanese or English (in-process through click, against the real app where a server is needed)."""

from __future__ import annotations

import json
import re

import pytest
from mkp_testing import invoke, served_in_process
from points_helpers import DEPARTMENT, REASON

from mkp_admin import cli as admin_cli
from mkp_core.cli_speech import local_time

NO_SERVER = {"MKP_SERVER": "http://127.0.0.1:9", "MKP_TOKEN": "mkp_op_unused"}
JAPANESE = {"LANG": "ja_JP.UTF-8"}


@pytest.fixture
def admin(app, town, tmp_path):
    """mkp-admin as the central operator, in the locale given: (exit code, stdout, stderr)."""
    with served_in_process(app) as url:
        env = {
            "MKP_SERVER": url,
            "MKP_TOKEN": town.central["Authorization"].split()[1],
            "MKP_ADMIN_CONFIG": str(tmp_path / "none.toml"),
        }

        def run(*args: str, locale: dict[str, str] | None = None) -> tuple[int, str, str]:
            result = invoke(admin_cli.main, *args, env={**env, **(locale or {})})
            return result.exit_code, result.stdout, result.stderr

        yield run


def offline(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """mkp-admin where no server is needed to find the fault (nothing answers at its address)."""
    result = invoke(admin_cli.main, *args, env={**NO_SERVER, **(env or {})})
    return result.exit_code, result.stdout, result.stderr


def grant(admin, amount: int = 100, locale: dict[str, str] | None = None) -> tuple[int, str, str]:
    """HANAKO23 is granted ``amount`` points, valid to the end of next month."""
    assert admin("rule", "set", "142018", "--expiry", "month_end:1")[0] == 0
    return admin(
        "grant", "--department", DEPARTMENT, "--mykey", "HANAKO23", "--amount", str(amount),
        "--kind", "childcare", locale=locale,
    )  # fmt: skip


def spend(admin, amount: int, *extra: str, locale: dict[str, str] | None = None) -> tuple[int, str, str]:
    return admin(
        *extra, "spend", "--reason", REASON, "--mykey", "HANAKO23", "--place", "yokosuka-shop",
        "--amount", str(amount), locale=locale,
    )  # fmt: skip


# --- the faults ------------------------------------------------------------------------------------


def test_a_server_address_without_its_scheme_gets_the_hint():
    code, out, err = offline("municipality", "list", env={"MKP_SERVER": "localhost:8080"})
    assert (code, out) == (2, "")
    assert err == (
        "error: bad_server_url: the server address 'localhost:8080' has no scheme: "
        "write http://localhost:8080 (or https://)\n"
    )


def test_a_file_that_is_no_crl_is_refused_before_it_is_sent(tmp_path):
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"serial": 1, "pin": "1234"}))
    code, out, err = offline("crl", "upload", str(card))
    assert (code, out) == (1, "")
    assert err == f"error: invalid_crl: {card} is not a CRL: give the CA's revocation list (PEM or DER)\n"


def test_an_unknown_place_kind_lists_the_kinds():
    code, out, err = offline("rule", "set", "142018", "--kinds", "shops,museum")
    assert (code, out) == (2, "")
    assert err == (
        "error: --kinds: no place kind 'shops': the kinds are shop, museum, library, office, facility, transport\n"
    )


def test_a_spend_refusal_names_the_mykey_id(admin):
    assert grant(admin)[0] == 0
    code, _, err = spend(admin, 101)
    assert code == 1
    assert err == "error: insufficient_points: MyKey ID HANAKO23 holds 100 spendable points, 101 needed\n"


def test_errors_are_json_under_json(admin):
    code, out, err = spend(admin, 5, "--json")  # HANAKO23 holds nothing yet
    assert code == 1 and json.loads(out)["error"]["code"] == "insufficient_points"
    assert len(err.splitlines()) == 1
    code, out, _ = offline("--json", "rule", "set", "142018", "--kinds", "casino")
    assert code == 2 and json.loads(out) == {
        "error": {
            "code": "invalid_place_kind",
            "message": "--kinds: no place kind 'casino': the kinds are shop, museum, library, office, "
            "facility, transport",
        }
    }
    code, out, _ = offline("municipality", "list", "--json", env={"MKP_SERVER": "localhost:8080"})
    assert code == 2 and json.loads(out)["error"]["code"] == "bad_server_url"
    code, out, _ = offline("--json", "grant", "--department", DEPARTMENT, "--amount", "x")  # click's own
    assert code == 2 and json.loads(out)["error"]["code"] == "usage_error"
    code, out, _ = offline("--json", "municipality", "list")  # nothing answers
    assert code == 3 and json.loads(out)["error"]["code"] == "server_unreachable"


def test_times_print_in_japan_time(admin):
    assert local_time("2027-06-30T15:00:00+00:00") == "2027-07-01 00:00 JST"
    assert local_time(None) == "-" and local_time("2027-06-30") == "2027-06-30"
    code, out, err = grant(admin)
    assert code == 0, err
    assert re.search(r"valid until \d{4}-\d\d-\d\d \d\d:\d\d JST$", out.strip()), out
    assert "+00:00" not in out


# --- Japanese and English --------------------------------------------------------------------------


def test_japanese_under_a_japanese_locale_english_under_c(admin):
    code, out, _ = grant(admin, locale=JAPANESE)
    assert code == 0
    assert re.fullmatch(
        r"振替 \d+: HANAKO23 に 142018 ポイントを 100 付与しました（有効期限 \d{4}-\d\d-\d\d \d\d:\d\d JST）\n",
        out,
    ), out
    code, _, err = spend(admin, 101, locale=JAPANESE)
    assert code == 1
    assert err == (
        "エラー: ポイントが足りません（insufficient_points: MyKey ID HANAKO23 holds 100 spendable points, "
        "101 needed）\n"
    )
    code, out, err = spend(admin, 101, locale={"LANG": "C"})
    assert err == "error: insufficient_points: MyKey ID HANAKO23 holds 100 spendable points, 101 needed\n"
    code, out, _ = admin("balance", "HANAKO23", locale={"LANG": "ja_JP.UTF-8", "LANGUAGE": "en"})
    assert "spendable 100" in out  # LANGUAGE, when set, wins over LANG (as gettext has it)
    code, out, _ = admin("balance", "HANAKO23", locale=JAPANESE)
    assert "利用可能 100" in out
