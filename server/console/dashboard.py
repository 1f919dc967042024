"""The dashboard: each figure as a chart (an SVG picture drawn on the server), its table and its CSV."""

from __future__ import annotations

import csv
import io

from flask import Response

from mkp_core.errors import NotFound
from server.console import charts, figures
from server.console.blueprint import bp, me, staff_page
from server.db.engine import read
from server.site import gettext, render
from server.web.context import engine

#: A chart is a picture: its own policy lets pygal's inline style draw and nothing run.
PICTURE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"


def _figures() -> list[figures.Figure]:
    with read(engine()) as conn:
        return figures.dashboard(conn, me().municipality)


def _figure(name: str) -> figures.Figure:
    with read(engine()) as conn:
        found = figures.one(conn, name, me().municipality)
    if found is None:
        raise NotFound("unknown_figure", "This page does not exist.")
    return found


@bp.get("/")
@staff_page
def dashboard() -> Response:
    shown = _figures()
    granted = shown[0].total(1)
    return render("console/dashboard.html", figures=shown, granted=granted)


@bp.get("/charts/<name>.svg")
@staff_page
def chart(name: str) -> Response:
    picture = charts.svg(_figure(name), gettext)
    response = Response(picture, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = PICTURE_POLICY
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/figures/<name>.csv")
@staff_page
def figure_csv(name: str) -> Response:
    figure = _figure(name)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([gettext(column) for column in figure.columns])
    writer.writerows(figure.rows)
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")  # a BOM: Excel reads UTF-8
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response
