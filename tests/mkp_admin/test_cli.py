"""mkp-admin as an operator uses it: the commands run in-process through click, against the real
app behind the in-process transport (`mkp-server create-operator` makes the operator, on the real
database; mkp-server's own refusals are in tests/server/test_server_cli.py)."""

import json
from types import SimpleNamespace

import pytest
from mkp_testing import invoke, served_in_process

from mkp_admin import cli as admin_cli
from server import cli as server_cli
from server.launcher import free_port


def run(*args, env=None, prog="mkp_admin.cli"):
    command = server_cli.main if prog == "server.cli" else admin_cli.main
    result = invoke(command, *args, env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def live(app, database_url, tmp_path):
    """The app, served in-process at a URL every mkp session reaches, and a central operator."""
    db_env = {"MKP_DATABASE_URL": database_url}
    code, token, err = run("create-operator", "central", env=db_env, prog="server.cli")
    assert code == 0, err
    with served_in_process(app) as url:
        env = {
            **db_env,
            "MKP_SERVER": url,
            "MKP_TOKEN": token.strip(),
            "MKP_ADMIN_CONFIG": str(tmp_path / "none.toml"),
        }
        yield SimpleNamespace(url=url, env=db_env), env


def test_operator_workflow(live):
    server, env = live
    code, out, _ = run("municipality", "add", "142018", env=env)
    assert code == 0 and "横須賀市" in out
    code, out, _ = run("--json", "municipality", "list", env=env)
    assert [m["code"] for m in json.loads(out)["municipalities"]] == ["142018"]
    code, out, _ = run("ledger", "verify", env=env)
    assert code == 0 and "ledger ok: 0 transfers" in out


def test_client_id_makes_a_retry_safe(live):
    _, env = live
    run("municipality", "add", "142018", env=env)
    args = (
        "point-code",
        "add",
        "142018",
        "FEST2026",
        "--name",
        "祭",
        "--client-id",
        "retry-000001",
        "--json",
    )
    first = json.loads(run(*args, env=env)[1])
    second = json.loads(run(*args, env=env)[1])
    assert first == second and first["code"] == "142018-FEST2026"


REFUSALS = [
    (("municipality", "add", "142019"), 1, "bad_check_digit"),
    (("municipality", "add", "999997"), 1, "unknown_municipality"),
    (
        ("grant", "--department", "142018-a", "--mykey", "A", "--amount", "0", "--kind", "k"),
        2,
        "0 is not in the range",
    ),
    (
        ("grant", "--department", "142018-a", "--mykey", "A", "--amount", "1.5", "--kind", "k"),
        2,
        "not a valid integer",
    ),
    (("grant", "--department", "142018-kosodate", "--amount", "5"), 2, "needs --mykey, --amount and --kind"),
    (("department", "add", "131016", "kosodate", "--name", "x", "--budget", "5"), 1, "unknown_municipality"),
    (
        ("spend", "--mykey", "NOBODY99", "--place", "shop-1", "--amount", "5", "--reason", "paper form"),
        1,
        "unknown_mykey",
    ),
    (("spend", "--mykey", "NOBODY99", "--place", "shop-1", "--amount", "5"), 2, "Missing option '--reason'"),
]


def test_refusals_are_one_line_and_non_zero(live):
    _, env = live
    run("municipality", "add", "142018", env=env)
    for args, exit_code, message in REFUSALS:
        code, out, err = run(*args, env=env)
        assert (code, message in err) == (exit_code, True), (args, err)
        if exit_code == 1:
            assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert json.loads(run("--json", "ledger", "verify", env=env)[1])["transfers"] == 0


def test_revoked_operator_is_refused_at_once(live):
    server, env = live
    assert run("municipality", "list", env=env)[0] == 0
    code, out, _ = run("revoke-operator", "central", env=server.env, prog="server.cli")
    assert code == 0 and "revoked" in out
    code, _, err = run("municipality", "list", env=env)
    assert code == 1 and "unauthorized" in err
    code, out, _ = run("list-operators", env=server.env, prog="server.cli")
    assert "central" in out and "revoked" in out
    assert run("revoke-operator", "nobody", env=server.env, prog="server.cli")[0] == 1


def test_wrong_token_and_no_token(live):
    _, env = live
    code, _, err = run("municipality", "list", env={**env, "MKP_TOKEN": "mkp_op_not-a-real-token"})
    assert code == 1 and "unauthorized" in err
    no_token = {k: v for k, v in env.items() if k != "MKP_TOKEN"}
    code, _, err = run("municipality", "list", env=no_token)
    assert code == 2 and "no operator token" in err


def test_token_from_config_file(live, tmp_path):
    server, env = live
    config = tmp_path / "admin.toml"
    config.write_text(f'server = "{server.url}"\ntoken = "{env["MKP_TOKEN"]}"\n')
    bare = {k: v for k, v in env.items() if k not in ("MKP_TOKEN", "MKP_SERVER")}
    code, out, err = run("--config", str(config), "municipality", "list", env=bare)
    assert code == 0, err
    assert "no municipalities yet" in out


def test_unreachable_server(tmp_path):
    env = {
        "MKP_SERVER": f"http://127.0.0.1:{free_port()}",
        "MKP_TOKEN": "mkp_op_x",
        "PATH": "/usr/bin:/bin",
        "MKP_ADMIN_CONFIG": str(tmp_path / "none.toml"),
    }
    code, _, err = run("ledger", "verify", env=env)
    assert code == 3 and "cannot reach the server" in err and "connection refused" in err


def test_event_point_codes_from_the_cli(live):
    _, env = live
    run("municipality", "add", "142018", env=env)
    code, out, err = run("point-code", "add", "142018", "FEST2026", "--name", "よこすか開国祭", env=env)
    assert code == 0 and "142018-FEST2026" in out, err
    code, out, _ = run("--json", "point-code", "list", "142018", env=env)
    assert [p["code"] for p in json.loads(out)["point_codes"]] == ["142018", "142018-FEST2026"]
    code, _, err = run("point-code", "add", "142018", "fest", "--name", "x", env=env)
    assert code == 1 and "suffix" in err
