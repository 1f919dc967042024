"""mkp-server's refusals as an operator meets them: each is one line and a non-zero exit, on a
real database (in-process through click)."""

import socket
import subprocess

import pytest
from mkp_testing import invoke, sqlite_database

from server import cli as server_cli
from server.launcher import server_command


def run(*args):
    result = invoke(server_cli.main, *args)
    return result.exit_code, result.stdout, result.stderr


def test_server_cli_errors(tmp_path):
    db = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    code, _, err = run("create-operator", "a", "--db", db)
    assert code == 1 and "run `mkp-server init` first" in err
    code, _, err = run("init", "--db", "mysql://u@h/db")
    assert code == 1 and "unsupported database" in err
    assert run("init", "--db", db)[0] == 0
    code, _, err = run("create-operator", "a", "--municipality", "142019", "--db", db)
    assert code == 1 and "check digit" in err
    code, _, err = run("create-operator", "a", "--municipality", "142018", "--db", db)
    assert code == 1 and "has not been added" in err
    assert run("create-operator", "a", "--db", db)[0] == 0
    code, _, err = run("create-operator", "a", "--db", db)
    assert code == 1 and "exists already" in err


def test_init_on_a_path_it_cannot_write_names_the_path_in_one_line(tmp_path):
    (tmp_path / "a-file").write_text("")
    path = tmp_path / "a-file" / "x.sqlite3"  # a file where a folder should be: even root cannot
    code, out, err = run("init", "--db", f"sqlite:///{path}")
    assert code == 1 and out == ""
    assert err == f"error: cannot create the database file {path}: Not a directory\n"
    japanese = invoke(server_cli.main, "init", "--db", f"sqlite:///{path}", env={"LANG": "ja_JP.UTF-8"})
    assert japanese.stderr == f"エラー: データベースファイル {path} を作成できません: Not a directory\n"


@pytest.mark.slow
def test_run_on_a_port_in_use_says_so_in_one_line(tmp_path):
    """The check runs before gunicorn starts, in the process `mkp-server run` is."""
    db = sqlite_database(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            server_command("run", "--db", db, "--bind", f"127.0.0.1:{port}"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr == (
        f"error: port {port} is in use: stop what listens there, or give --bind HOST:PORT\n"
    ), done.stderr
