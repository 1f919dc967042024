"""The key rules of ``server.db.client_ids``, for any client id a caller may send: the caller sees
its own id back, two principals never share a key, and no caller's key is ever one the server
makes for itself (property-based, hypothesis with the project's fixed examples)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from mkp_testing import fuzz_settings

from mkp_core.ids import CLIENT_ID_RE
from server.db import client_ids

FUZZ = fuzz_settings(200)
CLIENT_IDS = st.from_regex(CLIENT_ID_RE, fullmatch=True)
TERMINALS = st.from_regex(r"t[0-9a-f]{12}", fullmatch=True)


def _callers_keys(client_id: str, operator: int, terminal: str) -> list[str]:
    return [
        client_ids.operator_key(operator, client_id),
        client_ids.terminal_key(terminal, client_id),
        client_ids.partner_key("ANA", client_id),
        client_ids.phone_key("yokosuka-shop", client_id),
        client_ids.card_key("0" * 64, client_id),
    ]


@given(client_id=CLIENT_IDS, operator=st.integers(1, 2**63 - 1), terminal=TERMINALS)
@FUZZ
def test_a_callers_key_shows_its_id_and_is_no_one_elses(client_id, operator, terminal):
    keys = _callers_keys(client_id, operator, terminal)
    assert [client_ids.as_sent(k) for k in keys] == [client_id] * len(keys)
    assert len(set(keys)) == len(keys)
    assert all(len(k) <= 160 for k in keys)  # the widened columns (migration 0013)
    assert not any(k.startswith(f"{client_ids.SERVER}/") for k in keys)
    assert client_ids.partner_order_key("ANA", client_id) not in keys
    assert client_ids.as_sent(client_ids.partner_order_key("ANA", client_id)) == client_id
    apart = client_ids.unverified_entry_key(keys[1], "ab" * 32)
    assert apart not in keys and client_ids.as_sent(apart) == client_id and len(apart) <= 160


@given(client_id=CLIENT_IDS, other=CLIENT_IDS)
@FUZZ
def test_no_caller_reaches_the_servers_ids_or_another_partners_orders(client_id, other):
    server_made = {client_ids.server_key(client_id), client_ids.server_key(f"conversion:{other}")}
    orders = {client_ids.partner_order_key("ANA", other), client_ids.partner_order_key("JAL", other)}
    for key in _callers_keys(client_id, 1, "t0123456789ab"):
        assert key not in server_made | orders
    assert client_ids.partner_order_key("ANA", client_id) != client_ids.partner_order_key("JAL", client_id)


def test_a_legacy_key_without_an_owner_is_shown_as_it_is():
    assert client_ids.as_sent("grant-00000001") == "grant-00000001"
    assert client_ids.as_sent("srv/conversion:7") == "conversion:7"
