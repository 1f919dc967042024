"""`mkp-admin grant --csv --dry-run` lists every bad row at once, format and data alike: the same
check the console shows (the server's), not the first format error and then the rest."""

from __future__ import annotations

import pytest
from mkp_testing import invoke, served_in_process
from points_helpers import DEPARTMENT

from mkp_admin import cli as admin_cli

FIVE_BAD = (
    "municipality,mykey_id,amount,grant_kind\n"
    "142018,HANAKO23,1.5,childcare\n"  # line 2: not a whole number (found here)
    "142018,NOBODY99,10,childcare\n"  # line 3: no such MyKey ID (found by the server)
    "142018,TAROU234,10,nokind\n"  # line 4: no such grant kind (server)
    "142018,JIROU345,-3,childcare\n"  # line 5: not above 0 (here)
    "142018,HANAKO23,999999,childcare\n"  # line 6: over the budget (server)
)


@pytest.fixture
def admin(app, town, tmp_path):
    with served_in_process(app) as url:
        env = {
            "MKP_SERVER": url,
            "MKP_TOKEN": town.central["Authorization"].split()[1],
            "MKP_ADMIN_CONFIG": str(tmp_path / "none.toml"),
        }
        yield lambda *args: invoke(admin_cli.main, *args, env=env)


def test_a_dry_run_lists_all_five_bad_rows_at_once(admin, tmp_path):
    file = tmp_path / "grants.csv"
    file.write_text(FIVE_BAD)
    result = admin("grant", "--csv", str(file), "--department", DEPARTMENT, "--dry-run")
    assert result.exit_code == 1 and result.stdout == ""
    listed = [line.split(":")[0].strip() for line in result.stderr.splitlines() if line.startswith("  line ")]
    assert listed == ["line 2", "line 3", "line 4", "line 5", "line 6"]
    for code in ("invalid_amount", "unknown_mykey", "unknown_grant_kind", "over_budget"):
        assert code in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: invalid_grant_file: ")
