"""The dashboard's charts: a :class:`~server.console.figures.Figure` drawn as SVG by pygal, on the server.

Why on the server: town offices and kiosks often have no internet, and the pages' CSP forbids
scripts from elsewhere, so no chart library is loaded in the browser. pygal's interactive script
is turned off (``js=[]``): the SVG is a plain picture, shown with ``<img>``, its table beside it.
Labels come translated (``say``) so one figure draws in either language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pygal
from pygal.style import Style

from server.console.figures import Figure

FONT = "IPAGothic, 'IPA Gothic', 'Noto Sans CJK JP', sans-serif"
STYLE = Style(
    font_family=FONT,
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1f24",
    foreground_strong="#1b1f24",
    foreground_subtle="#4a5560",
    colors=("#0b5cad", "#1a6b35", "#a4161a", "#8a5a00", "#5b3e96"),
    title_font_size=18,
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    value_font_size=12,
    no_data_font_size=24,
)
#: Which pygal chart draws each figure: series per column (by month) or one bar per row.
KINDS: dict[str, Any] = {
    "months": pygal.Bar,
    "departments": pygal.HorizontalBar,
    "places": pygal.HorizontalBar,
    "liability": pygal.StackedBar,
    "vouchers": pygal.Bar,
    "breakage": pygal.Line,
}
SCRIPT = re.compile(rb"<script.*?</script>", re.S)
ROWS_AS_BARS = frozenset({"departments", "places"})


def svg(figure: Figure, say: Callable[[str], str]) -> bytes:
    """``figure`` as an SVG picture, its words in the language ``say`` translates to."""
    chart = KINDS[figure.name](
        style=STYLE,
        js=[],
        width=720,
        height=360,
        title=say(figure.title),
        legend_at_bottom=True,
        x_label_rotation=30 if len(figure.rows) > 6 else 0,
        print_values=False,
        show_y_guides=True,
        no_data_text=say("No data yet"),
        value_formatter=lambda value: f"{value:,.0f}",
    )
    if figure.name in ROWS_AS_BARS:
        for label, value in figure.rows:
            chart.add(str(label), [value])
    else:
        chart.x_labels = [str(row[0]) for row in figure.rows]
        for index, column in enumerate(figure.columns[1:], start=1):
            if figure.name == "breakage" and index != len(figure.columns) - 1:
                continue  # the line shows the share; the table has the points
            chart.add(say(column), [row[index] for row in figure.rows])
    drawn: bytes = chart.render()
    return SCRIPT.sub(b"", drawn)  # pygal's config script: nothing runs in a picture anyway
