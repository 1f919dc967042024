"""Partner points under concurrency (the domain, eight threads on their own connections; on
PostgreSQL they really run side by side): a coupon code is redeemed once, an order converts once,
and a premium budget is never overspent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from partners_helpers import AT_ONCE, race
from sqlalchemy import insert

from mkp_core import signing
from server import ledger
from server.db.engine import read, run_write, write
from server.db.idempotency import once
from server.ledger.tables import mykeys
from server.partners import batch, coupons, premiums, registry, service
from server.partners.tables import partner_links
from server.platform.mykey import registry as mykey_registry
from server.platform.operators.service import Operator

CENTRAL = Operator(0, "central", None)


def _setup(engine, holders: int = AT_ONCE):
    now = datetime.now(UTC)
    pem = signing.public_key_pem(signing.generate_terminal_key()).decode()
    with write(engine) as conn:
        partner = registry.add(conn, CENTRAL, "ANA", "全日本空輸", pem)
        for i in range(holders):
            number = conn.execute(
                insert(mykeys).values(
                    mykey_id=f"RACE{i:04d}",
                    folded=f"RACE{i:04d}",
                    status="active",
                    changes_left=3,
                    home_municipality="142018",
                    created_at=now,
                )  # fmt: skip
            ).inserted_primary_key[0]
            conn.execute(
                insert(partner_links).values(
                    partner_id="ANA",
                    member=f"M{i}",
                    mykey=number,
                    status="active",
                    created_at=now,
                    confirmed_at=now,
                )
            )
    return partner


def test_one_coupon_redeemed_once(engine, operators):
    partner = _setup(engine)
    with write(engine) as conn:
        (code,) = coupons.issue_batch(conn, partner, 1, 1000, "test")["codes"]

    def redeem(i: int) -> object:
        def work(conn):
            holder = mykey_registry.find(conn, f"RACE{i:04d}")
            return service.redeem_coupon(conn, holder, code, None, datetime.now(UTC))

        return run_write(engine, work)["points"]

    results = race(redeem)
    assert sorted(map(str, results)) == ["1000"] + ["coupon_used"] * (AT_ONCE - 1)
    with read(engine) as conn:
        assert ledger.balances(conn, "partner:ANA") == {"142018": -1000}
        assert ledger.verify(conn).ok


def test_one_order_converts_once(engine, operators):
    _setup(engine)

    def convert(i: int) -> object:
        def work(conn):
            return once(
                conn,
                "partner:ANA:order-1",
                "partner.convert:ANA",
                {"order_id": "order-1", "member": "M0", "amount": 500},
                lambda: service.convert_online(conn, "ANA", "order-1", "M0", 500, None),
            )[0]["conversion_id"]

        return run_write(engine, work)

    results = race(convert)
    assert len(set(results)) == 1 and isinstance(results[0], int)
    with read(engine) as conn:
        assert ledger.balances(conn, "partner:ANA") == {"142018": -500}


def test_premium_budget_never_overspent(engine, operators):
    partner = _setup(engine)
    now = datetime.now(UTC)
    terms = premiums.CampaignTerms(
        "春", now - timedelta(days=1), now + timedelta(days=1), budget=250, percent=10
    )
    with write(engine) as conn:
        campaign = premiums.add(conn, CENTRAL, partner, terms)

    def convert(i: int) -> object:
        return run_write(
            engine, lambda conn: service.convert_online(conn, "ANA", f"o-{i}", f"M{i}", 1000, None)["premium"]
        )

    results = race(convert)
    assert sum(results) == 250 and sorted(results)[-3:] == [50, 100, 100]  # 100, 100, the rest 50, then none
    with read(engine) as conn:
        assert premiums.get(conn, campaign["campaign_id"])["used"] == 250
        assert ledger.balances(conn, "partner:ANA") == {"142018": -(AT_ONCE * 1000 + 250)}
        assert ledger.verify(conn).ok


def test_batches_at_once_convert_each_order_once_and_share_the_budget(engine, operators):
    """Eight batches at once, sharing two orders and a campaign, beside the single endpoint's path:
    each shared order converts once (every batch gets its conversion), the budget is spent exactly."""
    partner = _setup(engine)
    now = datetime.now(UTC)
    terms = premiums.CampaignTerms(
        "春", now - timedelta(days=1), now + timedelta(days=1), budget=1750, percent=10
    )
    with write(engine) as conn:
        campaign = premiums.add(conn, CENTRAL, partner, terms)
    shared = [batch.OrderIn("shared-1", "M0", 1000), batch.OrderIn("shared-2", "M1", 1000)]

    def convert(i: int) -> object:
        if i == AT_ONCE - 1:  # one of them the single endpoint's way, with a shared order id
            return run_write(
                engine,
                lambda conn: once(
                    conn,
                    batch.order_key("ANA", "shared-2"),
                    batch.order_scope("ANA"),
                    shared[1].body(),
                    lambda: service.convert_online(conn, "ANA", "shared-2", "M1", 1000, None),
                )[0]["conversion_id"],
            )
        orders = [*shared, *(batch.OrderIn(f"o-{i}-{k}", f"M{(i + k) % AT_ONCE}", 1000) for k in range(3))]
        answer = run_write(engine, lambda conn: service.convert_batch(conn, "ANA", orders))
        assert answer["refused"] == 0, answer
        return [a["conversion"]["conversion_id"] for a in answer["results"][:2]]

    results = race(convert)
    firsts = {r[0] for r in results[:-1]}  # type: ignore[index]
    seconds = {r[1] for r in results[:-1]} | {results[-1]}  # type: ignore[index]
    assert len(firsts) == len(seconds) == 1
    with read(engine) as conn:
        assert premiums.get(conn, campaign["campaign_id"])["used"] == 1750
        orders = 2 + (AT_ONCE - 1) * 3
        assert ledger.balances(conn, "partner:ANA") == {"142018": -(orders * 1000 + 1750)}
        assert ledger.verify(conn).ok
