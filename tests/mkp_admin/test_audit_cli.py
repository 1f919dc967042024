"""`mkp-admin audit list` as an operator reads it: a table in JST, --json, a town's own trail."""

from __future__ import annotations

import json

import pytest
from mkp_testing import invoke, served_in_process
from points_helpers import grant

from mkp_admin import cli as admin_cli


@pytest.fixture
def admin(app, town, tmp_path):
    """Run mkp-admin with one of the town's tokens against the app served in-process."""
    with served_in_process(app) as url:

        def run(headers: dict[str, str], *args: str):
            token = headers["Authorization"].removeprefix("Bearer ")
            env = {"MKP_SERVER": url, "MKP_TOKEN": token, "MKP_ADMIN_CONFIG": str(tmp_path / "none.toml")}
            result = invoke(admin_cli.main, *args, env=env)
            return result.exit_code, result.stdout, result.stderr

        yield run


def test_audit_list_shows_who_changed_what(client, town, admin):
    grant(client, town.yokosuka, "HANAKO23", 300)
    code, out, _ = admin(town.central, "audit", "list")
    assert code == 0
    assert "operator:yokosuka-desk" in out and "POST /v1/grants" in out and "142018" in out
    code, out, _ = admin(town.central, "audit", "list", "--json")
    [entry] = json.loads(out)["entries"]
    assert entry["actor"] == "operator:yokosuka-desk" and entry["municipality"] == "142018"


def test_a_town_lists_its_own_and_is_refused_another(client, town, admin):
    grant(client, town.yokosuka, "HANAKO23", 300)
    code, out, _ = admin(town.sapporo, "audit", "list")
    assert code == 0 and out.strip() == "no entries"
    code, _, err = admin(town.sapporo, "audit", "list", "--municipality", "142018")
    assert code == 1 and err.startswith("error: out_of_scope:")


def test_limit_follows_pages(client, town, admin):
    for amount in range(101, 104):
        grant(client, town.central, "HANAKO23", amount)
    code, out, _ = admin(town.central, "audit", "list", "--limit", "2", "--json")
    assert code == 0 and len(json.loads(out)["entries"]) == 2
    code, _, err = admin(town.central, "audit", "list", "--since", "last week")
    assert code == 1 and "since" in err
