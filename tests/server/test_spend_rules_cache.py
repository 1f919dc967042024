"""What a spend is judged by (place, agreements, rules), kept per process per config version:
never stale for the next spend, whichever host made the change. Both databases.

"Another host" is a second app on the same database, with its own engine and so its own memory;
changes are also made the way a worker of any host makes them (the services, in a transaction of
their own, which the spending app is not told of).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from points_helpers import SAPPORO, YOKOSUKA, error_of, grant, new_id, spend, try_spend

from server.app import create_app
from server.config import ServerConfig
from server.db.engine import write
from server.platform.operators.service import Operator
from server.platform.places.service import add_place
from server.points import agreements, price_lists, rules, spending
from server.points.expiry_policy import ExpiryPolicy
from server.points.holders import find

CENTRAL = Operator(0, "central", None)
NOT_HERE = (403, "not_allowed_here")


def _engine(app):
    return app.extensions["mkp.engine"]


@pytest.fixture
def other_host(app, database_url, tmp_path):
    """A second server on the same database (its own engine, its own kept rules)."""
    other = create_app(
        ServerConfig(
            database_url=database_url,
            testing=True,
            terminal_ca_dir=str(tmp_path / "terminal-ca"),
            secrets_dir=str(tmp_path / "secrets"),
        )
    )
    yield other.test_client()
    other.extensions["mkp.engine"].dispose()


def _kinds(*kinds: str, effective_from: datetime | None = None, max_amount: int | None = None):
    return rules.RuleChange(effective_from, list(kinds), [], ExpiryPolicy(), 1, max_amount, False)


def test_a_rule_changed_on_another_host_holds_at_the_next_spend(client, town, other_host):
    c = town.central
    grant(client, c, "HANAKO23", 1000)
    spend(client, c, "HANAKO23", "yokosuka-museum", amount=10)  # every place of Yokosuka: kept
    r = other_host.post(
        f"/v1/point-codes/{YOKOSUKA}/rules",
        json={"client_id": new_id("r"), "place_kinds": ["shop"]},
        headers=c,
    )
    assert r.status_code == 201, r.json
    assert error_of(try_spend(client, c, "HANAKO23", "yokosuka-museum", amount=10)) == NOT_HERE
    spend(client, c, "HANAKO23", "yokosuka-shop", amount=10)
    with write(_engine(other_host.application)) as conn:
        rules.add_rule(conn, CENTRAL, YOKOSUKA, _kinds("shop", "museum", max_amount=50))
    assert error_of(try_spend(client, c, "HANAKO23", "yokosuka-museum", amount=60)) == (422, "above_maximum")
    spend(client, c, "HANAKO23", "yokosuka-museum", amount=50)


def test_an_agreement_recorded_or_ended_elsewhere_holds_at_the_next_spend(client, town, engine):
    c = town.central
    grant(client, c, "HANAKO23", 1000)

    def at_sapporo():
        return try_spend(client, c, "HANAKO23", "sapporo-shop", amount=10, point_code=YOKOSUKA)

    assert error_of(at_sapporo()) == NOT_HERE  # none in force: kept so
    with write(engine) as conn:
        agreements.record(conn, CENTRAL, YOKOSUKA, SAPPORO, YOKOSUKA)
        agreements.record(conn, CENTRAL, YOKOSUKA, SAPPORO, SAPPORO)
    assert at_sapporo().status_code == 201
    with write(engine) as conn:
        agreements.end(conn, CENTRAL, YOKOSUKA, SAPPORO, SAPPORO)
    assert error_of(at_sapporo()) == NOT_HERE


def test_a_place_added_elsewhere_is_found_at_the_next_spend(client, town, engine):
    c = town.central
    grant(client, c, "HANAKO23", 1000)
    assert error_of(try_spend(client, c, "HANAKO23", "yokosuka-cafe", amount=10)) == (404, "unknown_place")
    with write(engine) as conn:
        add_place(conn, CENTRAL, "yokosuka-cafe", "カフェ", "shop", YOKOSUKA, None)
    assert spend(client, c, "HANAKO23", "yokosuka-cafe", amount=10)["place_name"] == "カフェ"


def test_a_rule_dated_later_applies_at_its_time_without_any_write(client, town, engine):
    grant(client, town.central, "HANAKO23", 1000)
    now = datetime.now(UTC)
    with write(engine) as conn:
        rules.add_rule(conn, CENTRAL, YOKOSUKA, _kinds("shop", effective_from=now + timedelta(days=1)), now)

    def spend_at(at: datetime, place: str) -> dict:
        with write(engine) as conn:
            request = spending.Spend(new_id("s"), place, 10, YOKOSUKA)
            return spending.spend(conn, find(conn, "HANAKO23"), request, "operator:central", now=at)

    assert spend_at(now, "yokosuka-museum")["amount"] == 10  # today: every place (versions kept)
    with pytest.raises(spending.NotAllowedHere):
        spend_at(now + timedelta(days=2), "yokosuka-museum")  # the same config version, later
    assert spend_at(now + timedelta(days=2), "yokosuka-shop")["amount"] == 10


def test_a_change_rolled_back_leaves_nothing_kept(client, town, app):
    """A transaction that changed the rules and spent saw its own change: had it kept what it read,
    the next change committed (another version of the same number) would be judged by it."""
    c = town.central
    grant(client, c, "HANAKO23", 1000)
    with pytest.raises(spending.NotAllowedHere), write(_engine(app)) as conn:  # the app's own memory
        rules.add_rule(conn, CENTRAL, YOKOSUKA, _kinds("shop"))
        request = spending.Spend(new_id("s"), "yokosuka-museum", 10, YOKOSUKA)
        spending.spend(conn, find(conn, "HANAKO23"), request, "operator:central")  # refused, rolled back
    with write(_engine(app)) as conn:
        price_lists.set_item(
            conn, CENTRAL, "yokosuka-museum", "adult", "一般", 500
        )  # the same version number
    assert spend(client, c, "HANAKO23", "yokosuka-museum", amount=10)["amount"] == 10
    assert spend(client, c, "HANAKO23", "yokosuka-museum", item="adult")["amount"] == 500
