"""The balance chart: each point code's points by the day they expire, drawn on the server as SVG.

Why on the server: no chart library is fetched by the browser (no CDN, no script at all); pygal
draws the SVG here. It is served as an image of its own (``<img>``), so its inline styles are
allowed by that response's own policy and never by the page's; the page shows the same numbers
as a table for screen readers and for anyone without images.
"""

from __future__ import annotations

import re
from datetime import datetime

import pygal
from pygal.style import Style

from mkp_core.dates import last_valid_day
from server.points.balances import Held

#: The chart's own Content-Security-Policy: its styles are inline, nothing else is allowed.
CHART_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1f24",
    foreground_strong="#1b1f24",
    foreground_subtle="#4a5560",
    colors=("#0b5cad", "#1a6b35", "#a4161a", "#6f42c1", "#b35900"),
    font_family="IPAGothic, 'Noto Sans CJK JP', sans-serif",
)


def lots_by_day(held: list[Held], now: datetime, never: str) -> tuple[list[str], dict[str, list[int | None]]]:
    """The chart's columns (last valid days, earliest first; ``never`` last) and each code's points in them."""
    days: set[str] = set()
    per_code: dict[str, dict[str, int]] = {}
    for h in held:
        amounts = per_code.setdefault(h.name or h.point_code, {})
        for when, points in h.lots:
            if when is not None and when <= now:
                continue  # expired: not spendable, the sweep takes it
            day = last_valid_day(when).isoformat() if when is not None else never
            days.add(day)
            amounts[day] = amounts.get(day, 0) + points
    columns = sorted(d for d in days if d != never) + ([never] if never in days else [])
    return columns, {name: [amounts.get(c) for c in columns] for name, amounts in per_code.items() if amounts}


def balance_chart(held: list[Held], now: datetime, title: str, never: str) -> str:
    """The SVG (text) of the holder's points by the day they expire."""
    columns, series = lots_by_day(held, now, never)
    chart = pygal.StackedBar(
        width=640,
        height=320,
        style=STYLE,
        js=[],
        title=title,
        x_label_rotation=30 if len(columns) > 4 else 0,
        legend_at_bottom=True,
        print_values=False,
        show_y_guides=True,
        disable_xml_declaration=True,
    )
    chart.x_labels = columns
    for name, values in series.items():
        chart.add(name, values)
    svg: str = chart.render(is_unicode=True)
    return re.sub(r"<script\b.*?</script>", "", svg, flags=re.S)  # pygal's config for its own JS
