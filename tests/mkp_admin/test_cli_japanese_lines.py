"""The lines mkp-admin and mkp-agent spoke only in English (partners, releases, the connection test,
transit, settlement; the agent's voucher and counter commands) in Japanese under a Japanese locale,
and in English elsewhere: in process through click, where no server is needed to say them."""

from __future__ import annotations

import json
from pathlib import Path

from mkp_testing import invoke

from agent.cli import main as agent_cli
from agent.home import Home, write_agent_toml
from mkp_admin import cli as admin_cli
from provisioning.enroll import create_home, load_or_create_key

NO_SERVER = {"MKP_SERVER": "http://127.0.0.1:9", "MKP_TOKEN": "mkp_op_unused"}
JAPANESE = {"LANG": "ja_JP.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""}
ENGLISH = {"LANG": "C.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""}


def admin(*args: str, env: dict[str, str]) -> tuple[int, str]:
    result = invoke(admin_cli.main, *args, env={**NO_SERVER, **env})
    return result.exit_code, result.stderr


def test_a_bad_partner_rate_is_said_in_japanese() -> None:
    code, err = admin("partner", "add", "ANA", "--name", "全日本空輸", "--rate", "1:0", env=JAPANESE)
    assert code == 2
    assert (
        "--rate は 提携先ポイント:ポイント を整数で指定します（例 10000:10000、500:100）。指定値: '1:0'"
        in err
    )


def test_a_connection_test_at_no_time_is_said_in_japanese_and_english() -> None:
    code, err = admin("conntest", "schedule", "--at", "soon", env=JAPANESE)
    assert code == 2 and "--at: 'soon' は日時ではありません。" in err
    code, err = admin("conntest", "schedule", "--at", "soon", env=ENGLISH)
    assert code == 2 and "--at: 'soon' is not a time: say 2027-03-01T10:00 (Japan time)" in err
    code, err = admin("conntest", "report", "1", "--terminals", env=JAPANESE)
    assert code == 2 and "--terminals は --csv と一緒に指定します" in err


def test_a_release_key_is_never_overwritten_said_in_japanese(tmp_path) -> None:
    key = tmp_path / "release.key"
    key.write_text("kept")
    code, err = admin("release", "keygen", "--out", str(key), env=JAPANESE)
    assert code == 2 and f"{key} はすでにあります。リリース鍵は上書きしません" in err
    assert key.read_text() == "kept"


def enrolled_home(tmp_path: Path) -> Path:
    """A home as mkp-provision leaves it (no server is asked here)."""
    home = Home(tmp_path / "home")
    create_home(home)
    load_or_create_key(home)
    write_agent_toml(home, {"server": {"url": "http://127.0.0.1:9"}, "terminal": {"id": "t0123456789ab"}})
    home.trust_list.write_text(json.dumps({"jpki_anchors": [], "release_keys": []}))
    return home.root


def test_the_agents_voucher_and_counter_usage_errors_are_said_in_japanese(tmp_path) -> None:
    home = str(enrolled_home(tmp_path))
    scanned = invoke(agent_cli, "voucher", "verify", "--home", home, env=JAPANESE)
    assert scanned.exit_code == 2
    assert "--image ファイル か --camera 番号 のどちらかを指定してください" in scanned.stderr
    english = invoke(agent_cli, "voucher", "verify", "--home", home, env=ENGLISH)
    assert english.exit_code == 2 and "give --image FILE or --camera N" in english.stderr
    spend = invoke(agent_cli, "spend", "--home", home, env=JAPANESE)
    assert spend.exit_code == 2 and "--amount 数 か --item コード を指定してください" in spend.stderr
