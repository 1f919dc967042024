"""The dashboard's figures as a town reads them: what was granted, spent and is still owed, per
month, department and place; drawn as plain SVG pictures (no script)."""

from __future__ import annotations

from datetime import UTC, datetime

from points_helpers import YOKOSUKA, grant, spend

from server.console import charts, figures
from server.db.engine import read


def test_months_are_japan_months_ending_with_the_current_one():
    found = figures.months(datetime(2026, 12, 31, 15, 30, tzinfo=UTC), 3)  # 1 Jan 2027 00:30 JST
    assert [label for label, _, _ in found] == ["2026-11", "2026-12", "2027-01"]
    assert found[-1][1] == datetime(2026, 12, 31, 15, 0, tzinfo=UTC)


def test_the_figures_add_up_what_the_town_granted_and_spent(client, engine, town):
    grant(client, town.yokosuka, "HANAKO23", 1000)
    grant(client, town.yokosuka, "TAROU234", 500)
    spend(client, town.central, "HANAKO23", "yokosuka-museum", amount=300)
    with read(engine) as conn:
        shown = {f.name: f for f in figures.dashboard(conn, YOKOSUKA)}
        elsewhere = {f.name: f for f in figures.dashboard(conn, "011002")}
    months = shown["months"]
    assert months.rows[-1][1:] == (1500, 300, 0, 0)  # granted, spent, expired, converted this month
    assert months.total(1) == 1500 and elsewhere["months"].total(1) == 0
    assert shown["departments"].rows == [("子育て支援課", 1500)]
    assert shown["places"].rows == [("横須賀美術館", 300)]
    [(code, wallets, on_hold, vouchers)] = [r for r in shown["liability"].rows if r[1]]
    assert (code, wallets, on_hold, vouchers) == (
        YOKOSUKA,
        1200,
        0,
        0,
    )  # the general point code is the town code
    assert shown["breakage"].rows[-1][1:] == (0, 0, 0)
    with read(engine) as conn:  # a chart draws its one figure, the same as the page's
        assert all(figures.one(conn, name, YOKOSUKA) == figure for name, figure in shown.items())
        assert figures.one(conn, "nothing", YOKOSUKA) is None


def test_a_chart_is_a_picture_without_script_in_the_language_asked():
    figure = figures.Figure(
        "months", "Points per month", ("Month", *figures.CATEGORIES), [("2026-12", 5, 1, 0, 0)]
    )
    drawn = charts.svg(figure, lambda words: {"Points per month": "月ごとのポイント"}.get(words, words))
    assert drawn.startswith(b"<?xml") and b"<svg" in drawn
    assert b"<script" not in drawn and "月ごとのポイント".encode() in drawn
