"""The municipal console (``/console/``): a town's staff join, configure, grant, watch and settle.

Why pages over the existing services: every rule (scopes, budgets, rules, settlement) already
lives in its domain's service; the console only turns a logged-in member of staff into a scoped
principal (:class:`server.staff.service.StaffMember`) and calls those services, so a page can
never allow what the API refuses. ``init_app`` installs the pages and the staff endpoints.
"""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    from server.console import (  # noqa: F401  # each module adds its pages
        configure,
        dashboard,
        grant_pages,
        operations,
        pages,
        passkey_pages,
        place_pages,
        programme_pages,
        records,
        rule_pages,
    )
    from server.console.blueprint import bp as pages_bp
    from server.staff.api import bp as staff_bp

    app.register_api(staff_bp)
    app.register_blueprint(pages_bp)
