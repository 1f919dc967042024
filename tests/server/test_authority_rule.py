"""The one rule of who may act on whose points: README's table and the module say the same, the
proofs are taken as the rule says (the resident's card, their session, an operator, a correction),
and a correction is on the record as one."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from points_helpers import REASON, YOKOSUKA, error_of, grant, new_id, post
from sqlalchemy import select

from mkp_core.errors import MkpError
from server.db.engine import read, write
from server.ledger.tables import transfers
from server.platform import authority
from server.platform.authority import (
    Action,
    HolderCard,
    HolderSession,
    OperatorAct,
    OperatorCorrection,
    authorize,
)
from server.platform.mykey import registry
from server.platform.operators.service import Operator
from server.points import resident_points, spending

README = Path(__file__).resolve().parents[2] / "README.md"
CENTRAL = Operator(1, "central", None)
YOKOSUKA_DESK = Operator(2, "yokosuka-desk", YOKOSUKA)
SAPPORO_DESK = Operator(3, "sapporo-desk", "011002")


def readme_table() -> dict[str, list[str]]:
    """The rows of README's table "Who may act on whose points", by action."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Who may act on whose points", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert cells[0] == ["action", "resident's card", "resident's session", "operator", "note"]
    return {row[0]: row[1:] for row in cells[1:] if not re.fullmatch(r"-+", row[0])}


def test_readme_says_what_the_authority_module_says():
    table = readme_table()
    assert set(table) == {str(a) for a in Action}
    for action, rule in authority.RULES.items():
        assert table[str(action)] == [
            rule.card,
            "yes" if rule.session else "no",
            rule.operator,
            rule.note,
        ], action


def holder(number: int = 7, home: str | None = YOKOSUKA) -> registry.MyKey:
    return registry.MyKey(number, "HANAKO23", "active", 1, home, datetime.now(UTC), None, None)


def refusal(call) -> tuple[str, str]:
    with pytest.raises(MkpError) as e:
        call()
    return e.value.kind, e.value.code


def test_a_residents_own_session_is_the_hook_my_page_will_use():
    """My Page only has to build a HolderSession after login: the rule accepts it already where a
    resident acts at home, and refuses it where the card itself must sign."""
    resident = holder()
    session = HolderSession(resident.number, "session-1")
    assert authorize(Action.EVENT_SUPPORT, session, resident).actor == "holder:session"
    assert authorize(Action.REWARD_CLAIM, session, resident).actor == "holder:session"
    assert refusal(lambda: authorize(Action.SPEND, session, resident)) == ("forbidden", "card_required")
    someone_else = HolderSession(resident.number + 1, "session-2")
    assert refusal(lambda: authorize(Action.EVENT_SUPPORT, someone_else, resident)) == (
        "forbidden",
        "not_your_points",
    )


def test_a_card_acts_only_for_its_own_holder_and_where_the_rule_says():
    resident = holder()
    at_counter = HolderCard(resident.number, "t0123456789ab")
    assert authorize(Action.SPEND, at_counter, resident).actor == "terminal:t0123456789ab"
    at_home = HolderCard(resident.number)
    assert refusal(lambda: authorize(Action.SPEND, at_home, resident)) == ("forbidden", "card_not_accepted")
    assert authorize(Action.PARTNER_LINK, at_home, resident).actor == "holder"
    other_card = HolderCard(resident.number + 1, "t0123456789ab")
    assert refusal(lambda: authorize(Action.SPEND, other_card, resident)) == ("forbidden", "not_your_points")


def test_operators_never_act_on_what_is_the_residents_own():
    resident = holder()
    for action in (
        Action.COUPON_REDEEM,
        Action.PARTNER_LINK,
        Action.HOME_MUNICIPALITY,
        Action.MYKEY_ID_CHANGE,
    ):
        assert refusal(lambda a=action: authorize(a, OperatorAct(CENTRAL), resident)) == (
            "forbidden",
            "holder_only",
        )
        assert refusal(lambda a=action: authorize(a, OperatorCorrection(CENTRAL, REASON), resident))[1] in (
            "holder_only",
        )


def test_points_leave_a_wallet_by_an_operator_only_as_a_central_correction_with_a_reason():
    resident = holder()
    for action in (Action.SPEND, Action.EVENT_SUPPORT, Action.REWARD_CLAIM, Action.TRANSIT_EXCHANGE):
        assert refusal(lambda a=action: authorize(a, OperatorAct(CENTRAL), resident)) == (
            "invalid",
            "reason_required",
        )
        scoped = OperatorCorrection(YOKOSUKA_DESK, REASON)  # even the resident's own town
        assert refusal(lambda a=action, p=scoped: authorize(a, p, resident)) == ("forbidden", "out_of_scope")
        blank = OperatorCorrection(CENTRAL, "  ")
        assert refusal(lambda a=action, p=blank: authorize(a, p, resident)) == ("invalid", "reason_required")
        allowed = authorize(action, OperatorCorrection(CENTRAL, REASON), resident)
        assert (allowed.actor, allowed.memo()) == ("correction:central", f"correction: {REASON}")


def test_a_scoped_operator_reaches_only_its_own_towns_residents():
    resident = holder(home=YOKOSUKA)
    assert (
        authorize(Action.RENEWAL_CODE, OperatorAct(YOKOSUKA_DESK), resident).actor == "operator:yokosuka-desk"
    )
    kind, code = refusal(lambda: authorize(Action.RENEWAL_CODE, OperatorAct(SAPPORO_DESK), resident))
    assert (kind, code) == ("not_found", "unknown_mykey")
    nobodys = holder(home=None)  # no home municipality: the central operator's alone
    assert (
        refusal(lambda: authorize(Action.SUSPEND, OperatorAct(YOKOSUKA_DESK), nobodys))[1] == "unknown_mykey"
    )
    assert authorize(Action.SUSPEND, OperatorAct(CENTRAL), nobodys).actor == "operator:central"


def test_a_correction_spend_is_on_the_ledger_as_one(client, engine, town):
    grant(client, town.central, "HANAKO23", 1000)
    body = {
        "client_id": new_id("s"),
        "mykey_id": "HANAKO23",
        "place": "yokosuka-shop",
        "amount": 300,
        "reason": "  paper form signed at the town hall  ",
    }
    r = client.post("/v1/spends", json=body, headers=town.central)
    assert r.status_code == 201, r.json
    assert r.json["memo"] == "correction: paper form signed at the town hall"
    with read(engine) as conn:
        row = conn.execute(
            select(transfers.c.actor, transfers.c.memo).where(transfers.c.id == r.json["id"])
        ).one()
    assert tuple(row) == ("correction:central", "correction: paper form signed at the town hall")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/spends", {"place": "yokosuka-shop", "amount": 10}),
        (f"/v1/events/{YOKOSUKA}-FEST/supports", {"amount": 10}),
        ("/v1/rewards/hanabi/claims", {}),
        ("/v1/transit/exchanges", {"place": "keikyu-bus", "amount": 10}),
    ],
)
@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (None, (422, "missing_field")),
        ("", (422, "invalid_reason")),
        ("   ", (422, "invalid_reason")),
        ("x" * 181, (422, "invalid_reason")),
        ("line\nbreak", (422, "invalid_text")),
    ],
)
def test_a_correction_without_a_fit_reason_is_refused(client, town, path, body, reason, expected):
    payload = {"client_id": new_id(), "mykey_id": "HANAKO23", **body}
    if reason is not None:
        payload["reason"] = reason
    r = client.post(path, json=payload, headers=town.central)
    assert error_of(r) == expected, r.json


def test_the_services_take_a_residents_session_as_my_page_will_send_it(client, engine, town):
    """My Page (a later issue) builds a HolderSession after login and calls the same services the
    counter and the office call: the points leave the wallet, on the record as the session's."""
    grant(client, town.central, "HANAKO23", 1000)
    now = datetime.now(UTC)
    reward = {"code": "hanabi", "municipality": YOKOSUKA, "name": "花火", "price": 300, "stock": 5}
    window = {
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat(),
    }
    post(client, town.central, "/v1/rewards", {**reward, **window}, 201)
    with write(engine) as conn:
        resident = registry.find(conn, "HANAKO23")
        claimed = resident_points.claim(
            conn, resident, HolderSession(resident.number, "s-1"), new_id(), "hanabi"
        )
        with pytest.raises(MkpError) as shop:  # a shop's spend needs the card itself
            request = spending.Spend(new_id(), "yokosuka-shop", 100)
            resident_points.spend(conn, resident, HolderSession(resident.number, "s-1"), request)
        with pytest.raises(MkpError) as other:  # another resident's session
            resident_points.claim(
                conn, resident, HolderSession(resident.number + 1, "s-2"), new_id(), "hanabi"
            )
    assert (shop.value.code, other.value.code) == ("card_required", "not_your_points")
    with read(engine) as conn:
        actor = conn.execute(
            select(transfers.c.actor).where(transfers.c.id == claimed["transfer_id"])
        ).scalar_one()
    assert (claimed["points"], actor) == (300, "holder:session")
