"""The attacks of another town's operator on a resident, reproduced: each is refused and the
resident's MyKey ID and points are untouched."""

from __future__ import annotations

from points_helpers import REASON, YOKOSUKA, error_of, grant, new_id


def resident(mykey, town) -> tuple[object, str]:
    """A Yokosuka resident (home municipality 142018) with their card and 1,000 points."""
    card = mykey.card()
    mykey_id = mykey.register(card, home=YOKOSUKA)["mykey_id"]
    grant(mykey.client, town.central, mykey_id, 1000)
    return card, mykey_id


def points_of(client, central, mykey_id: str) -> list[tuple[str, int]]:
    held = client.get(f"/v1/mykeys/{mykey_id}/balances", headers=central).json["balances"]
    return [(b["point_code"], b["balance"]) for b in held]


def test_another_towns_token_cannot_move_a_residents_mykey_id_to_its_own_card(mykey, town):
    """Sapporo's desk asked for a renewal code for a Yokosuka resident's MyKey ID, renewed the ID
    onto a card of its own and spent the resident's points. The code is refused, as for an ID
    that does not exist, and the resident keeps their ID, their card and their points."""
    card, mykey_id = resident(mykey, town)
    client = mykey.client
    asked = client.post(
        f"/v1/mykeys/{mykey_id}/renewal-codes", json={"client_id": new_id()}, headers=town.sapporo
    )
    if asked.status_code == 201:  # what the attacker did with the code
        mykey.holder.renew_with_code(mykey.card().open, asked.json["code"])
    missing = client.post(
        "/v1/mykeys/ZZZZZZZZ/renewal-codes", json={"client_id": new_id()}, headers=town.sapporo
    )
    assert error_of(asked) == error_of(missing) == (404, "unknown_mykey")
    assert asked.json["error"]["message"] == f"no MyKey ID {mykey_id}"
    assert mykey.holder.show(card.open)["mykey_id"] == mykey_id  # still the resident's card
    assert points_of(client, town.central, mykey_id) == [(YOKOSUKA, 1000)]
    audit = client.get(f"/v1/mykeys/{mykey_id}", headers=town.central).json["audit"]
    assert audit == []


def test_another_towns_token_cannot_spend_a_residents_points(mykey, town):
    """The spend itself: no scoped token spends for a resident, whatever town (a correction is the
    central operator's)."""
    _, mykey_id = resident(mykey, town)
    for desk in (town.sapporo, town.yokosuka):
        r = mykey.client.post(
            "/v1/spends",
            json={
                "client_id": new_id("s"),
                "mykey_id": mykey_id,
                "place": "yokosuka-shop",
                "amount": 700,
                "reason": REASON,
            },
            headers=desk,
        )
        assert error_of(r) == (403, "out_of_scope")
    assert points_of(mykey.client, town.central, mykey_id) == [(YOKOSUKA, 1000)]


def test_another_towns_token_cannot_read_a_residents_record_or_balances(mykey, town):
    """Sapporo's desk read a Yokosuka resident's MyKey record (state, certificate, audit) and
    their balances. Both answer as for an ID that does not exist; Yokosuka's desk still reads them."""
    _, mykey_id = resident(mykey, town)
    client = mykey.client
    for path in (
        f"/v1/mykeys/{mykey_id}",
        f"/v1/mykeys/{mykey_id}/balances",
        f"/v1/mykeys/{mykey_id}/conversions",
    ):
        r = client.get(path, headers=town.sapporo)
        assert (
            error_of(r) == (404, "unknown_mykey") and r.json["error"]["message"] == f"no MyKey ID {mykey_id}"
        )
        assert client.get(path, headers=town.yokosuka).status_code == 200


def test_another_towns_token_cannot_suspend_or_resume_a_resident(mykey, town):
    card, mykey_id = resident(mykey, town)
    client = mykey.client
    for action, body in (("suspend", {"reason": "lost"}), ("resume", {})):
        r = client.post(
            f"/v1/mykeys/{mykey_id}/{action}", json={"client_id": new_id(), **body}, headers=town.sapporo
        )
        assert error_of(r) == (404, "unknown_mykey")
    assert mykey.holder.show(card.open)["status"] == "active"


def test_another_towns_token_cannot_act_on_its_places_and_terminals(client, town):
    """Sapporo's desk enrolled a terminal at a Yokosuka museum, changed its price list and read
    its terminals: each is refused as for a place or terminal that does not exist."""
    y = town.yokosuka
    terminal = client.post(
        "/v1/terminals/enrollments",
        json={"client_id": new_id(), "place": "yokosuka-museum", "name": "desk"},
        headers=y,
    ).json["terminal_id"]
    s = town.sapporo
    enrol = client.post(
        "/v1/terminals/enrollments",
        json={"client_id": new_id(), "place": "yokosuka-museum", "name": "x"},
        headers=s,
    )
    assert (
        error_of(enrol) == (404, "unknown_place")
        and enrol.json["error"]["message"] == "no place yokosuka-museum"
    )
    price = client.post(
        "/v1/places/yokosuka-museum/items",
        json={"client_id": new_id(), "code": "ippan", "name": "一般", "price": 1},
        headers=s,
    )
    assert error_of(price) == (404, "unknown_place")
    assert error_of(client.get(f"/v1/terminals/{terminal}", headers=s)) == (404, "unknown_terminal")
    revoke = client.post(f"/v1/terminals/{terminal}/revoke", json={"client_id": new_id()}, headers=s)
    assert error_of(revoke) == (404, "unknown_terminal")
    assert client.get(f"/v1/terminals/{terminal}", headers=y).json["status"] == "pending"
    assert client.get("/v1/places/yokosuka-museum/items", headers=y).json["items"] == []
