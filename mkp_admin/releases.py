"""`mkp-admin release`: agent releases, signed offline with the operator's release key."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import click

from mkp_admin.base import client_id_option, ctx_for, fail, json_option, path_part, request_body, when
from mkp_core import cli_speech
from mkp_core.cli_speech import say


@click.group("release")
def release_group() -> None:
    """Agent releases, signed offline with the operator's release key."""


@release_group.command("keygen")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Private key file (0600)."
)
def release_keygen(out: Path) -> None:
    """Make an Ed25519 release key: keep OUT offline; give OUT.pub to the server (release_key_files)."""
    from cryptography.hazmat.primitives import serialization

    from mkp_core import release

    if out.exists():
        fail(2, say("%(file)s exists: refusing to overwrite a release key", file=out))
    key = release.generate_operator_key()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    out.with_name(out.name + ".pub").write_bytes(release.public_key_pem(key))
    click.echo(say("private key %(file)s (keep it offline), public key %(file)s.pub", file=out))


@release_group.command("publish")
@click.option(
    "--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--version", "version", required=True, help="Release version MAJOR.MINOR.PATCH, e.g. 1.4.2.")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@client_id_option
@json_option
def release_publish(
    key_file: Path, version: str, files: tuple[Path, ...], client_id: str | None, as_json: bool
) -> None:
    """Sign a manifest of FILES here, with the private key, and publish it with the files."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from mkp_core import release

    ctx = ctx_for(as_json)
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise TypeError(f"{key_file} holds no Ed25519 private key")
        manifest = release.build_manifest(version, list(files))
        signature = release.sign_manifest(manifest, key)
    except (ValueError, TypeError, release.ReleaseError) as e:
        fail(
            2,
            say(
                "cannot sign the release: %(code)s: %(reason)s",
                code=getattr(e, "code", "invalid_key"),
                reason=e,
            ),
        )
    body = {
        "manifest": base64.b64encode(manifest).decode(),
        "signature": base64.b64encode(signature).decode(),
        "files": {f.name: base64.b64encode(f.read_bytes()).decode() for f in files},
    }
    info = ctx.call("POST", "/v1/releases", request_body(client_id=client_id, **body))
    ctx.show(
        info,
        say(
            "release %(version)s published: %(count)s file(s)",
            version=info["version"],
            count=len(info["files"]),
        ),
    )


@release_group.command("withdraw")
@click.argument("version")
@click.option("--reason", help='Why (kept with the release), e.g. "breaks printing".')
@client_id_option
@json_option
def release_withdraw(version: str, reason: str | None, client_id: str | None, as_json: bool) -> None:
    """Stop offering release VERSION to terminals; the newest remaining release is offered instead."""
    from mkp_core import release

    ctx = ctx_for(as_json)
    try:
        release.parse_version(version)
    except release.ReleaseError as e:
        cli_speech.fail_with(2, e)
    info = ctx.call(
        "POST",
        f"/v1/releases/{path_part(version)}/withdraw",
        request_body(reason=reason, client_id=client_id),
    )
    ctx.show(
        info,
        say("release %(version)s withdrawn: terminals are no longer offered it", version=info["version"]),
    )


@release_group.command("list")
@json_option
def release_list(as_json: bool) -> None:
    """Published releases, newest first; withdrawn ones marked."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/releases")
    lines = [
        f"{r['version']:<12} "
        + say("%(count)s file(s)", count=len(r["files"]))
        + "  "
        + (
            say("withdrawn %(when)s", when=when(r["withdrawn_at"]))
            if r.get("withdrawn_at")
            else say("offered")
        )
        + (f" ({r['withdraw_reason']})" if r.get("withdraw_reason") else "")
        for r in data["releases"]
    ]
    ctx.show(data, "\n".join(lines) if lines else say("no releases yet"))
