"""`mkp-admin place ...` and `mkp-admin terminal ...` as an operator uses them, against a real server."""

from __future__ import annotations

import json
import re
import socket

CODE = re.compile(r"^[A-Z2-9]{4}(-[A-Z2-9]{4}){3}$")


def test_place_add_and_list(platform):
    done = platform.admin(
        "place",
        "add",
        "yokosuka-library",
        "--name",
        "横須賀市立中央図書館",
        "--kind",
        "library",
        "--municipality",
        "142018",
        "--street",
        "上町",
    )
    assert done.returncode == 0 and "added place yokosuka-library" in done.stdout, done.stderr
    listed = json.loads(platform.admin("place", "list", "--json").stdout)["places"]
    assert [p["id"] for p in listed] == ["yokosuka-library", "yokosuka-museum"]
    assert listed[0]["street"] == "上町"
    text = platform.admin("place", "list").stdout
    assert "yokosuka-museum  museum    142018  横須賀美術館" in text and "(上町)" in text


def test_place_refusals(platform):
    cases = [
        (
            ("place", "add", "Bad_Slug", "--name", "x", "--kind", "shop", "--municipality", "142018"),
            1,
            "error: ",
        ),
        (("place", "add", "ab", "--name", "x", "--kind", "shop", "--municipality", "142018"), 1, "error: "),
        (
            ("place", "add", "some-shop", "--name", "x", "--kind", "bank", "--municipality", "142018"),
            2,
            "'bank' is not one of",
        ),
        (
            ("place", "add", "some-shop", "--name", "x", "--kind", "shop", "--municipality", "131016"),
            1,
            "unknown_municipality",
        ),
        (
            ("place", "add", "yokosuka-museum", "--name", "x", "--kind", "shop", "--municipality", "142018"),
            1,
            "place_exists",
        ),
        (("place", "add", "some-shop", "--kind", "shop", "--municipality", "142018"), 2, "--name"),
    ]
    for args, code, message in cases:
        done = platform.admin(*args)
        assert (done.returncode, message in done.stderr) == (code, True), (args, done.stderr)
        if code == 1:
            assert len(done.stderr.strip().splitlines()) == 1
    assert len(json.loads(platform.admin("place", "list", "--json").stdout)["places"]) == 1


def test_terminal_enroll_list_show_revoke(platform):
    done = platform.admin(
        "terminal", "enroll", "--place", "yokosuka-museum", "--name", "counter 1", "--ttl-hours", "2"
    )
    assert done.returncode == 0, done.stderr
    code = done.stdout.split("\n\n")[1].strip()
    assert CODE.match(code), done.stdout
    assert f"mkp-provision --server {platform.url} --code {code}" in done.stdout
    assert re.search(r"valid until \d{4}-\d\d-\d\d \d\d:\d\d JST", done.stdout), done.stdout
    data = json.loads(
        platform.admin("terminal", "enroll", "--place", "yokosuka-museum", "--name", "desk", "--json").stdout
    )
    assert CODE.match(data["code"]) and data["place"] == "yokosuka-museum" and data["name"] == "desk"
    terminals = json.loads(platform.admin("terminal", "list", "--json").stdout)["terminals"]
    assert [(t["name"], t["status"]) for t in terminals] == [("counter 1", "pending"), ("desk", "pending")]
    assert (
        json.loads(platform.admin("terminal", "list", "--place", "elsewhere", "--json").stdout)["terminals"]
        == []
    )
    assert platform.admin("terminal", "list", "--place", "elsewhere").stdout.strip() == "no terminals yet"
    first = terminals[0]["id"]
    shown = platform.admin("terminal", "show", first)
    assert shown.returncode == 0 and f"id: {first}" in shown.stdout and "status: pending" in shown.stdout
    revoked = platform.admin("terminal", "revoke", first, "--reason", "installed elsewhere")
    assert revoked.returncode == 0 and "is revoked" in revoked.stdout
    again = json.loads(
        platform.admin("terminal", "revoke", first, "--json").stdout
    )  # revoking twice is harmless
    assert again["status"] == "revoked" and again["revoke_reason"] == "installed elsewhere"
    text = platform.admin("terminal", "list").stdout
    assert f"{first}  revoked  yokosuka-museum  counter 1" in text


def test_enroll_with_qr_prints_a_qr_code(platform):
    done = platform.admin("terminal", "enroll", "--place", "yokosuka-museum", "--name", "counter 2", "--qr")
    assert done.returncode == 0
    blocks = [line for line in done.stdout.splitlines() if "█" in line or "▀" in line]
    assert len(blocks) >= 10  # a version-1 symbol is 21 modules high, two rows per line
    assert len({len(line) for line in blocks}) == 1  # a square, not ragged text


def test_terminal_refusals(platform):
    cases = [
        (("terminal", "enroll", "--place", "nowhere", "--name", "x"), 1, "unknown_place"),
        (
            ("terminal", "enroll", "--place", "yokosuka-museum", "--name", "x", "--ttl-hours", "0"),
            2,
            "0 is not in the range",
        ),
        (
            ("terminal", "enroll", "--place", "yokosuka-museum", "--name", "x", "--ttl-hours", "169"),
            2,
            "169 is not in the range",
        ),
        (("terminal", "enroll", "--place", "yokosuka-museum"), 2, "--name"),
        (("terminal", "show", "t000000000000"), 1, "unknown_terminal"),
        (("terminal", "show", "not-an-id"), 1, "error: "),
        (("terminal", "show", ".."), 2, "is not a terminal id"),
        (("terminal", "revoke", "t000000000000"), 1, "unknown_terminal"),
        (("terminal", "show", "t0/../../places"), 1, "error: "),
    ]
    for args, code, message in cases:
        done = platform.admin(*args)
        assert (done.returncode, message in done.stderr) == (code, True), (args, done.stderr)
    assert json.loads(platform.admin("terminal", "list", "--json").stdout)["terminals"] == []


def test_unreachable_and_no_token(platform):
    cli = platform.run
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**platform.admin_env, "MKP_SERVER": f"http://127.0.0.1:{port}"}
    done = cli("mkp-admin", "terminal", "list", env=env)
    assert done.returncode == 3 and "cannot reach the server" in done.stderr
    done = cli("mkp-admin", "place", "list", env={**platform.admin_env, "MKP_TOKEN": ""})
    assert done.returncode == 2 and "no operator token" in done.stderr
