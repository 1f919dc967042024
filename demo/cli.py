"""`mkp-demo`: start everything on a fresh SQLite file, walk through the system, stop, exit 0.

Each part of mkp adds its steps to ``STEPS``; the demo always shows the system end to end.
Exit codes: 0 every step passed; 1 a step failed (the failing step is named).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mkp_core.client import ApiClient, BearerToken
from server.launcher import ServerProcess, run_server_command, start_server

if TYPE_CHECKING:  # the steps import these where they run them; here only for annotations
    import subprocess

    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    from agent.card_session import ProvingCard
    from agent.mykey import TerminalLookups

YOKOSUKA = "142018"


@dataclass
class DemoState:
    workdir: Path
    server: ServerProcess | None = None
    api: ApiClient | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    # What the steps started, undone in reverse order when the demo ends.
    running: ExitStack = field(default_factory=ExitStack)

    @property
    def live_server(self) -> ServerProcess:
        """The server the server step started (every later step needs it)."""
        if self.server is None:
            raise RuntimeError("the server step has not run")
        return self.server

    @property
    def server_url(self) -> str:
        return self.live_server.url

    @property
    def operator_api(self) -> ApiClient:
        """The central operator's API client, made by the server step."""
        if self.api is None:
            raise RuntimeError("the server step has not run")
        return self.api


def step_test_ca(state: DemoState) -> str:
    """A JPKI-shaped test CA stands in for J-LIS; its CRL revokes one card that is not ours."""
    from drivers.card.virtual.ca import TestCA

    ca = TestCA.init(state.workdir / "jpki-test-ca")
    ca.revoke(ca.issue_auth_certificate(_throwaway_key()).serial_number)
    state.facts["test_ca"] = ca
    return f"test CA {ca.certificate.subject.rfc4514_string()} (a test key, not J-LIS)"


def _throwaway_key() -> RSAPublicKey:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()


def step_server(state: DemoState) -> str:
    db = f"sqlite:///{state.workdir / 'mkp.sqlite3'}"
    env = {
        "MKP_JPKI_ANCHOR_FILES": str(state.facts["test_ca"].cert_path),
        "MKP_TERMINAL_CA_DIR": str(state.workdir / "terminal-ca"),
        "MKP_SECRETS_DIR": str(state.workdir / "secrets"),
    }
    state.server = start_server(db, state.workdir, extra_env=env)
    state.facts["server_start"] = (db, env)
    token = run_server_command("create-operator", "demo-operator", env=state.server.env)
    state.api = ApiClient(state.server_url, BearerToken(token))
    state.facts["server"] = state.server_url
    return f"server on {state.server_url}, SQLite at {state.workdir / 'mkp.sqlite3'}"


def step_municipality(state: DemoState) -> str:
    m = state.operator_api.post("/v1/municipalities", {"code": YOKOSUKA})
    state.facts["municipality"] = m
    return f"added {m['code']} {m['prefecture']}{m['name']} with point code {m['point_code']}"


# --- municipal points ---------------------------------------------------------------
# Until the MyKey steps land here, step_mykeys registers the two MyKey IDs the points go to.

DEPARTMENT = "142018-kosodate"
FESTIVAL = "142018-FEST2026"
#: Why the demo's (central) operator spends for its residents: the demo has no card at a terminal here.
CORRECTION = "demo: paper form signed at the town hall"


def _place(state: DemoState, place_id: str, name: str, kind: str) -> None:
    """A place of 横須賀市 (the museum was added already when its terminal was enrolled)."""
    known = {p["id"] for p in state.operator_api.get("/v1/places")["places"]}
    if place_id not in known:
        state.operator_api.post(
            "/v1/places", {"place_id": place_id, "name": name, "kind": kind, "municipality": YOKOSUKA}
        )
    state.facts.setdefault("places", []).append(place_id)


def step_points_setup(state: DemoState) -> str:
    """Places, the rules of 横須賀市ポイント, a department with its budget, a museum's prices."""
    _place(state, "yokosuka-museum", "横須賀美術館", "museum")
    _place(state, "dobuita-shop", "どぶ板通り商店", "shop")
    _place(state, "kaikokusai", "よこすか開国祭実行委員会", "facility")
    rule = {
        "place_kinds": ["shop", "museum"],
        "expiry": {"policy": "month_end", "count": 6},
        "max_amount": 5000,
    }
    state.operator_api.post(f"/v1/point-codes/{YOKOSUKA}/rules", rule)
    state.operator_api.post(
        f"/v1/municipalities/{YOKOSUKA}/departments",
        {"code": "kosodate", "name": "子育て支援課", "budget": 100_000},
    )
    for code, name in (("volunteer", "子育てボランティア"), ("childcare", "子育て応援")):
        state.operator_api.post(f"/v1/departments/{DEPARTMENT}/grant-kinds", {"code": code, "name": name})
    for code, name, price in (("ippan", "一般", 500), ("koukou", "高校生", 300)):
        state.operator_api.post(
            "/v1/places/yokosuka-museum/items", {"code": code, "name": name, "price": price}
        )
    return "shops and museums of 横須賀市 take its points (6 months past the month of the credit, at most 5,000 a spend); 子育て支援課 has 100,000"


def step_grant_csv(state: DemoState) -> str:
    """子育て支援課 grants by a Shift_JIS CSV file: a dry run, the run, and a second run that changes nothing."""
    import base64

    first, second = state.facts["mykeys"]
    rows = [
        "自治体コード,マイキーID,ポイント,付与種別,備考",
        f"{YOKOSUKA},{first},1500,volunteer,清掃活動",
        f"{YOKOSUKA},{second},1000,childcare,",
    ]
    data = ("\r\n".join(rows) + "\r\n").encode("cp932")
    (state.workdir / "grants.csv").write_bytes(data)
    body = {"department": DEPARTMENT, "file": base64.b64encode(data).decode(), "filename": "grants.csv"}
    dry = state.operator_api.post("/v1/grant-batches", {**body, "dry_run": True})
    applied = state.operator_api.post("/v1/grant-batches", body)
    again = state.operator_api.post("/v1/grant-batches", body)
    assert applied["applied"] and again["already_applied"], "the file was applied twice"
    verified = state.operator_api.get(f"/v1/departments/{DEPARTMENT}")["granted"]
    assert verified == 2500, f"the department granted {verified}, expected 2500"
    return f"dry run {dry['rows']} rows / {dry['points']:,} points, applied in batch {applied['batch_id']}, the second run changed nothing"


def step_spend(state: DemoState) -> str:
    """Points spent at a shop (retried once: one transfer) and as museum admission from the price list.

    The demo's operator is central and spends for the resident as a correction (with a reason):
    without a card in the demo's script, that is the one way an operator may."""
    first = state.facts["mykeys"][0]
    spend = {
        "mykey_id": first,
        "place": "dobuita-shop",
        "amount": 300,
        "client_id": "demo-spend-0001",
        "reason": CORRECTION,
    }
    shop = state.operator_api.post("/v1/spends", spend)
    again = state.operator_api.post("/v1/spends", spend)
    assert again["id"] == shop["id"], "a retried spend made a second transfer"
    museum = state.operator_api.post(
        "/v1/spends", {"mykey_id": first, "place": "yokosuka-museum", "item": "ippan", "reason": CORRECTION}
    )
    held = next(
        b
        for b in state.operator_api.get(f"/v1/mykeys/{first}/balances")["balances"]
        if b["point_code"] == YOKOSUKA
    )
    state.facts["balance"] = held["spendable"]
    assert held["spendable"] == 700, f"{first} can spend {held['spendable']}, expected 700"
    return (
        f"{first} spent 300 at どぶ板通り商店 (retried, posted once) and {museum['amount']} for 一般 admission; "
        f"balance 700, valid until {held['next_expiry']['last_day']}"
    )


def step_event(state: DemoState) -> str:
    """よこすか開国祭's own points: granted to visitors, directed to the festival's pool, handed over."""
    state.operator_api.post(
        f"/v1/municipalities/{YOKOSUKA}/point-codes", {"suffix": "FEST2026", "name": "よこすか開国祭"}
    )
    state.operator_api.post(
        f"/v1/municipalities/{YOKOSUKA}/departments",
        {"code": "kanko", "name": "観光課", "budget": 10_000, "point_code": FESTIVAL},
    )
    state.operator_api.post("/v1/departments/142018-kanko/grant-kinds", {"code": "visit", "name": "来場"})
    state.operator_api.post("/v1/events", {"point_code": FESTIVAL, "organiser": "kaikokusai"})
    for mykey, amount, nickname in zip(state.facts["mykeys"], (400, 250), ("はなこ", None), strict=True):
        state.operator_api.post(
            "/v1/grants",
            {"department": "142018-kanko", "mykey_id": mykey, "amount": amount, "grant_kind": "visit"},
        )
        support = {
            "mykey_id": mykey,
            "amount": amount,
            "reason": CORRECTION,
            **({"nickname": nickname} if nickname else {}),
        }
        state.operator_api.post(f"/v1/events/{FESTIVAL}/supports", support)
    report = state.operator_api.post(f"/v1/events/{FESTIVAL}/handover", {})
    supporters = ", ".join(
        f"{s['mykey_id']} {s['amount']}" + (f" ({s['nickname']})" if s["nickname"] else "")
        for s in report["supporters"]
    )
    return f"{len(report['supporters'])} supporters ({supporters}); {report['total']} points handed over in transfer {report['handover']['id']}"


def step_reward(state: DemoState) -> str:
    """A seat at the fireworks, one left: the first claim gets it with a claim number, the second is refused."""
    from datetime import UTC, datetime, timedelta

    from mkp_core.client import ApiError

    now = datetime.now(UTC)
    offer = {
        "code": "hanabi-seat",
        "municipality": YOKOSUKA,
        "name": "花火大会 観覧席",
        "price": 500,
        "stock": 1,
    }
    window = {"starts_at": now.isoformat(), "ends_at": (now + timedelta(days=30)).isoformat()}
    state.operator_api.post("/v1/rewards", {**offer, **window})
    first, second = state.facts["mykeys"]
    claim = state.operator_api.post(
        "/v1/rewards/hanabi-seat/claims", {"mykey_id": first, "reason": CORRECTION}
    )
    try:
        state.operator_api.post("/v1/rewards/hanabi-seat/claims", {"mykey_id": second, "reason": CORRECTION})
        raise RuntimeError("the last seat was claimed twice")
    except ApiError as e:
        refused = e.code
    public = state.operator_api.get("/v1/public/rewards")["rewards"]
    return f"{first} claimed it ({claim['claim_number']}); {second} was refused ({refused}); public list shows {public[0]['left']} left"


def step_expire(state: DemoState) -> str:
    """The expiry sweep runs (as of now: nothing has expired yet) and a second run moves nothing either."""
    from datetime import UTC, datetime

    as_of = datetime.now(UTC).isoformat()
    report = state.operator_api.post("/v1/points/expire", {"as_of": as_of})
    again = state.operator_api.post("/v1/points/expire", {"as_of": as_of})
    first = state.facts["mykeys"][0]
    balances = state.operator_api.get(f"/v1/mykeys/{first}/balances")["balances"]
    nxt = next(b for b in balances if b["point_code"] == YOKOSUKA)["next_expiry"]
    return (
        f"swept {report['points']} expired points ({report['lots']} lots), again {again['points']}; "
        f"{first}'s next {nxt['amount']} points expire after {nxt['last_day']}"
    )


def step_crl(state: DemoState) -> str:
    """The operator uploads the CA's CRL; the server checks its signature as terminals will."""
    from cryptography.hazmat.primitives.serialization import Encoding

    crl = state.facts["test_ca"].issue_crl()
    info = state.operator_api.post("/v1/crls", {"crl": crl.public_bytes(Encoding.PEM).decode()})
    (state.workdir / "jpki.crl").write_bytes(crl.public_bytes(Encoding.DER))
    return f"CRL number {info['number']} uploaded ({info['entries']} revoked), next update {info['next_update'][:16]}"


def step_card(state: DemoState) -> str:
    """A virtual My Number card in the PC/SC reader: certificate read and checked, PIN, signature."""
    from agent.card_session import run_card_session
    from drivers.card.pcsc import PcscBackend
    from drivers.card.virtual.card import VirtualMyNumberCard
    from drivers.card.virtual.cardfile import new_card
    from drivers.card.virtual.pcscd import PcscDaemon, card_present, vpcd_slots, wait_for
    from drivers.card.virtual.vpcd import VpcdLink, reader_name
    from mkp_core.crl import CrlStore
    from mkp_core.trust import TrustStore

    ca = state.facts["test_ca"]
    state.running.enter_context(vpcd_slots())
    daemon = PcscDaemon.ensure(state.workdir / "pcscd.log")
    state.running.callback(daemon.stop)
    link = VpcdLink(VirtualMyNumberCard(new_card(ca, pin="1234"))).insert()
    state.running.callback(link.remove)
    backend = PcscBackend()
    wait_for(lambda: card_present(reader_name(0)), 5, "pcscd to see the card")
    trust = TrustStore.from_pem_files([ca.cert_path])
    crl = CrlStore.from_file(state.workdir / "jpki.crl", trust)
    result = run_card_session(backend, trust, crl, reader=reader_name(0), pin="1234")
    state.facts["card"] = result.to_dict()
    if not result.valid:
        raise RuntimeError(f"card check says {result.result}")
    started = "started pcscd" if daemon.owned else "pcscd already running"
    return (
        f"{started}; card in {result.reader}: certificate {result.check.sha256[:12]}… {result.result}, "
        f"PIN ok ({result.pin_tries_left} tries were left), signature verified"
    )


def step_terminal(state: DemoState) -> str:
    """The operator issues a one-time code; the technician's mkp-provision enrolls the terminal."""
    import subprocess
    import sys

    from drivers.card.virtual.vpcd import reader_name

    if "yokosuka-museum" not in state.facts.get("places", ()):
        state.operator_api.post(
            "/v1/places",
            {
                "place_id": "yokosuka-museum",
                "name": "横須賀美術館",
                "kind": "museum",
                "municipality": YOKOSUKA,
            },
        )
    code = state.operator_api.post(
        "/v1/terminals/enrollments", {"place": "yokosuka-museum", "name": "counter 1"}
    )["code"]
    home = state.workdir / "terminal"
    receipt = state.workdir / "receipt.bin"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "provisioning.cli",
            "--server",
            state.server_url,
            "--code",
            code,
            "--home",
            str(home),
            "--printer",
            "epson-tm-t88vi",
            "--printer-at",
            f"file:{receipt}",
            "--reader",
            reader_name(0),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mkp-provision exit {done.returncode}: {done.stdout[-800:]} {done.stderr[-400:]}")
    report = json.loads(done.stdout)
    state.facts["terminal"] = report
    checks = report.get("checks", [])
    passed = sum(1 for c in checks if c.get("ok"))
    return (
        f"code {code[:4]}-…, terminal {report.get('terminal_id')} enrolled into {home}; "
        f"checklist {passed}/{len(checks)} ✓, test page {receipt.stat().st_size} bytes of ESC/POS"
    )


# --- the MyKey Platform ----------------------------------------------------------------------------


def _open_card(state: DemoState, slot: int) -> ProvingCard:
    """The virtual card in vpcd's ``slot``, opened through pcscd with its PIN (open until the demo ends)."""
    from agent.card_session import proving_card
    from drivers.card.pcsc import PcscBackend
    from drivers.card.virtual.vpcd import reader_name

    return state.running.enter_context(proving_card(PcscBackend(), "1234", reader_name(slot)))


def _enroll_terminal(state: DemoState, place: str, name: str, service: str) -> TerminalLookups:
    """A terminal at ``place`` enrolled with its own key (what mkp-provision does, without the checklist)."""
    from agent.mykey import TerminalLookups
    from mkp_core import signing
    from provisioning.enroll import make_csr

    code = state.operator_api.post("/v1/terminals/enrollments", {"place": place, "name": name})["code"]
    key = signing.generate_terminal_key()
    enrolled = ApiClient(state.server_url).request("POST", "/v1/enroll", {"code": code, "csr": make_csr(key)})
    signed = ApiClient(state.server_url, signing.TerminalAuth(enrolled["terminal_id"], key))
    return TerminalLookups(signed, service)


def step_mykey_register(state: DemoState) -> str:
    """Two residents create their MyKey ID with their card at home: one random, one of their own."""
    from agent.mykey import MyKeyClient
    from drivers.card.virtual.card import VirtualMyNumberCard
    from drivers.card.virtual.cardfile import new_card
    from drivers.card.virtual.pcscd import card_present, wait_for
    from drivers.card.virtual.vpcd import VpcdLink, reader_name

    second = VpcdLink(VirtualMyNumberCard(new_card(state.facts["test_ca"], pin="1234")), slot=1).insert()
    state.running.callback(second.remove)
    wait_for(lambda: card_present(reader_name(1)), 5, "pcscd to see the second card")
    cards = [_open_card(state, 0), _open_card(state, 1)]
    holder = MyKeyClient(ApiClient(state.server_url))  # no credential: the card is the credential
    first = holder.register(cards[0])
    chosen = holder.register(cards[1], "Hanako24")
    again = holder.register(cards[0])
    assert again["mykey_id"] == first["mykey_id"] and not again["created"], "a card got a second ID"
    state.facts.update(cards=cards, mykeys=[first["mykey_id"], chosen["mykey_id"]])
    return f"card 1: random MyKey ID {first['mykey_id']} (asked again: the same); card 2 chose {chosen['mykey_id']}"


def step_mykey_services(state: DemoState) -> str:
    """A shopping street and a library join; the residents link their member and patron numbers."""
    from agent.mykey import MyKeyClient

    api = state.operator_api
    api.post(
        "/v1/services",
        {"code": "A1", "name": "中央商店街", "kind": "shopping-street", "municipality": YOKOSUKA},
    )
    api.post(
        "/v1/services",
        {
            "code": "A2",
            "name": "横須賀市立中央図書館",
            "kind": "library",
            "municipality": YOKOSUKA,
            "confirm_links": True,
        },
    )
    for place, name, kind, service in (
        ("chuo-street", "中央商店街事務所", "office", "A1"),
        ("chuo-library", "横須賀市立中央図書館", "library", "A2"),
    ):
        api.post(
            "/v1/places",
            {"place_id": place, "name": name, "kind": kind, "municipality": YOKOSUKA, "service": service},
        )
    state.facts["a1"] = _enroll_terminal(state, "chuo-street", "counter", "A1")
    state.facts["a2"] = _enroll_terminal(state, "chuo-library", "desk", "A2")
    holder = MyKeyClient(ApiClient(state.server_url))
    one, two = state.facts["cards"]
    holder.link(one, "A1", "789")
    pending = holder.link(one, "A2", "280212")
    holder.link(two, "A1", "1024")
    confirmed = state.facts["a2"].confirm_link(one)  # the librarian checked the library card
    return (
        f"A1 中央商店街 and A2 図書館 (links confirmed by staff); card 1 linked A1: 789 and A2: 280212 "
        f"({pending['status']}, then {confirmed['status']} at the library desk); card 2 linked A1: 1024"
    )


def step_mykey_lookups(state: DemoState) -> str:
    """Each terminal is told its own service's ID for the card, and nothing else; nothing is kept."""
    from mkp_core.client import ApiError

    one, two = state.facts["cards"]
    a1, a2 = state.facts["a1"], state.facts["a2"]
    answers = [a1.lookup(one), a2.lookup(one), a1.lookup(two)]
    try:
        a2.lookup(two)
        raise RuntimeError("card 2 has no library link, yet the library was answered")
    except ApiError as e:
        refused = e.code
    shown = ", ".join(f"{a['service']}: {a['service_id']}" for a in answers)
    return f"card 1 at A1, card 1 at A2, card 2 at A1 → {shown}; card 2 at A2 → {refused}"


def step_mykey_lost(state: DemoState) -> str:
    """Card 2 is lost: the call centre suspends its MyKey ID at once, before J-LIS's next CRL."""
    from mkp_core.client import ApiError

    lost = state.facts["mykeys"][1]
    state.operator_api.post(f"/v1/mykeys/{lost}/suspend", {"reason": "lost"})
    try:
        state.facts["a1"].lookup(state.facts["cards"][1])
        raise RuntimeError("a suspended MyKey ID was answered")
    except ApiError as e:
        return f"MyKey ID {lost} suspended (reason lost); its lookup at A1 is refused: {e.code}"


def step_mykey_crl_sweep(state: DemoState) -> str:
    """Next morning J-LIS's CRL lists the lost card; the import sweeps and reports it."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    ca = state.facts["test_ca"]
    lost_card = state.facts["cards"][1]
    ca.revoke(x509.load_der_x509_certificate(lost_card.certificate).serial_number)
    info = state.operator_api.post("/v1/crls", {"crl": ca.issue_crl().public_bytes(Encoding.PEM).decode()})
    sweep = info["sweep"]
    assert sweep["already_suspended"] == [state.facts["mykeys"][1]], sweep
    return (
        f"CRL number {info['number']} imported: {sweep['checked']} MyKey certificates checked, "
        f"{sweep['revoked']} revoked: {', '.join(sweep['already_suspended'])} (suspended already since the call)"
    )


# --- the counter ------------------------------------------------------------------------------------


def _agent(state: DemoState, *args: str, pin: bool = False) -> dict[str, Any]:
    """`mkp-agent ARGS --home terminal --json` as the clerk's terminal runs it; its JSON answer."""
    import subprocess
    import sys

    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "mkp-agent"),
            *args,
            "--home",
            str(state.workdir / "terminal"),
            "--json",
        ]
        + (["--pin-stdin"] if pin else []),
        input="1234\n" if pin else None,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if not done.stdout.strip():
        raise RuntimeError(f"mkp-agent {args[0]} exit {done.returncode}: {done.stderr[-600:]}")
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def step_counter_day(state: DemoState) -> str:
    """A day at the museum's counter: admission online, the network cut, two spends taken offline
    (card-signed, queued, receipts say オフライン取引), the network back, the queue synced once."""
    first = state.facts["mykeys"][0]
    state.operator_api.post(
        "/v1/grants", {"department": DEPARTMENT, "mykey_id": first, "amount": 2000, "grant_kind": "childcare"}
    )
    before = _points(state, first)
    admission = _agent(state, "spend", "--item", "ippan", pin=True)
    assert admission["ok"] and not admission["offline"], admission
    port = int(state.server_url.rsplit(":", 1)[1])
    state.live_server.stop()  # the network is cut
    offline = [_agent(state, "spend", "--amount", str(amount), pin=True) for amount in (300, 200)]
    assert all(o["ok"] and o["offline"] for o in offline), offline
    queued = _agent(state, "queue")["pending"]
    db, env = state.facts["server_start"]
    state.server = start_server(db, state.workdir, extra_env=env, port=port)  # back
    synced = _agent(state, "sync")["queue"]
    again = _agent(state, "sync")["queue"]
    after = _points(state, first)
    assert synced["accepted"] == 2 and again["accepted"] == 0, (synced, again)
    assert before - after == 500 + 300 + 200, f"{first} paid {before - after}, expected 1,000"
    return (
        f"{first}: 一般 admission online (transfer {admission['id']}); network cut: 300 and 200 taken "
        f"offline ({queued} queued, receipts marked オフライン取引); back: {synced['accepted']} accepted, "
        f"a second sync sent nothing; paid {before - after:,} in all"
    )


def _points(state: DemoState, mykey_id: str) -> int:
    held = state.operator_api.get(f"/v1/mykeys/{mykey_id}/balances")["balances"]
    return sum(b["balance"] for b in held if b["point_code"] == YOKOSUKA)


# --- paper vouchers ----------------------------------------------------------------------


def _run_cli(state: DemoState, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """One of mkp's commands as a person runs it (its own process); the completed process."""
    import os
    import subprocess

    auth = state.operator_api.session.auth
    if not isinstance(auth, BearerToken):
        raise RuntimeError("the operator's API client carries no bearer token")
    env = {**os.environ, "MKP_SERVER": state.server_url, "MKP_TOKEN": auth.token}
    env["MKP_ADMIN_CONFIG"] = str(state.workdir / "no-admin.toml")
    code = f"import sys; from {module} import main; sys.argv[0] = {module!r}; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env
    )


def step_vouchers(state: DemoState) -> str:
    """A voucher printed to a file printer, drawn as paper (PNG), scanned and redeemed at the museum's
    terminal, then scanned again and refused."""
    from drivers.printer.render import render
    from drivers.profiles import load_printer_profile

    rule = {"place_kinds": ["shop", "museum"], "expiry": {"policy": "month_end", "count": 6}}
    state.operator_api.post(
        f"/v1/point-codes/{YOKOSUKA}/rules", {**rule, "max_amount": 5000, "vouchers": True}
    )
    out, png = state.workdir / "voucher.bin", state.workdir / "voucher.png"
    issued = _run_cli(
        state, "mkp_admin.cli", "voucher", "issue", "--point-code", YOKOSUKA, "--amount", "500",
        "--printer-at", f"file:{out}", "--json",
    )  # fmt: skip
    if issued.returncode != 0:
        raise RuntimeError(f"mkp-admin voucher issue: {issued.stderr.strip()}")
    serial = json.loads(issued.stdout)["printed"][0]
    render(load_printer_profile("epson-tm-t88vi"), out.read_bytes()).image.save(png)
    home = str(state.workdir / "terminal")
    _run_cli(state, "agent.cli", "sync", "--home", home)  # the trust list with the voucher key
    first = _run_cli(state, "agent.cli", "voucher", "redeem", "--home", home, "--image", str(png), "--json")
    if first.returncode != 0:
        raise RuntimeError(f"mkp-agent voucher redeem: {first.stderr.strip()}")
    again = _run_cli(state, "agent.cli", "voucher", "redeem", "--home", home, "--image", str(png), "--json")
    refused = json.loads(again.stdout or "{}").get("error")
    if again.returncode == 0 or refused != "voucher_used":
        raise RuntimeError(f"a voucher was taken twice (second scan: {again.returncode}, {refused})")
    place = json.loads(first.stdout)["place_name"]
    return (
        f"voucher {serial} (500 points) printed to {out.name} ({out.stat().st_size:,} bytes), drawn as {png} "
        "(--keep keeps it); "
        f"scanned and redeemed at {place}; scanned again: {refused}"
    )


# --- partner points ----------------------------------------------------------------------


def step_partners(state: DemoState) -> str:
    """ANA converts miles online with a +10 % premium, a coupon code is redeemed with the card, both
    wait in holding, and the hold ends: the points reach the wallets. (The demo's ANA holds for 0
    days, so that the hold can end while the demo runs: a release ahead of the clock is refused.)"""
    from datetime import UTC, datetime, timedelta

    from agent.partner_points import PartnerPoints
    from mkp_core import dates, signing
    from mkp_core.client import ApiError

    key = signing.generate_terminal_key()  # made on the partner's side; the server gets the public half
    state.operator_api.post(
        "/v1/partners",
        {"partner_id": "ANA", "name": "全日本空輸", "rate_from": 500, "rate_to": 100, "hold_days": 0,
         "public_key": signing.public_key_pem(key).decode()},
    )  # fmt: skip
    now = datetime.now(UTC)
    state.operator_api.post(
        "/v1/partners/ANA/campaigns",
        {"name": "春の応援", "percent": 10, "budget": 100_000, "cap_per_holder": 5000,
         "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=30)).isoformat()},
    )  # fmt: skip
    holder = PartnerPoints(ApiClient(state.server_url))
    ana = ApiClient(state.server_url, signing.partner_auth("ANA", key))
    card, mykey_id = state.facts["cards"][1], state.facts["mykeys"][1]  # card 1 is the counter's now
    asked = holder.link_partner(card, "ANA", "1234567890")  # the member enters the code at ANA's site
    ana.request(
        "POST", "/partner/v1/links/confirm", {"member": "1234567890", "link_code": asked["link_code"]}
    )
    order = {
        "order_id": "ANA-20270401-0001",
        "member": "1234567890",
        "amount": 10_000,
        "destination": YOKOSUKA,
    }
    converted = ana.request("POST", "/partner/v1/conversions", order)
    again = ana.request("POST", "/partner/v1/conversions", order)  # the partner retries: the first answer
    assert again["conversion_id"] == converted["conversion_id"], "a retried order converted twice"
    holder.set_home(card, YOKOSUKA)
    (code,) = state.operator_api.post("/v1/partners/ANA/coupons", {"count": 1, "points": 1000})["codes"]
    redeemed = holder.redeem_coupon(card, code)
    on_hold = holder.pending(card)["conversions"]
    before = _points(state, mykey_id)
    ahead = dates.jst_date(now + timedelta(days=15)).isoformat()
    try:
        state.operator_api.post("/v1/points/release-held", {"as_of": ahead})
        raise RuntimeError("release-held ran ahead of the clock")
    except ApiError as e:
        early = e.code
    due = datetime.now(UTC).isoformat()
    released = state.operator_api.post("/v1/points/release-held", {"as_of": due})
    nothing = state.operator_api.post("/v1/points/release-held", {"as_of": due})["conversions"]
    gained = _points(state, mykey_id) - before
    return (
        f"{mykey_id}: 10,000 miles → {converted['points']:,} + {converted['premium']:,} premium (retried "
        f"order: one conversion); coupon {code} → {redeemed['points']:,} + {redeemed['premium']:,}; "
        f"{len(on_hold)} on hold until {on_hold[0]['due_at'][:16]}; release-held --as-of {ahead}: {early}; "
        f"--as-of {due}: {released['points']:,} points to the wallet (+{gained:,}), run again: {nothing} moved"
    )


def step_voucher_offline(state: DemoState) -> str:
    """The network cut again: a voucher scanned at the museum is accepted offline and queued;
    the network back, the sync redeems it once."""
    from drivers.printer.render import render
    from drivers.profiles import load_printer_profile

    out, png = state.workdir / "voucher-offline.bin", state.workdir / "voucher-offline.png"
    issued = _run_cli(
        state, "mkp_admin.cli", "voucher", "issue", "--point-code", YOKOSUKA, "--amount", "300",
        "--printer-at", f"file:{out}", "--json",
    )  # fmt: skip
    if issued.returncode != 0:
        raise RuntimeError(f"mkp-admin voucher issue: {issued.stderr.strip()}")
    serial = json.loads(issued.stdout)["printed"][0]
    render(load_printer_profile("epson-tm-t88vi"), out.read_bytes()).image.save(png)
    home = str(state.workdir / "terminal")
    port = int(state.server_url.rsplit(":", 1)[1])
    state.live_server.stop()  # the network is cut
    taken = _run_cli(state, "agent.cli", "voucher", "redeem", "--home", home, "--image", str(png), "--json")
    if taken.returncode != 0 or not json.loads(taken.stdout)["offline"]:
        raise RuntimeError(f"mkp-agent voucher redeem offline: {taken.stderr.strip()}")
    db, env = state.facts["server_start"]
    state.server = start_server(db, state.workdir, extra_env=env, port=port)  # back
    synced = json.loads(_run_cli(state, "agent.cli", "sync", "--home", home, "--json").stdout)["queue"]
    shown = state.operator_api.get(f"/v1/vouchers/{serial}")
    if synced.get("accepted") != 1 or shown["status"] != "redeemed":
        raise RuntimeError(f"the voucher taken offline was not redeemed once: {synced}, {shown['status']}")
    return (
        f"network cut: voucher {serial} (300 points) accepted offline, queued "
        f"({json.loads(taken.stdout)['reference']}); back: synced, redeemed once at {shown['redeemed_place']}"
    )


# --- a street's points migrated; the month settled -------------------------------------------


def step_migrate_and_settle(state: DemoState) -> str:
    """A shopping street retires its card: its members' balances are imported, card 1's is claimed by
    linking the member number; last month is closed and this month's statement exported in
    Shift_JIS, summing to zero."""
    import csv
    import io
    from datetime import UTC, datetime, timedelta

    from agent.mykey import MyKeyClient
    from mkp_core.dates import JST

    state.operator_api.post(
        "/v1/services",
        {"code": "A3", "name": "どぶ板通り商店街", "kind": "shopping-street", "municipality": YOKOSUKA},
    )
    members = state.workdir / "dobuita-members.csv"
    members.write_bytes("会員番号,残高\r\n5501,1200\r\n5502,800\r\n".encode("cp932"))
    last_day = (datetime.now(JST) + timedelta(days=180)).date().isoformat()
    imported = _run_cli(
        state, "mkp_admin.cli", "--json", "migrate", "import", "--service", "A3", str(members),
        "--claim-until", last_day,
    )  # fmt: skip
    if imported.returncode != 0:
        raise RuntimeError(f"mkp-admin migrate import: {imported.stderr.strip()}")
    mykey_id = state.facts["mykeys"][0]
    before = _points(state, mykey_id)
    MyKeyClient(ApiClient(state.server_url)).link(state.facts["cards"][0], "A3", "5501")
    claimed = _points(state, mykey_id) - before
    if claimed != 1200:
        raise RuntimeError(f"linking member 5501 credited {claimed}, not 1200")
    waiting = state.operator_api.get("/v1/migrations/A3")["waiting"]
    now = datetime.now(UTC).astimezone(JST)
    this_month, last_month = f"{now:%Y-%m}", f"{now.replace(day=1) - timedelta(days=1):%Y-%m}"
    closed = _run_cli(state, "mkp_admin.cli", "settlement", "close", "--period", last_month)
    if closed.returncode != 0:
        raise RuntimeError(f"mkp-admin settlement close: {closed.stderr.strip()}")
    out = state.workdir / f"settlement-{this_month}.csv"
    exported = _run_cli(
        state, "mkp_admin.cli", "settlement", "export", "--period", this_month, "--municipality", YOKOSUKA,
        "--format", "csv-sjis", "--out", str(out),
    )  # fmt: skip
    if exported.returncode != 0:
        raise RuntimeError(f"mkp-admin settlement export: {exported.stderr.strip()}")
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("cp932"), newline="")))
    if sum(int(r["points"]) for r in rows) != 0:
        raise RuntimeError("the month's statement does not sum to zero")
    places = sum(int(r["points"]) for r in rows if r["counterparty_kind"] == "place")
    return (
        f"どぶ板通り商店街's 2 members imported; card 1 linked member 5501 and got {claimed:,} points, "
        f"{waiting['members']} balance ({waiting['points']:,}) waits; {last_month} closed; {this_month} "
        f"exported to {out.name} (Shift_JIS, {len(rows)} lines summing to 0; places are owed {places:,})"
    )


def step_verify(state: DemoState) -> str:
    report = state.operator_api.get("/v1/ledger/verify")
    state.facts["ledger"] = report
    if not report["ok"]:
        raise RuntimeError(f"ledger breach: {report['breaches'][0]['message']}")
    return f"ledger verified: {report['transfers']} transfers, {report['accounts']} accounts, sums zero"


def web_addresses(server_url: str) -> dict[str, str]:
    """The pages of the demo's data a person opens in a browser."""
    return {
        "My Page": f"{server_url}/mypage/",
        "Point Navi": f"{server_url}/navi/{YOKOSUKA}",
        "partners": f"{server_url}/navi/partners",
        "landing page": f"{server_url}/",
        "API docs": f"{server_url}/api/",
    }


def step_web(state: DemoState) -> str:
    """The web pages of the demo's data: Point Navi shows 横須賀市's points and rules, the partner and
    its campaign, as a browser (or an app asking for JSON) gets them; My Page's address."""
    import requests

    pages = web_addresses(state.server_url)
    state.facts["web"] = pages
    json_only = {"Accept": "application/json"}
    town = requests.get(pages["Point Navi"], headers=json_only, timeout=10).json()
    partners = requests.get(pages["partners"], headers=json_only, timeout=10).json()["partners"]
    if not town["municipality"]["participating"] or not partners:
        raise RuntimeError(f"Point Navi does not show the demo's data: {town['municipality']}, {partners}")
    codes = ", ".join(p["code"] for p in town["point_codes"])
    return (
        f"Point Navi {pages['Point Navi']} ({codes}; {len(town['places'])} places, "
        f"{len(town['rewards'])} reward, {len(town['campaigns'])} campaign); partners {pages['partners']} "
        f"({partners[0]['name']}, {partners[0]['hold_days']} days' hold); My Page {pages['My Page']}"
    )


STEPS: list[tuple[str, Callable[[DemoState], str]]] = [
    ("make a JPKI test CA", step_test_ca),
    ("start the ledger server", step_server),
    ("add 横須賀市", step_municipality),
    ("upload the CRL", step_crl),
    ("read and check a My Number card", step_card),
    ("enroll and provision a terminal", step_terminal),
    # The MyKey Platform: IDs from the cards, services, lookups.
    ("register two MyKey IDs with the card", step_mykey_register),
    ("link a shopping street and a library", step_mykey_services),
    ("look the cards up at each service", step_mykey_lookups),
    # Municipal points for those MyKey IDs.
    ("set the points' rules and a department", step_points_setup),
    ("grant points by CSV", step_grant_csv),
    ("spend at a shop and as museum admission", step_spend),
    ("support an event and hand it over", step_event),
    ("claim a special reward", step_reward),
    ("run the expiry sweep", step_expire),
    # A street's points migrated, the month settled; card 1 links before the counter takes it.
    ("migrate a street's points and settle the month", step_migrate_and_settle),
    # The counter: card taps at the museum, a network cut, the queue synced.
    ("a day at the counter", step_counter_day),
    # Paper vouchers: printed, scanned, redeemed once.
    ("print a voucher and redeem it once", step_vouchers),
    ("a voucher taken offline, synced", step_voucher_offline),
    # Partner points: converted online with a premium, a coupon code, the hold ends.
    ("convert partner points and end the hold", step_partners),
    # A card is lost: suspended at once, then the CRL.
    ("suspend a lost card", step_mykey_lost),
    ("sweep the next CRL", step_mykey_crl_sweep),
    ("verify the ledger", step_verify),
    # The web: what a resident opens in a browser.
    ("show the data on the web pages", step_web),
]


def run_steps(state: DemoState, as_json: bool) -> tuple[bool, list[dict[str, Any]]]:
    """Each step in turn until one fails; what each did, and whether all passed."""
    results: list[dict[str, Any]] = []
    for title, step in STEPS:
        started = time.perf_counter()
        try:
            detail = step(state)
            passed = True
        except Exception as e:  # the demo reports any failure as a failed step
            detail, passed = f"{e.__class__.__name__}: {e}", False
        results.append(
            {
                "step": title,
                "ok": passed,
                "detail": detail,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            }
        )
        if not as_json:
            click.echo(f"{'✓' if passed else '✗'} {title}: {detail}")
        if not passed:
            return False, results
    return True, results


def serve_until_interrupted(state: DemoState) -> None:
    """Keep the server and the demo's data up until Ctrl-C; print where to look meanwhile."""
    click.echo("serving the demo's data until Ctrl-C:", err=True)
    for name, address in web_addresses(state.server_url).items():
        click.echo(f"  {name}: {address}", err=True)
    try:
        wait_for_ctrl_c()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


def wait_for_ctrl_c() -> None:
    """Sleep until Ctrl-C (a KeyboardInterrupt); a ``kill`` (SIGTERM) stops it the same way, so the
    server and the virtual cards are stopped either way, never left behind."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    while True:
        time.sleep(3600)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option("--keep", is_flag=True, help="Keep the temp folder (database, logs) afterwards.")
@click.option("--serve", is_flag=True, help="Keep the server and its data running afterwards, until Ctrl-C.")
def main(as_json: bool, keep: bool, serve: bool) -> None:
    """Run the whole mkp system once, end to end, on SQLite."""
    workdir = Path(tempfile.mkdtemp(prefix="mkp-demo-"))
    state = DemoState(workdir)
    try:
        ok, results = run_steps(state, as_json)
        if ok and serve:
            serve_until_interrupted(state)
    finally:
        state.running.close()
        if state.server:
            state.live_server.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": ok,
                    "steps": results,
                    "web": state.facts.get("web"),
                    "workdir": str(workdir) if keep else None,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        click.echo("demo passed: every step worked" if ok else "demo FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
