"""My Page itself: what a logged-in resident sees, and each thing they do.

Pages: ``/mypage/`` (MyKey ID, balances with a chart, conversions on hold), ``history`` (paged,
and ``history.csv``), ``links`` (services and partner links), ``points`` (a coupon, an event, a
reward, the home municipality), ``account`` (the MyKey ID, sessions, passkeys and their
removal, suspension).
Every view is behind the guard, reads and acts for the session's own holder only
(:mod:`server.mypage.resident`), and answers a refusal with one line in the visitor's language.
A form that worked is answered by a redirect (sending it again does nothing twice); a link
code, shown once, is shown on the answer page itself and is never put in a cookie.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from mkp_core.errors import MkpError, NotFound
from server import logins
from server.config import ServerConfig
from server.db.engine import read, write
from server.logins import passkeys
from server.mypage import chart, forms
from server.mypage import resident as residents
from server.mypage.blueprint import KIND, bp, engine, guard, me, session
from server.mypage.words import refusal
from server.partners.throttle import WrongCode
from server.platform.municipalities.service import list_municipalities
from server.points.balances import Held
from server.points.rewards import service as rewards
from server.site import gettext, render


def _config() -> ServerConfig:
    found: ServerConfig = current_app.extensions["mkp.config"]
    return found


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _done(message: str, endpoint: str) -> ResponseReturnValue:
    flash(message, "ok")
    return redirect(url_for(endpoint))


# --- home ----------------------------------------------------------------------------------------


def _holding_rows(held: list[Held], now: datetime) -> list[dict[str, Any]]:
    rows = []
    for h in held:
        holding = h.holding(now)
        lots = [(when, points) for when, points in h.lots if when is None or when > now]
        rows.append({"code": h.point_code, "name": h.name, "holding": holding, "lots": lots})
    return rows


@bp.get("/")
@guard
def home() -> ResponseReturnValue:
    now = datetime.now(UTC)
    with read(engine()) as conn:
        r = me(conn)
        held = residents.holdings(conn, r)
        on_hold = residents.conversions(conn, r)
    rows = _holding_rows(held, now)
    return _private(render("mypage/home.html", me=r.holder, rows=rows, conversions=on_hold, now=now))


@bp.get("/chart.svg")
@guard
def balance_chart() -> ResponseReturnValue:
    now = datetime.now(UTC)
    with read(engine()) as conn:
        held = residents.holdings(conn, me(conn))
    svg = chart.balance_chart(held, now, gettext("Points by the day they expire"), gettext("No expiry"))
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = chart.CHART_POLICY
    return _private(response)


# --- history -------------------------------------------------------------------------------------


@bp.get("/history")
@guard
def history() -> ResponseReturnValue:
    page = request.args.get("page", "1")
    number = int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1
    with read(engine()) as conn:
        rows, more = residents.history(conn, me(conn), number)
    return _private(render("mypage/history.html", rows=rows, page=number, more=more))


@bp.get("/history.csv")
@guard
def history_csv() -> ResponseReturnValue:
    with read(engine()) as conn:
        text = residents.history_csv(conn, me(conn))
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="mykey-points-history.csv"'
    return _private(response)


# --- links: services and partners ----------------------------------------------------------------


def _links_page(status: int = 200, **extra: Any) -> Response:
    with read(engine()) as conn:
        r = me(conn)
        services = residents.service_links_of(conn, r)
        partner_links = residents.partner_links_of(conn, r)
        choices = [(p["id"], p["name"]) for p in residents.active_partners(conn)]
    form = extra.pop("form", None) or forms.partner_link_form(choices)
    return _private(
        render(
            "mypage/links.html",
            status=status,
            services=services,
            partner_links=partner_links,
            form=form,
            **extra,
        )
    )


@bp.get("/links")
@guard
def links() -> ResponseReturnValue:
    return _links_page()


@bp.post("/links/unlink")
@guard
def unlink() -> ResponseReturnValue:
    service = request.form.get("service", "")
    try:
        with write(engine()) as conn:
            residents.unlink_service(conn, me(conn), service)
    except MkpError as e:
        return _links_page(status=409, message=refusal(e))
    return _done(gettext("The service link was removed."), "mypage.links")


@bp.post("/links/partner")
@guard
def link_partner() -> ResponseReturnValue:
    with read(engine()) as conn:
        choices = [(p["id"], p["name"]) for p in residents.active_partners(conn)]
    form = forms.partner_link_form(choices)
    if not form.validate():
        return _links_page(status=422, form=form)
    try:
        with write(engine()) as conn:
            asked = residents.request_partner_link(conn, me(conn), form.partner.data, form.member.data)
    except MkpError as e:
        return _links_page(status=409, form=form, message=refusal(e))
    return _links_page(asked=asked)


# --- points: a coupon, an event, a reward, the home municipality ----------------------------------


def _event_choices(events: list[dict[str, Any]], held: list[Held]) -> list[tuple[str, str]]:
    """Each event the resident can support, with how many of its points they hold."""
    balance = {h.point_code: h.balance for h in held}
    return [
        (
            e["point_code"],
            gettext(
                "%(name)s (you hold %(points)s)",
                name=e["name"],
                points="{:,}".format(balance[e["point_code"]]),
            ),
        )
        for e in events
    ]


def _points_page(status: int = 200, **given: Any) -> Response:
    now = datetime.now(UTC)
    with read(engine()) as conn:
        r = me(conn)
        held = residents.holdings(conn, r)
        events = residents.supportable_events(conn, r, held)
        offered = [w for w in rewards.list_rewards(conn, now=now) if w["starts_at"] <= now]
        towns = [(m["code"], f"{m['prefecture']} {m['name']}") for m in list_municipalities(conn)]
    destinations = [(h.point_code, h.name) for h in held]
    page_forms = {
        "coupon": given.pop("coupon", None) or forms.coupon_form(destinations),
        "support": given.pop("support", None) or forms.support_form(_event_choices(events, held)),
        "home": given.pop("home", None) or forms.home_form(r.holder.home_municipality, towns),
        "claim": forms.claim_form(),
    }
    return _private(
        render(
            "mypage/points.html",
            status=status,
            me=r.holder,
            events=events,
            rewards=offered,
            point_names={h.point_code: h.name for h in held},
            actions=page_forms,
            **given,
        )
    )


@bp.get("/points")
@guard
def points() -> ResponseReturnValue:
    return _points_page()


@bp.post("/coupon")
@guard
def redeem_coupon() -> ResponseReturnValue:
    form = forms.coupon_form([])
    if not form.validate():
        return _points_page(status=422, coupon=form)
    body = {"code": form.code.data, "destination": form.destination.data or None}
    try:
        with write(engine()) as conn:
            answer = residents.redeem_coupon(conn, me(conn), form.client_id.data, body, datetime.now(UTC))
        if isinstance(answer, WrongCode):
            raise answer
    except MkpError as e:
        return _points_page(status=409, coupon=form, message=refusal(e))
    due = str(answer.get("due_at", ""))[:10]
    return _done(
        gettext(
            "The coupon's %(points)s points are on hold until %(day)s.",
            points=f"{answer['points']:,}",
            day=due,
        ),
        "mypage.points",
    )


@bp.post("/support")
@guard
def support_event() -> ResponseReturnValue:
    form = forms.support_form([])
    if not form.validate():
        return _points_page(status=422, support=form)
    try:
        with write(engine()) as conn:
            residents.support(
                conn,
                me(conn),
                form.client_id.data,
                form.point_code.data,
                form.amount.data,
                form.nickname.data or None,
                datetime.now(UTC),
            )
    except MkpError as e:
        return _points_page(status=409, support=form, message=refusal(e))
    return _done(
        gettext("Thank you: %(points)s points went to the event.", points=f"{form.amount.data:,}"),
        "mypage.points",
    )


@bp.post("/claim")
@guard
def claim_reward() -> ResponseReturnValue:
    form = forms.claim_form()
    if not form.validate():
        return _points_page(status=422)
    try:
        with write(engine()) as conn:
            claimed = residents.claim(
                conn, me(conn), form.client_id.data, form.reward.data, datetime.now(UTC)
            )
    except MkpError as e:
        return _points_page(status=409, message=refusal(e))
    return _done(
        gettext(
            "Claimed. Your claim number is %(number)s: show it where you collect the reward.",
            number=claimed["claim_number"],
        ),
        "mypage.points",
    )


@bp.post("/home-municipality")
@guard
def set_home() -> ResponseReturnValue:
    form = forms.home_form(None, [])
    if not form.validate():
        return _points_page(status=422, home=form)
    try:
        with write(engine()) as conn:
            residents.set_home(conn, me(conn), form.municipality.data or None)
    except MkpError as e:
        return _points_page(status=409, home=form, message=refusal(e))
    return _done(gettext("Your home municipality was saved."), "mypage.points")


# --- account: the MyKey ID, sessions, passkeys, suspension ---------------------------------------


def _account_page(status: int = 200, **given: Any) -> Response:
    s = session()
    with read(engine()) as conn:
        r = me(conn)
        live = logins.sessions_of(conn, s.account)
        keys = passkeys.passkeys_of(conn, s.account.id)
    form = given.pop("form", None) or forms.change_id_form()
    return _private(
        render(
            "mypage/account.html",
            status=status,
            me=r.holder,
            login=s,
            sessions=live,
            passkeys=keys,
            form=form,
            **given,
        )
    )


@bp.get("/account")
@guard
def account() -> ResponseReturnValue:
    return _account_page()


@bp.post("/id")
@guard
def change_id() -> ResponseReturnValue:
    form = forms.change_id_form()
    if not form.validate():
        return _account_page(status=422, form=form)
    tries = _config().mykey_id_tries_hour
    try:
        with write(engine()) as conn:
            changed = residents.change_id(conn, me(conn), form.new_id.data.strip(), tries, datetime.now(UTC))
    except MkpError as e:
        return _account_page(status=409, form=form, message=refusal(e))
    return _done(gettext("Your MyKey ID is now %(id)s.", id=changed.mykey_id), "mypage.account")


@bp.post("/sessions/<int:session_id>/end")
@guard
def end_session(session_id: int) -> ResponseReturnValue:
    s = session()
    if session_id == s.id:
        logins.log_out(KIND)
        return _done(gettext("You have logged out."), "mypage.login")
    with write(engine()) as conn:
        logins.end_session(conn, s.account, session_id)
    return _done(gettext("That session was ended."), "mypage.account")


@bp.post("/logout-everywhere")
@guard
def logout_everywhere() -> ResponseReturnValue:
    ended = logins.log_out_everywhere(KIND)
    return _done(gettext("You were logged out everywhere (%(count)s sessions).", count=ended), "mypage.login")


@bp.post("/suspend")
@guard
def suspend() -> ResponseReturnValue:
    if request.form.get("confirm") != "yes":
        return _account_page(status=422, message=gettext("Tick the box to confirm that your card is lost."))
    with write(engine()) as conn:
        residents.suspend(conn, me(conn), datetime.now(UTC))
    return _done(
        gettext(
            "Your MyKey ID is suspended: nobody can use your points with the card. Ask your town hall to resume it."
        ),
        "mypage.account",
    )


@bp.post("/passkeys/remove")
@guard
def remove_passkey() -> ResponseReturnValue:
    """Remove one of the resident's passkeys: the first POST asks in words, the second (with
    ``confirm=yes``) removes. Another account's key is missing (404); the last way in stays."""
    s = session()
    credential_id = request.form.get("passkey", "")
    if request.form.get("confirm") == "yes":  # sent twice: one removal, the same answer
        try:
            with write(engine()) as conn:
                name = passkeys.remove_own_passkey_once(
                    conn, s.account.id, credential_id, request.form.get("client_id", "")
                )
        except NotFound:
            raise
        except MkpError as e:
            return _account_page(status=409 if e.kind == "conflict" else 422, message=refusal(e))
        return _done(gettext("The passkey %(name)s was removed.", name=name), "mypage.account")
    with read(engine()) as conn:
        key = passkeys.own_passkey(conn, s.account.id, credential_id)
        last = passkeys.is_last_way_in(conn, s.account.id)
    if last:
        return _account_page(status=409, message=refusal(MkpError("last_way_to_log_in", "")))
    return _private(render("mypage/passkey_remove.html", passkey=key, client_id=uuid.uuid4().hex))
