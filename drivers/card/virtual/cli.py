"""`mkp-vcard`: make a test CA, issue virtual My Number cards, and insert them into vpcd.

Exit codes: 0 done; 1 the command failed (one line on stderr says why); 2 bad arguments.
vpcd listens on all interfaces: never install it (or use this tool) on a production kiosk.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

import click
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from drivers.card.virtual.ca import CaError, TestCA
from drivers.card.virtual.card import CardData, VirtualMyNumberCard
from drivers.card.virtual.cardfile import CardFileError, load_card, new_card, save_card
from drivers.card.virtual.vpcd import VpcdLink, reader_name, vpcd_port


def _fail(message: str) -> None:
    click.echo(f"mkp-vcard: error: {message}", err=True)
    sys.exit(1)


def _pidfile(slot: int) -> Path:
    run = Path(os.environ.get("MKP_VCARD_RUNDIR") or tempfile.gettempdir())
    return run / f"mkp-vcard-slot{slot}.pid"


@click.group()
def main() -> None:
    """Virtual My Number cards for tests and the demo (test keys only).

    \b
    Exit codes: 0 done; 1 the command failed (one line on stderr); 2 bad arguments.
    vpcd listens on all interfaces: never install it on a production kiosk.
    """


@main.group()
def ca() -> None:
    """The test CA (shaped like J-LIS's user-authentication CA)."""


@ca.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
def ca_init(directory: str) -> None:
    """Make a test CA in DIRECTORY: ca.pem (trust anchor), ca.key (0600), revoked.json."""
    try:
        test_ca = TestCA.init(directory)
    except CaError as e:
        _fail(str(e))
    fp = hashlib.sha256(test_ca.certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    click.echo(f"test CA: {test_ca.cert_path}")
    click.echo(f"sha256:  {fp}")


def _load_ca(directory: str) -> TestCA:
    try:
        return TestCA.load(directory)
    except CaError as e:
        _fail(str(e))
        raise  # unreachable


def _load_card(path: str) -> CardData:
    try:
        return load_card(path)
    except CardFileError as e:
        _fail(str(e))
        raise


@main.command("new")
@click.option("--ca", "ca_dir", required=True, type=click.Path(file_okay=False), help="CA directory.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Card file to write.")
@click.option("--pin", default="1234", show_default=True, help="4-digit user-authentication PIN.")
@click.option("--expired", is_flag=True, help="Issue a certificate that expired 10 days ago.")
@click.option("--not-yet-valid", is_flag=True, help="Issue a certificate valid from 30 days on.")
def new(ca_dir: str, out: str, pin: str, expired: bool, not_yet_valid: bool) -> None:
    """Issue a new virtual card: RSA-2048 key, certificate C=JP, CN=<opaque id>, 5 years."""
    if Path(out).exists():
        _fail(f"{out} exists; refusing to overwrite a card")
    test_ca = _load_ca(ca_dir)
    try:
        card = new_card(test_ca, pin=pin, expired=expired, not_yet_valid=not_yet_valid)
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    save_card(card, out)
    cert = x509.load_der_x509_certificate(card.auth_certificate)
    click.echo(f"card:    {out}")
    click.echo(f"subject: {cert.subject.rfc4514_string()}")
    click.echo(f"serial:  {cert.serial_number:x}")
    click.echo(f"valid:   {cert.not_valid_before_utc.isoformat()} .. {cert.not_valid_after_utc.isoformat()}")


@main.command("revoke")
@click.option("--ca", "ca_dir", required=True, type=click.Path(file_okay=False), help="CA directory.")
@click.argument("card_file", type=click.Path(dir_okay=False))
def revoke(ca_dir: str, card_file: str) -> None:
    """Revoke CARD_FILE's certificate (it appears in the next CRL)."""
    test_ca = _load_ca(ca_dir)
    card = _load_card(card_file)
    cert = x509.load_der_x509_certificate(card.auth_certificate)
    try:
        cert.verify_directly_issued_by(test_ca.certificate)  # by key: all JPKI CAs share one DN
    except (ValueError, TypeError, InvalidSignature):
        _fail(f"{card_file} was not issued by this CA")
    added = test_ca.revoke(cert.serial_number)
    click.echo(f"revoked serial {cert.serial_number:x}" + ("" if added else " (already revoked)"))


@main.command("crl")
@click.option("--ca", "ca_dir", required=True, type=click.Path(file_okay=False), help="CA directory.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="CRL file to write.")
@click.option("--der", is_flag=True, help="Write DER instead of PEM.")
@click.option(
    "--hours", default=24, show_default=True, type=click.IntRange(1, 24 * 366), help="Validity (next update)."
)
def crl(ca_dir: str, out: str, der: bool, hours: int) -> None:
    """Issue a CRL of every certificate revoked so far."""
    import datetime as dt

    test_ca = _load_ca(ca_dir)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    next_update = now + dt.timedelta(hours=hours)
    issued = test_ca.issue_crl(this_update=now, next_update=next_update)
    enc = serialization.Encoding.DER if der else serialization.Encoding.PEM
    Path(out).write_bytes(issued.public_bytes(enc))
    click.echo(f"CRL: {out} ({len(list(issued))} revoked, next update {next_update.isoformat()})")


@main.command("insert")
@click.argument("card_file", type=click.Path(dir_okay=False))
@click.option("--slot", default=0, show_default=True, type=click.IntRange(0, 1), help="vpcd slot.")
def insert(card_file: str, slot: int) -> None:
    """Insert CARD_FILE into vpcd's reader SLOT until Ctrl-C or `mkp-vcard remove`.

    PIN tries are written back to the card file as they change, so a blocked card stays blocked.
    """
    data = _load_card(card_file)

    def persist(changed: CardData) -> None:
        save_card(changed, card_file)

    card = VirtualMyNumberCard(data, on_change=persist)
    link = VpcdLink(card, slot=slot)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    pidfile = _pidfile(slot)
    try:
        link.insert(timeout=5)
    except ConnectionError:
        _fail(f"vpcd is not listening on 127.0.0.1:{vpcd_port(slot)}; start pcscd (with vsmartcard-vpcd)")
    pidfile.write_text(f"{os.getpid()}\n")
    click.echo(
        f"inserted {card_file} into '{reader_name(slot)}'; Ctrl-C or 'mkp-vcard remove --slot {slot}' removes it"
    )
    try:
        while not done.wait(0.5):
            if link.error is not None:
                _fail(f"virtual card failed: {link.error!r}")
    finally:
        link.remove()
        try:
            if pidfile.read_text().strip() == str(os.getpid()):
                pidfile.unlink()
        except FileNotFoundError:
            pass
    click.echo("removed")


@main.command("remove")
@click.option("--slot", default=0, show_default=True, type=click.IntRange(0, 1), help="vpcd slot.")
def remove(slot: int) -> None:
    """Remove the card that `mkp-vcard insert` serves in SLOT."""
    pidfile = _pidfile(slot)
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        _fail(f"no virtual card is inserted in slot {slot}")
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if b"insert" not in cmdline:
        pidfile.unlink(missing_ok=True)
        _fail(f"no virtual card is inserted in slot {slot}")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        _fail(f"no virtual card is inserted in slot {slot}")
    click.echo(f"removed the card from slot {slot}")
