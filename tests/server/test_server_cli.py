"""mkp-server's refusals as an operator meets them: each is one line and a non-zero exit, on a
real database (in-process through click)."""

from mkp_testing import invoke

from server import cli as server_cli


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
