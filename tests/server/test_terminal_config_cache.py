"""A terminal's config download, its place's part kept per process: never stale for the terminal.

Changes are made the way another server worker makes them (the services, in a transaction of
their own, which this process is not told of); the terminal must see them at its next download.
"""

from datetime import UTC, datetime, timedelta

import pytest
import requests
from terminal_helpers import signed

from mkp_core import signing
from mkp_core.errors import MkpError
from server.db.engine import read, write
from server.downloads import api, config
from server.platform import config_versions
from server.platform.municipalities.service import add_municipality, add_point_code
from server.platform.operators.service import Operator
from server.platform.places.service import add_place
from server.points import agreements, price_lists, rules
from server.points.expiry_policy import ExpiryPolicy
from server.terminals import service

CENTRAL = Operator(0, "central", None)
YOKOSUKA, SAPPORO = "142018", "011002"
OFFLINE = {"max_spend": 1, "max_card_day": 1, "max_total": 1, "max_hours": 1, "max_crl_hours": 1}


def _shops_only(effective_from: datetime | None = None) -> rules.RuleChange:
    """Yokosuka's points spendable at shops only: no longer at the museum."""
    return rules.RuleChange(effective_from, ["shop"], [], ExpiryPolicy(), 1, None, False)


def _engine(app):
    return app.extensions["mkp.engine"]


def _download(client, enrolled):
    terminal_id, key, _ = enrolled
    r = signed(client, key, terminal_id, "/v1/terminal/config")
    assert r.status_code == 200, r.json
    return r


def _version(app) -> int:
    with read(_engine(app)) as conn:
        return config_versions.current(conn)


def test_a_change_by_another_worker_shows_at_the_next_download(client, enrolled, app):
    first = _download(client, enrolled)
    assert first.json["point_codes"] == [YOKOSUKA] and first.json["price_list"] == []
    assert _download(client, enrolled).json == first.json  # kept: the same answer
    with write(_engine(app)) as conn:
        rules.add_rule(conn, CENTRAL, YOKOSUKA, _shops_only())
        price_lists.set_item(conn, CENTRAL, "yokosuka-museum", "adult", "一般", 500)
    changed = _download(client, enrolled)
    assert changed.json["point_codes"] == []
    assert changed.json["price_list"] == [{"code": "adult", "name": "一般", "price": 500}]
    assert changed.headers["ETag"] != first.headers["ETag"]
    terminal_id, key, _ = enrolled
    for etag, status in ((first.headers["ETag"], 200), (changed.headers["ETag"], 304)):
        req = requests.Request(
            "GET", "http://localhost/v1/terminal/config", auth=signing.TerminalAuth(terminal_id, key)
        ).prepare()
        again = client.get("/v1/terminal/config", headers={**dict(req.headers), "If-None-Match": etag})
        assert again.status_code == status


def test_a_future_rule_applies_at_its_time_without_any_write(client, enrolled, app):
    terminal_id = enrolled[0]
    now = datetime.now(UTC)
    starts = now + timedelta(days=1)
    with write(_engine(app)) as conn:
        rules.add_rule(conn, CENTRAL, YOKOSUKA, _shops_only(starts), now=now)
    assert _download(client, enrolled).json["point_codes"] == [YOKOSUKA]  # kept until ``starts``
    version = _version(app)
    cache = app.extensions[api.PLACE_CONFIGS]
    for at, codes in (
        (starts - timedelta(seconds=1), [YOKOSUKA]),
        (starts, []),
        (starts + timedelta(days=1), []),
    ):
        with read(_engine(app)) as conn:
            kept = config.terminal_config(conn, cache, terminal_id, OFFLINE, at)
            assert kept == service.terminal_config(conn, terminal_id, OFFLINE, at)
        assert kept["point_codes"] == codes, at
    assert _version(app) == version  # nothing was written: time alone changed the answer


def _agree(conn, by_both=True):
    agreements.record(conn, CENTRAL, SAPPORO, YOKOSUKA, by=SAPPORO)
    if by_both:
        agreements.record(conn, CENTRAL, SAPPORO, YOKOSUKA, by=YOKOSUKA)


#: Every writer of what a config is computed from: (what it does first, unmeasured; the write;
#: whether the museum's terminal sees a difference).
WRITERS = {
    "rule": (None, lambda conn: rules.add_rule(conn, CENTRAL, YOKOSUKA, _shops_only()), True),
    "rule listing the place": (
        None,
        lambda conn: rules.add_rule(
            conn,
            CENTRAL,
            SAPPORO,
            rules.RuleChange(None, ["office"], ["yokosuka-museum"], ExpiryPolicy(), 1, None, False),
        ),
        True,
    ),
    "agreement, one side": (None, lambda conn: _agree(conn, by_both=False), False),
    "agreement, both sides": (None, _agree, True),
    "agreement ended": (
        _agree,
        lambda conn: agreements.end(conn, CENTRAL, SAPPORO, YOKOSUKA, by=YOKOSUKA),
        True,
    ),
    "price added": (
        None,
        lambda conn: price_lists.set_item(conn, CENTRAL, "yokosuka-museum", "adult", "一般", 500),
        True,
    ),
    "price changed": (
        lambda conn: price_lists.set_item(conn, CENTRAL, "yokosuka-museum", "adult", "一般", 500),
        lambda conn: price_lists.set_item(conn, CENTRAL, "yokosuka-museum", "adult", "一般", 400),
        True,
    ),
    "price removed": (
        lambda conn: price_lists.set_item(conn, CENTRAL, "yokosuka-museum", "adult", "一般", 500),
        lambda conn: price_lists.remove_item(conn, CENTRAL, "yokosuka-museum", "adult"),
        True,
    ),
    "event point code": (None, lambda conn: add_point_code(conn, YOKOSUKA, "FEST", "横須賀まつり"), True),
    "municipality": (None, lambda conn: add_municipality(conn, "131016"), False),
    "place": (
        None,
        lambda conn: add_place(conn, CENTRAL, "yokosuka-shop", "商店", "shop", YOKOSUKA, None),
        False,
    ),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_every_writer_bumps_the_version(client, enrolled, app, writer):
    before, change, visible = WRITERS[writer]
    if before is not None:
        with write(_engine(app)) as conn:
            before(conn)
    first = _download(client, enrolled).json  # kept by this process
    version = _version(app)
    with write(_engine(app)) as conn:
        change(conn)
    assert _version(app) > version
    after = _download(client, enrolled).json
    with read(_engine(app)) as conn:
        fresh = service.terminal_config(conn, enrolled[0], after["offline"])
    assert {k: after[k] for k in fresh} == fresh  # what an uncached computation answers now
    assert (after != first) == visible


def test_a_refused_change_leaves_the_version(client, enrolled, app):
    version = _version(app)
    with pytest.raises(MkpError, match="cannot apply from"), write(_engine(app)) as conn:
        rules.add_rule(conn, CENTRAL, YOKOSUKA, _shops_only(datetime.now(UTC) - timedelta(days=1)))
    assert _version(app) == version


def test_kept_places_are_bounded_and_a_newer_version_drops_older_ones(monkeypatch):
    computed = []

    def place_config(conn, place_id, at):
        computed.append(place_id)
        return {"place": {"id": place_id}}, None

    monkeypatch.setattr(config.service, "place_config", place_config)
    kept = config.PlaceConfigs(size=2)
    now = datetime.now(UTC)
    for place in ("a", "b", "a", "c", "a", "b"):
        kept.get(None, place, 1, now)
    assert computed == ["a", "b", "c", "b"] and len(kept) == 2  # b was the least recently used
    kept.get(None, "a", 2, now)
    assert len(kept) == 1 and computed[-1] == "a"
