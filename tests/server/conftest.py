"""Fixtures for terminal tests: a place, and a terminal enrolled there with its own key."""

import pytest
from terminal_helpers import csr_for, new_code

from mkp_core import signing


@pytest.fixture
def place(client, operators):
    r = client.post(
        "/v1/places",
        json={
            "client_id": "place-0001",
            "place_id": "yokosuka-museum",
            "name": "横須賀美術館",
            "kind": "museum",
            "municipality": "142018",
        },
        headers=operators.central,
    )
    assert r.status_code == 201, r.json
    return r.json


@pytest.fixture
def enrolled(client, operators, place):
    key = signing.generate_terminal_key()
    code = new_code(client, operators)["code"]
    r = client.post("/v1/enroll", json={"code": code, "csr": csr_for(key)})
    assert r.status_code == 201, r.json
    return r.json["terminal_id"], key, code
