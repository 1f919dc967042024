"""MyKey Platform: registrations/s and lookups/s over HTTP, and the CRL import and sweep.

    .venv/bin/python bench/mykey.py [--registrations N] [--lookups N] [--clients N]
                                    [--workers N] [--threads N] [--crl-serials N] [--mykeys N] [--smoke]

Prints one line per figure. Targets, on SQLite, 2 cores, load generator included:
registrations >= 500/s, lookups >= 2,000/s; a CRL of 1,000,000 entries imported and swept over
100,000 MyKey IDs in <= 20 s.

What is made ahead and not measured: the cards (virtual My Number cards, the JPKI applet's APDUs
in this process), one challenge per request, the card's signature over it, and for lookups the
terminal's RFC 9421 signature. What is measured: the requests, sent by ``--clients`` threads on
keep-alive connections (http.client, bodies and headers ready), against ``mkp-server run``
(gunicorn) on SQLite: every certificate check, card signature, terminal signature, challenge and
database write happens on the server as in production.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.card_session import ProvingCard
from bench.common import add_smoke_option, pct, served
from drivers.card.jpki import JpkiCard
from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.card import CardData, VirtualMyNumberCard
from drivers.card.virtual.direct import DirectChannel
from drivers.card.virtual.pki import Revocation, build_auth_certificate, build_crl, new_rsa_key
from mkp_core import cardproof, signing
from mkp_core.client import new_session
from mkp_core.trust import sha256_hex

MUNICIPALITY = "142018"


class Cards:
    """Virtual cards with certificates of ``ca``; RSA keys are the slow part, so a few are shared
    (each card has its own certificate, which is what the server keys on)."""

    def __init__(self, ca: TestCA, keys: int = 16) -> None:
        self.ca = ca
        self.keys = [new_rsa_key() for _ in range(keys)]
        self.made = 0

    def new(self) -> ProvingCard:
        key = self.keys[self.made % len(self.keys)]
        self.made += 1
        cert = build_auth_certificate(self.ca.certificate, self.ca.key, key.public_key())
        data = CardData(
            auth_key=key,
            auth_certificate=cert.public_bytes(Encoding.DER),
            ca_certificate=self.ca.certificate.public_bytes(Encoding.DER),
            pin="1234",
        )
        virtual = VirtualMyNumberCard(data)
        virtual.power_on()
        card = JpkiCard(DirectChannel(virtual, "bench"))
        certificate = card.read_auth_certificate()
        card.verify_pin("1234")
        return ProvingCard(card, "bench", certificate)


# --- sending ready-made requests ------------------------------------------------------------------


Prepared = tuple[str, bytes, dict[str, str]]  # path, body, headers


def blast(url: str, requests_: Sequence[Prepared], clients: int) -> tuple[float, list[float], list[int]]:
    """Send every request once over ``clients`` keep-alive connections: (seconds, latencies ms, statuses)."""
    parts = urlsplit(url)
    slices = [requests_[i::clients] for i in range(clients)]
    latencies: list[list[float]] = [[] for _ in slices]
    statuses: list[list[int]] = [[] for _ in slices]
    start = threading.Barrier(clients + 1)

    def client(n: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        start.wait()
        for path, body, headers in slices[n]:
            t0 = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            latencies[n].append((time.perf_counter() - t0) * 1000)
            statuses[n].append(response.status)
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, [x for xs in latencies for x in xs], [x for xs in statuses for x in xs]


def json_request(path: str, body: dict) -> Prepared:
    return path, json.dumps(body).encode(), {"Content-Type": "application/json"}


def report(
    what: str, count: int, seconds: float, latencies: list[float], statuses: list[int], target: str
) -> None:
    bad = [s for s in statuses if s >= 300]
    print(
        f"{what}: {count / seconds:,.0f}/s ({count:,} in {seconds:.2f} s; p50 {pct(latencies, 50):.1f} ms, "
        f"p99 {pct(latencies, 99):.1f} ms){f'; {len(bad)} FAILED, e.g. {bad[0]}' if bad else ''}; {target}"
    )


# --- the platform ---------------------------------------------------------------------------------


class Platform:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.operator = new_session()
        self.operator.headers["Authorization"] = f"Bearer {token}"
        self.anonymous = new_session()

    def op(self, path: str, body: dict) -> dict:
        r = self.operator.post(self.url + path, json={"client_id": str(uuid.uuid4()), **body})
        assert r.status_code in (200, 201), r.text
        return r.json()

    def challenge(self, session: requests.Session, path: str, purpose: str, auth: object = None) -> str:
        r = session.post(self.url + path, json={"purpose": purpose}, auth=auth)
        assert r.status_code == 201, r.text
        return r.json()["challenge"]


def furnish(platform: Platform, ca: TestCA) -> None:
    platform.op("/v1/municipalities", {"code": MUNICIPALITY})
    platform.op("/v1/crls", {"crl": ca.issue_crl().public_bytes(Encoding.PEM).decode()})
    platform.op(
        "/v1/services",
        {"code": "A1", "name": "中央商店街", "kind": "shopping-street", "municipality": MUNICIPALITY},
    )
    platform.op(
        "/v1/places",
        {
            "place_id": "a1-office",
            "name": "事務所",
            "kind": "office",
            "municipality": MUNICIPALITY,
            "service": "A1",
        },
    )


def prepared_registrations(platform: Platform, cards: Cards, count: int) -> list[Prepared]:
    out = []
    for _ in range(count):
        card = cards.new()
        challenge = platform.challenge(platform.anonymous, "/v1/mykey/challenges", cardproof.REGISTER)
        proof = card.prove(cardproof.REGISTER, challenge, cardproof.register_action(None, None))
        out.append(
            json_request("/v1/mykey/register", {"client_id": str(uuid.uuid4()), "proof": proof.to_wire()})
        )
    return out


def enroll_terminal(platform: Platform) -> signing.TerminalAuth:
    from provisioning.enroll import make_csr

    code = platform.op(
        "/v1/terminals/enrollments", {"place": "a1-office", "name": f"c{uuid.uuid4().hex[:6]}"}
    )["code"]
    key = signing.generate_terminal_key()
    r = platform.anonymous.post(platform.url + "/v1/enroll", json={"code": code, "csr": make_csr(key)})
    assert r.status_code == 201, r.text
    return signing.TerminalAuth(r.json()["terminal_id"], key)


def prepared_lookups(
    platform: Platform, cards: Cards, count: int, holders: int, terminals: int
) -> list[Prepared]:
    """``count`` lookups of ``holders`` linked cards at ``terminals`` A1 terminals, signed ahead."""
    linked = []
    for n in range(holders):
        card = cards.new()
        for purpose, path, fields, action in (
            (cardproof.REGISTER, "/v1/mykey/register", {}, cardproof.register_action(None, None)),
            (
                cardproof.LINK,
                "/v1/mykey/links",
                {"service": "A1", "local_id": str(1000 + n)},
                cardproof.link_action("A1", str(1000 + n)),
            ),
        ):
            challenge = platform.challenge(platform.anonymous, "/v1/mykey/challenges", purpose)
            body = {
                "client_id": str(uuid.uuid4()),
                "proof": card.prove(purpose, challenge, action).to_wire(),
                **fields,
            }
            r = platform.anonymous.post(platform.url + path, json=body)
            assert r.status_code in (200, 201), r.text
        linked.append(card)
    auths = [enroll_terminal(platform) for _ in range(terminals)]
    session = new_session()
    out = []
    action = cardproof.service_action("A1")
    for n in range(count):
        auth, card = auths[n % terminals], linked[n % holders]
        challenge = platform.challenge(session, "/v1/terminal/mykey/challenges", cardproof.LOOKUP, auth)
        body = json.dumps({"proof": card.prove(cardproof.LOOKUP, challenge, action).to_wire()}).encode()
        prepared = requests.Request(
            "POST",
            platform.url + "/v1/terminal/lookup",
            data=body,
            headers={"Content-Type": "application/json"},
            auth=auth,
        ).prepare()
        headers = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
        out.append(("/v1/terminal/lookup", body, headers))
    return out


def http_figures(args: argparse.Namespace, work: Path) -> None:
    ca = TestCA.init(work / "jpki-ca")
    db = f"sqlite:///{work / 'mkp.sqlite3'}"
    env = {
        "MKP_JPKI_ANCHOR_FILES": str(ca.cert_path),
        "MKP_CHALLENGE_SECONDS": "3600",
        # Every challenge comes from this one address (the load generator), made ahead of the
        # timed part: the per-address throttle of anonymous challenges is not what is measured.
        "MKP_CHALLENGES_PER_ADDRESS_MINUTE": str(10**9),
    }
    with served(db, work, workers=args.workers, threads=args.threads, extra_env=env) as (server, token):
        platform = Platform(server.url, token)
        furnish(platform, ca)
        cards = Cards(ca, keys=2 if args.smoke else 16)
        ready = prepared_registrations(platform, cards, args.registrations)
        seconds, latencies, statuses = blast(server.url, ready, args.clients)
        report("registrations over HTTP", len(ready), seconds, latencies, statuses, "target >= 500/s")
        holders, terminals = (2, 1) if args.smoke else (50, 4)
        ready = prepared_lookups(platform, cards, args.lookups, holders=holders, terminals=terminals)
        seconds, latencies, statuses = blast(server.url, ready, args.clients)
        report("lookups over HTTP", len(ready), seconds, latencies, statuses, "target >= 2,000/s")
    print(
        f"  (server: gunicorn, {args.workers} worker(s) x {args.threads} threads, SQLite; {args.clients} client threads)"
    )


# --- the CRL import and sweep ---------------------------------------------------------------------


def sweep_figures(args: argparse.Namespace, work: Path) -> None:
    """A million-entry CRL imported by `mkp-server crl-sweep`'s own code, swept over N MyKey IDs."""
    from sqlalchemy import insert

    from server.cli import sweep_from
    from server.config import ServerConfig
    from server.db.engine import make_engine, write
    from server.db.migrate import upgrade
    from server.ledger.tables import mykeys
    from server.platform.tables import mykey_certificates

    ca = TestCA.init(work / "sweep-ca")
    url = f"sqlite:///{work / 'sweep.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    issuer = sha256_hex(ca.certificate.public_bytes(Encoding.DER))
    base = 0x5000_0000_0000
    with write(engine) as conn:  # MyKey IDs as registration leaves them (made directly: faster)
        for start in range(0, args.mykeys, 10_000):
            span = range(start, min(start + 10_000, args.mykeys))
            conn.execute(
                insert(mykeys),
                [
                    {
                        "id": n + 1,
                        "mykey_id": f"B{n:07d}",
                        "folded": f"B{n:07d}",
                        "status": "active",
                        "changes_left": 1,
                        "created_at": now,
                    }
                    for n in span
                ],
            )
            conn.execute(
                insert(mykey_certificates),
                [
                    {
                        "sha256": f"{n:064x}",
                        "mykey": n + 1,
                        "issuer_fingerprint": issuer,
                        "serial": format(base + n, "X"),
                        "not_after": now + timedelta(days=365),
                        "status": "current",
                        "bound_at": now,
                    }
                    for n in span
                ],
            )
    revoked_ids = args.mykeys // 100  # 1 % of the holders' cards are on the CRL, among strangers'
    serials = [base + n * 100 for n in range(revoked_ids)] + [
        0x7000_0000_0000 + n for n in range(args.crl_serials - revoked_ids)
    ]
    t0 = time.perf_counter()
    crl = build_crl(
        ca.certificate,
        ca.key,
        (Revocation(s, reason=x509.ReasonFlags.key_compromise) for s in serials),
        number=2,
    )
    path = work / "jpki-big.crl"
    path.write_bytes(crl.public_bytes(Encoding.DER))
    print(
        f"  (made a CRL of {len(serials):,} entries, {path.stat().st_size / 1e6:.0f} MB, in {time.perf_counter() - t0:.0f} s: not measured)"
    )
    config = ServerConfig(database_url=url, jpki_anchor_files=str(ca.cert_path))
    t0 = time.perf_counter()
    result = sweep_from(engine, config, str(path))
    elapsed = time.perf_counter() - t0
    sweep = result["sweep"]
    assert len(sweep["suspended"]) == revoked_ids, sweep["revoked"]
    print(
        f"CRL import + sweep: {elapsed:.1f} s for a CRL of {len(serials):,} entries over {sweep['checked']:,} MyKey IDs "
        f"({len(sweep['suspended']):,} suspended); target <= 20 s"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=2000)
    parser.add_argument("--lookups", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--crl-serials", type=int, default=1_000_000)
    parser.add_argument("--mykeys", type=int, default=100_000)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        # More registrations than one address may ask challenges for in a minute: the load
        # generator's address must not be throttled, at any size.
        args.registrations, args.lookups, args.clients = 70, 10, 2
        args.crl_serials, args.mykeys = 2_000, 1_000
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_http:
            http_figures(args, Path(tmp))
        if not args.skip_sweep:
            sweep_figures(args, Path(tmp))


if __name__ == "__main__":
    main()
