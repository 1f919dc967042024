"""Paper vouchers through the API, on SQLite and PostgreSQL: issue into the liability,
printed, redeemed once at a terminal (``voucher_used`` after, saying when and where), voided and
reprinted, keys rotated and withdrawn, expiry, two terminals racing for one serial, bad input."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from mkp_testing import tables_snapshot
from phone_page import form_fields, refusal_code
from points_helpers import DEPARTMENT, YOKOSUKA, error_of, new_id, post
from terminal_helpers import csr_for, new_code, signed

from mkp_core import signing
from mkp_core.keyring import KeyRing
from mkp_core.voucher import VoucherExpired, decode_voucher
from server.db.engine import read, write
from server.ledger.accounts import balances
from server.vouchers import keys, service

LIABILITY = f"voucher:{YOKOSUKA}"


def _terminal(client, operators, place):
    key = signing.generate_terminal_key()
    code = new_code(client, operators, place=place, name=f"counter {new_id()}")["code"]
    r = client.post("/v1/enroll", json={"code": code, "csr": csr_for(key)})
    assert r.status_code == 201, r.json
    return r.json["terminal_id"], key


def _issue(client, headers, count=1, amount=500, **extra):
    body = {"point_code": YOKOSUKA, "amount": amount, "count": count, **extra}
    return post(client, headers, "/v1/vouchers/batches", body, 201)


def _printed(client, headers, batch):
    return post(
        client, headers, "/v1/vouchers/printed", {"serials": [v["serial"] for v in batch["vouchers"]]}, 200
    )


def _redeem(client, terminal, **body):
    tid, key = terminal
    return signed(
        client,
        key,
        tid,
        "/v1/terminal/vouchers/redeem",
        method="POST",
        body={"client_id": new_id("r"), **body},
    )


def _verify_ok(client, headers):
    report = client.get("/v1/ledger/verify", headers=headers).json
    assert report["ok"], report["breaches"]


def _balance(engine, owner, code=YOKOSUKA):
    with read(engine) as conn:
        return balances(conn, owner).get(code, 0)


def test_issue_print_redeem_once_then_voucher_used(client, engine, vouchers_town):
    central = vouchers_town.central
    batch = _issue(client, central, count=3)
    assert batch["total"] == 1500 and len(batch["vouchers"]) == 3
    assert batch["municipality_name"] == "横須賀市" and batch["places"]
    assert _balance(engine, LIABILITY) == 1500 and _balance(engine, f"muni:{YOKOSUKA}") == -1500
    shop, museum = (
        _terminal(client, vouchers_town, "yokosuka-shop"),
        _terminal(client, vouchers_town, "yokosuka-museum"),
    )
    first = batch["vouchers"][0]
    assert error_of(_redeem(client, shop, voucher=first["text"])) == (409, "voucher_not_printed")
    _printed(client, central, batch)
    r = _redeem(client, shop, voucher=first["text"])
    assert r.status_code == 201, r.json
    assert (r.json["amount"], r.json["place"], r.json["serial"]) == (500, "yokosuka-shop", first["serial"])
    assert _balance(engine, "payee:yokosuka-shop") == 500 and _balance(engine, LIABILITY) == 1000
    again = _redeem(client, museum, voucher=first["text"])
    assert error_of(again) == (409, "voucher_used")
    assert "どぶ板商店" in again.json["error"]["message"] and "JST" in again.json["error"]["message"]
    assert error_of(_redeem(client, shop, serial=first["serial"].lower())) == (409, "voucher_used")
    shown = client.get(f"/v1/vouchers/{first['serial']}", headers=central).json
    assert (shown["status"], shown["redeemed_place"]) == ("redeemed", "yokosuka-shop")
    typed = _redeem(client, museum, serial=batch["vouchers"][1]["serial"].replace("-", " "))
    assert typed.status_code == 201, typed.json
    assert _balance(engine, "payee:yokosuka-museum") == 500
    _verify_ok(client, central)


def test_a_retried_redemption_gets_the_first_answer(client, engine, vouchers_town):
    batch = _issue(client, vouchers_town.central)
    _printed(client, vouchers_town.central, batch)
    tid, key = _terminal(client, vouchers_town, "yokosuka-shop")
    body = {"client_id": "redeem-once-0001", "voucher": batch["vouchers"][0]["text"]}
    answers = [
        signed(client, key, tid, "/v1/terminal/vouchers/redeem", method="POST", body=body) for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 201], [a.json for a in answers]
    assert answers[0].json == answers[1].json
    assert _balance(engine, "payee:yokosuka-shop") == 500


def test_vouchers_not_allowed_for_a_code_changes_nothing(client, engine, town):
    before = tables_snapshot(engine)
    r = client.post(
        "/v1/vouchers/batches",
        json={"client_id": new_id(), "point_code": YOKOSUKA, "amount": 500, "count": 2},
        headers=town.central,
    )
    assert error_of(r) == (403, "vouchers_not_allowed")
    assert tables_snapshot(engine) == before


def test_a_batch_from_a_department_voided_gives_the_budget_back(client, engine, vouchers_town):
    central = vouchers_town.central
    owner = f"dept:{DEPARTMENT}"
    batch = _issue(client, central, count=2, amount=300, department=DEPARTMENT)
    assert batch["source"] == owner and _balance(engine, owner) == -600
    serials = [v["serial"] for v in batch["vouchers"]]
    voided = post(client, central, "/v1/vouchers/void", {"serials": serials, "reason": "print_failed"}, 200)
    assert voided["points_returned"] == 600
    assert _balance(engine, owner) == 0 and _balance(engine, LIABILITY) == 0
    again = post(client, central, "/v1/vouchers/void", {"serials": serials}, 200)
    assert again["points_returned"] == 0  # voided once
    shop = _terminal(client, vouchers_town, "yokosuka-shop")
    assert error_of(_redeem(client, shop, voucher=batch["vouchers"][0]["text"])) == (409, "voucher_voided")
    _verify_ok(client, central)


def test_reprint_voids_the_old_serial_first(client, engine, vouchers_town):
    central = vouchers_town.central
    batch = _issue(client, central)
    _printed(client, central, batch)
    old = batch["vouchers"][0]
    new = post(client, central, f"/v1/vouchers/{old['serial']}/reprint", {}, 201)
    assert new["replaces"] == old["serial"] and new["vouchers"][0]["serial"] != old["serial"]
    assert new["vouchers"][0]["expires_at"] == old["expires_at"]
    assert client.get(f"/v1/vouchers/{old['serial']}", headers=central).json["status"] == "voided"
    _printed(client, central, new)
    shop = _terminal(client, vouchers_town, "yokosuka-shop")
    assert error_of(_redeem(client, shop, voucher=old["text"])) == (409, "voucher_voided")
    assert _redeem(client, shop, voucher=new["vouchers"][0]["text"]).status_code == 201
    assert _balance(engine, LIABILITY) == 0 and _balance(engine, f"muni:{YOKOSUKA}") == -500
    _verify_ok(client, central)


def test_rotated_keys_still_verify_and_withdrawn_keys_are_refused(client, engine, vouchers_town):
    central = vouchers_town.central
    old = _issue(client, central, count=2)
    _printed(client, central, old)
    rotated = post(client, central, "/v1/voucher-keys/rotate", {}, 201)
    assert rotated["key_id"] != old["key_id"]
    new = _issue(client, central)
    assert new["key_id"] == rotated["key_id"]
    _printed(client, central, new)
    listed = {k["key_id"]: k["status"] for k in client.get("/v1/voucher-keys", headers=central).json["keys"]}
    assert listed == {old["key_id"]: "retired", rotated["key_id"]: "signing"}
    shop = _terminal(client, vouchers_town, "yokosuka-shop")
    tid, key = shop
    trust = signed(client, key, tid, "/v1/terminal/trust-list").json
    ring = KeyRing.from_dict(trust["voucher_keys"])
    assert decode_voucher(old["vouchers"][0]["text"], ring).amount == 500  # offline, as a terminal checks
    assert _redeem(client, shop, voucher=old["vouchers"][0]["text"]).status_code == 201
    withdrawn = post(client, central, f"/v1/voucher-keys/{old['key_id']}/withdraw", {"reason": "leaked"}, 200)
    assert (withdrawn["status"], withdrawn["outstanding"]) == ("withdrawn", 1)
    assert error_of(_redeem(client, shop, voucher=old["vouchers"][1]["text"])) == (
        422,
        "voucher_key_withdrawn",
    )
    assert error_of(_redeem(client, shop, serial=old["vouchers"][1]["serial"])) == (
        422,
        "voucher_key_withdrawn",
    )
    trust = signed(client, key, tid, "/v1/terminal/trust-list").json
    assert trust["voucher_keys"]["withdrawn"] == [old["key_id"]]
    assert _redeem(client, shop, voucher=new["vouchers"][0]["text"]).status_code == 201
    again = post(client, central, f"/v1/vouchers/{old['vouchers'][1]['serial']}/reprint", {}, 201)
    assert again["key_id"] == rotated["key_id"]  # the holder of the withdrawn key's voucher gets a good one
    scoped = client.post(
        "/v1/voucher-keys/rotate", json={"client_id": new_id()}, headers=vouchers_town.yokosuka
    )
    assert error_of(scoped) == (403, "central_operator_only")


def test_an_expired_voucher_is_refused_and_swept_back_to_the_municipality(client, engine, vouchers_town):
    """Time moves on (the domain functions take the clock): past its last day a voucher is refused,
    and the sweep returns its points to the municipality, once."""
    from server.points.expiry import sweep

    central = vouchers_town.central
    batch = _issue(
        client, central, amount=700, last_day=(datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    )
    _printed(client, central, batch)
    last_day = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    unprinted = _issue(client, central, amount=300, last_day=last_day)["vouchers"][
        0
    ]  # its print never confirmed
    later = datetime.now(UTC) + timedelta(days=5)
    text, serial = batch["vouchers"][0]["text"], batch["vouchers"][0]["serial"]
    shop = service.Redemption("yokosuka-shop", "terminal:t", text=text)
    with read(engine) as conn:
        ring = keys.ring(conn)
        for request in (shop, service.Redemption("yokosuka-shop", "terminal:t", serial=serial)):
            with pytest.raises(VoucherExpired):
                service.redeem(conn, request, ring, "terminal:t", now=later)
    with write(engine) as conn:
        report = sweep(conn, "sweep-vouchers-1", later, "operator:central", now=later)
    assert report["vouchers"] == [
        {
            "point_code": YOKOSUKA,
            "returned_to": f"muni:{YOKOSUKA}",
            "vouchers": 1,
            "points": 700,
            "never_printed": 1,
        }
    ]
    assert _balance(engine, f"muni:{YOKOSUKA}") == 0 and _balance(engine, LIABILITY) == 0
    assert client.get(f"/v1/vouchers/{unprinted['serial']}", headers=central).json["status"] == "voided"
    with write(engine) as conn:
        assert sweep(conn, "sweep-vouchers-2", later, "operator:central", now=later)["vouchers"] == []
    terminal = _terminal(client, vouchers_town, "yokosuka-shop")
    assert error_of(_redeem(client, terminal, serial=serial)) == (409, "voucher_expired")
    assert client.get(f"/v1/vouchers/{serial}", headers=central).json["status"] == "expired"
    _verify_ok(client, central)


def test_two_terminals_redeeming_one_serial_at_once_exactly_one_wins(app, client, engine, vouchers_town):
    central = vouchers_town.central
    batch = _issue(client, central)
    _printed(client, central, batch)
    text = batch["vouchers"][0]["text"]
    terminals = [
        _terminal(client, vouchers_town, p) for p in ("yokosuka-shop", "yokosuka-museum", "yokosuka-shop")
    ]
    barrier = threading.Barrier(len(terminals))
    answers: list = [None] * len(terminals)

    def attempt(i: int) -> None:
        own = app.test_client()
        barrier.wait()
        answers[i] = _redeem(own, terminals[i], voucher=text)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(terminals))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409, 409], [a.json for a in answers]
    assert all(a.json["error"]["code"] == "voucher_used" for a in answers if a.status_code == 409)
    paid = _balance(engine, "payee:yokosuka-shop") + _balance(engine, "payee:yokosuka-museum")
    assert paid == 500 and _balance(engine, LIABILITY) == 0
    _verify_ok(client, central)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"voucher": "MKP1:NOT-A-VOUCHER"}, 422, "voucher_truncated"),
        ({"voucher": "hello"}, 422, "not_a_voucher"),
        ({"voucher": "X" * 5000}, 422, "invalid_voucher"),
        ({"serial": "7K3M-Q9XD-2RWB-F0TU"}, 422, "invalid_voucher_serial"),
        ({"serial": "7K3M-Q9XD-2RWB-F0TE"}, 404, "unknown_voucher"),
        ({}, 422, "voucher_or_serial"),
        ({"voucher": 5}, 422, "invalid_voucher"),
    ],
)
def test_bad_redemptions_are_refused_with_their_code_and_change_nothing(
    client, engine, vouchers_town, body, status, code
):
    batch = _issue(client, vouchers_town.central)
    _printed(client, vouchers_town.central, batch)
    shop = _terminal(client, vouchers_town, "yokosuka-shop")
    before = tables_snapshot(engine)
    r = _redeem(client, shop, **body)
    assert error_of(r) == (status, code)
    after = tables_snapshot(engine)
    after.pop("terminal_nonces"), before.pop("terminal_nonces")  # the signed request's nonce is kept
    assert after == before
    _verify_ok(client, vouchers_town.central)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": 0}, "invalid_amount"),
        ({"amount": "500"}, "invalid_amount"),
        ({"count": 1001}, "invalid_count"),
        ({"point_code": "14201"}, "invalid_point_code"),
        ({"last_day": "2020-01-01"}, "invalid_expiry"),
        ({"last_day": "next week"}, "invalid_date"),
        ({"department": "011002-kosodate"}, "unknown_department"),
        ({"amount": 6000}, "above_maximum"),
    ],
)
def test_bad_batches_are_refused_and_change_nothing(client, engine, vouchers_town, body, code):
    post(
        client,
        vouchers_town.central,
        f"/v1/point-codes/{YOKOSUKA}/rules",
        {"vouchers": True, "max_amount": 5000},
    )
    before = tables_snapshot(engine)
    r = client.post(
        "/v1/vouchers/batches",
        json={"client_id": new_id(), "point_code": YOKOSUKA, "amount": 500, "count": 1, **body},
        headers=vouchers_town.central,
    )
    assert r.status_code in (403, 404, 409, 422) and r.json["error"]["code"] == code, r.json
    assert tables_snapshot(engine) == before


def test_a_scoped_operator_issues_only_its_own_points(client, vouchers_town):
    r = client.post(
        "/v1/vouchers/batches",
        json={"client_id": new_id(), "point_code": YOKOSUKA, "amount": 500},
        headers=vouchers_town.sapporo,
    )
    assert error_of(r) == (403, "out_of_scope")
    assert _issue(client, vouchers_town.yokosuka)["count"] == 1


def test_a_voucher_is_not_taken_where_its_points_are_not(client, vouchers_town):
    batch = _issue(client, vouchers_town.central)
    _printed(client, vouchers_town.central, batch)
    sapporo = _terminal(client, vouchers_town, "sapporo-shop")
    assert error_of(_redeem(client, sapporo, voucher=batch["vouchers"][0]["text"])) == (
        403,
        "not_allowed_here",
    )


# --- the phone page -----------------------------------------------------------------------------


def test_the_phone_page_needs_its_link_and_redeems_a_typed_serial_once(client, engine, vouchers_town):
    central = vouchers_town.central
    batch = _issue(client, central)
    _printed(client, central, batch)
    assert client.get("/vouchers/phone/").status_code == 403
    assert client.get("/vouchers/phone/mkp_vp_wrong").status_code == 403
    link = post(client, central, "/v1/vouchers/phone-links", {"place": "yokosuka-shop"}, 201)
    assert link["token"].startswith("mkp_vp_")
    fields = form_fields(client, link["path"])
    before = tables_snapshot(engine)
    refused = client.post(
        "/vouchers/phone/mkp_vp_wrong",
        data={**fields, "serial": batch["vouchers"][0]["serial"], "client_id": "phone-0001"},
    )
    assert refused.status_code == 403 and refusal_code(refused.get_data(as_text=True)) == "unknown_link"
    assert tables_snapshot(engine) == before
    page = client.get(link["path"])
    assert page.status_code == 200 and "どぶ板商店" in page.get_data(as_text=True)
    form = {**fields, "serial": batch["vouchers"][0]["serial"], "client_id": "phone-0002"}
    done = client.post(link["path"], data=form)
    assert done.status_code == 201 and "500ポイント" in done.get_data(as_text=True)
    assert client.post(link["path"], data=form).status_code == 201  # the same form again: once
    again = client.post(link["path"], data={**form, "client_id": "phone-0003"})
    assert again.status_code == 409 and refusal_code(again.get_data(as_text=True)) == "voucher_used"
    assert "この券は使用済みです" in again.get_data(as_text=True)
    assert _balance(engine, "payee:yokosuka-shop") == 500
    with read(engine) as conn:
        stored = conn.exec_driver_sql("SELECT token_hash FROM voucher_phone_links").scalars().all()
    assert link["token"] not in stored and len(stored) == 1
    revoked = post(client, central, "/v1/vouchers/phone-links/revoke", {"place": "yokosuka-shop"}, 200)
    assert revoked["revoked"] == 1
    assert client.get(link["path"]).status_code == 403
    late = client.post(
        link["path"], data={**fields, "serial": batch["vouchers"][0]["serial"], "client_id": "phone-0004"}
    )
    assert late.status_code == 403 and refusal_code(late.get_data(as_text=True)) == "unknown_link"
    _verify_ok(client, central)


def test_the_phone_page_reads_a_photo_of_the_voucher(client, engine, vouchers_town):
    import io

    from drivers.printer.render import render
    from drivers.printer.voucher import batch_receipts, voucher_job
    from drivers.profiles import load_printer_profile

    central = vouchers_town.central
    batch = _issue(client, central)
    _printed(client, central, batch)
    receipt = next(batch_receipts(batch))  # the batch's first voucher, as printed
    profile = load_printer_profile("seiko-rp-f10-58")
    photo = io.BytesIO()
    render(profile, voucher_job(profile, receipt).data).image.save(photo, "PNG")
    link = post(client, central, "/v1/vouchers/phone-links", {"place": "yokosuka-museum"}, 201)
    fields = form_fields(client, link["path"])
    sent = {**fields, "client_id": "phone-photo-1", "photo": (io.BytesIO(photo.getvalue()), "voucher.png")}
    done = client.post(link["path"], data=sent, content_type="multipart/form-data")
    assert done.status_code == 201, done.get_data(as_text=True)
    assert _balance(engine, "payee:yokosuka-museum") == 500
    junk = {**fields, "client_id": "phone-photo-2", "photo": (io.BytesIO(b"not an image"), "x.png")}
    refused = client.post(link["path"], data=junk, content_type="multipart/form-data")
    assert refused.status_code == 422 and refusal_code(refused.get_data(as_text=True)) == "unreadable_image"


def test_a_retried_batch_is_answered_without_the_texts_and_issues_nothing_more(client, engine, vouchers_town):
    body = {"client_id": "batch-retry-0001", "point_code": YOKOSUKA, "amount": 500, "count": 2}
    first = client.post("/v1/vouchers/batches", json=body, headers=vouchers_town.central)
    again = client.post("/v1/vouchers/batches", json=body, headers=vouchers_town.central)
    assert first.status_code == again.status_code == 201
    assert all(v["text"] for v in first.json["vouchers"]) and not first.json.get("replayed")
    assert again.json["replayed"] and all(v["text"] is None for v in again.json["vouchers"])
    assert [v["serial"] for v in again.json["vouchers"]] == [v["serial"] for v in first.json["vouchers"]]
    assert _balance(engine, LIABILITY) == 1000
    with read(engine) as conn:
        stored = conn.exec_driver_sql("SELECT response FROM idempotency").scalars().all()
    assert not any(v["text"] in r for r in stored for v in first.json["vouchers"])  # never kept
    changed = client.post("/v1/vouchers/batches", json={**body, "count": 3}, headers=vouchers_town.central)
    assert error_of(changed) == (409, "idempotency_conflict")
