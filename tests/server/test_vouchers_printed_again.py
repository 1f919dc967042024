"""The "printed" confirmation sent again (its answer lost, or sent at the next sync), on SQLite and
PostgreSQL: the same client id gets the first answer, a new one the same answer and no change; a
voucher used since is still answered as printed; one voided before the confirmation arrived (the
expiry sweep: it was never confirmed) is refused with ``voucher_voided``, saying why, and nothing
changes; bad serials are refused with their code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from mkp_testing import tables_snapshot
from points_helpers import YOKOSUKA, error_of, post
from terminal_helpers import new_code, signed

from mkp_core.errors import Conflict
from server.db.engine import write
from server.points.expiry import sweep
from server.vouchers import service


@pytest.fixture
def central(client, town):
    post(
        client,
        town.central,
        f"/v1/point-codes/{YOKOSUKA}/rules",
        {"vouchers": True, "place_kinds": ["shop", "museum"]},
    )
    return town.central


def _issue(client, headers, **extra):
    body = {"point_code": YOKOSUKA, "amount": 500, "count": 1, **extra}
    return post(client, headers, "/v1/vouchers/batches", body, 201)["vouchers"][0]


def _printed(client, headers, serials, client_id):
    return client.post(
        "/v1/vouchers/printed", json={"client_id": client_id, "serials": serials}, headers=headers
    )


def _show(client, headers, serial):
    return client.get(f"/v1/vouchers/{serial}", headers=headers).json


def test_a_confirmation_sent_twice_is_taken_once_with_the_same_answer(client, engine, central):
    serial = _issue(client, central)["serial"]
    first = _printed(client, central, [serial], "printed-again-0001")
    assert first.status_code == 200 and first.json == {"printed": 1, "serials": [serial]}
    printed_at = _show(client, central, serial)["printed_at"]
    before = tables_snapshot(engine)
    again = _printed(client, central, [serial], "printed-again-0001")  # the answer was lost
    assert (again.status_code, again.json) == (200, first.json)
    assert tables_snapshot(engine) == before
    other = _printed(client, central, [serial], "printed-again-0002")  # sent again under a new id
    assert (other.status_code, other.json) == (200, first.json)
    shown = _show(client, central, serial)
    assert (shown["status"], shown["printed_at"]) == ("printed", printed_at)


def test_a_voucher_used_since_is_still_answered_as_printed(client, engine, central, town):
    voucher = _issue(client, central)
    _printed(client, central, [voucher["serial"]], "printed-used-0001")
    from terminal_helpers import csr_for

    from mkp_core import signing

    key = signing.generate_terminal_key()
    code = new_code(client, town, place="yokosuka-shop", name="counter printed-used")["code"]
    tid = client.post("/v1/enroll", json={"code": code, "csr": csr_for(key)}).json["terminal_id"]
    used = signed(
        client,
        key,
        tid,
        "/v1/terminal/vouchers/redeem",
        method="POST",
        body={"client_id": "printed-used-r1", "voucher": voucher["text"]},
    )
    assert used.status_code == 201, used.json
    late = _printed(client, central, [voucher["serial"]], "printed-used-0002")
    assert (late.status_code, late.json["printed"]) == (200, 1)
    assert _show(client, central, voucher["serial"])["status"] == "redeemed"


def test_a_voucher_voided_before_its_confirmation_arrived_is_refused_clearly(client, engine, central):
    last_day = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    serial = _issue(client, central, last_day=last_day)["serial"]
    later = datetime.now(UTC) + timedelta(days=5)
    with write(engine) as conn:  # the sweep finds it still issued: never printed, voided
        sweep(conn, "sweep-printed-again-1", later, "operator:central", now=later)
    before = tables_snapshot(engine)
    late = _printed(client, central, [serial], "printed-late-0001")
    assert error_of(late) == (409, "voucher_voided")
    assert "never_printed" in late.json["error"]["message"] and "not valid" in late.json["error"]["message"]
    assert tables_snapshot(engine) == before
    assert _show(client, central, serial)["status"] == "voided"


def test_an_expired_voucher_cannot_be_confirmed(client, engine, central):
    last_day = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    serial = _issue(client, central, last_day=last_day)["serial"]
    _printed(client, central, [serial], "printed-exp-0001")
    later = datetime.now(UTC) + timedelta(days=5)
    with write(engine) as conn:
        sweep(conn, "sweep-printed-again-2", later, "operator:central", now=later)
        with pytest.raises(Conflict) as refused:
            service.mark_printed(conn, [serial], None, now=later)
    assert refused.value.code == "voucher_expired"


@pytest.mark.parametrize(
    ("serials", "status", "code"),
    [
        (["not-a-serial"], 422, "invalid_voucher_serial"),
        ([], 422, "invalid_voucher_serial"),
        (["AAAA-AAAA-AAAA-AAAA"], 404, "unknown_voucher"),
    ],
)
def test_bad_confirmations_are_refused_and_change_nothing(client, engine, central, serials, status, code):
    _issue(client, central)
    before = tables_snapshot(engine)
    r = _printed(client, central, serials, "printed-bad-0001")
    got = error_of(r)
    assert got == (status, code)
    assert tables_snapshot(engine) == before


def test_a_serial_listed_twice_is_refused(client, engine, central):
    serial = _issue(client, central)["serial"]
    before = tables_snapshot(engine)
    assert error_of(_printed(client, central, [serial, serial], "printed-dup-0001"))[1] == "duplicate_serial"
    assert tables_snapshot(engine) == before
