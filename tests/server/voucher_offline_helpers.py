"""Helpers of the offline voucher tests (tests/server): a terminal that sends what its agent would,
printed vouchers, balances, the ledger's check and the exceptions report."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from points_helpers import YOKOSUKA, new_id, post
from terminal_helpers import csr_for, new_code, signed

from mkp_core import offline, signing
from server.db.engine import read
from server.ledger.accounts import balances


class Desk:
    """An enrolled terminal at a place, sending what its agent would."""

    def __init__(self, client, operators, place: str) -> None:
        self.client, self.place = client, place
        self.key = signing.generate_terminal_key()
        code = new_code(client, operators, place=place, name=f"counter {new_id()}")["code"]
        r = client.post("/v1/enroll", json={"code": code, "csr": csr_for(self.key)})
        assert r.status_code == 201, r.json
        self.tid = r.json["terminal_id"]
        self.seq = 0

    def entry(self, text: str, at: datetime | None = None, client_id: str | None = None, **kw) -> dict:
        self.seq += 1
        redemption = offline.VoucherRedemption(
            terminal=kw.get("terminal", self.tid),
            seq=self.seq,
            client_id=client_id or f"{self.tid}-{uuid.uuid4()}",
            place=kw.get("place", self.place),
            at=at or datetime.now(UTC),
            voucher=text,
        )
        return offline.seal_voucher(kw.get("key", self.key), redemption)

    def sync(self, *entries: dict) -> list[dict]:
        r = self.post("/v1/terminal/sync", {"entries": list(entries)})
        assert r.status_code == 200, r.json
        return r.json["results"]

    def post(self, path: str, body: dict):
        return signed(self.client, self.key, self.tid, path, method="POST", body=body)

    def redeem_online(self, text: str, client_id: str | None = None):
        body = {"client_id": client_id or new_id("r"), "voucher": text}
        return self.post("/v1/terminal/vouchers/redeem", body)


def vouchers(client, headers, count=1, amount=500, **extra) -> list[dict]:
    body = {"point_code": YOKOSUKA, "amount": amount, "count": count, **extra}
    batch = post(client, headers, "/v1/vouchers/batches", body, 201)
    post(client, headers, "/v1/vouchers/printed", {"serials": [v["serial"] for v in batch["vouchers"]]}, 200)
    return batch["vouchers"]


def balance(engine, owner: str) -> int:
    with read(engine) as conn:
        return balances(conn, owner).get(YOKOSUKA, 0)


def ledger_ok(client, headers) -> int:
    report = client.get("/v1/ledger/verify", headers=headers).json
    assert report["ok"], report["breaches"]
    return int(report["transfers"])


def exceptions(client, headers) -> list[dict]:
    return client.get("/v1/offline-exceptions", headers=headers).json["exceptions"]
