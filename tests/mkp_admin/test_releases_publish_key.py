"""`mkp-admin release publish` signs with the operator's Ed25519 release key only: a key file of
another kind (Ed448, RSA) is refused here, exit 2 naming the file, before anything is sent."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448, rsa
from mkp_testing import invoke

from mkp_admin import cli as admin_cli
from server.launcher import free_port


@pytest.mark.parametrize(
    "key",
    [ed448.Ed448PrivateKey.generate(), rsa.generate_private_key(public_exponent=65537, key_size=2048)],
    ids=["ed448", "rsa"],
)
def test_a_key_of_another_kind_is_refused_before_anything_is_sent(tmp_path, key):
    key_file = tmp_path / "release.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    wheel = tmp_path / "mkp-2.0.0-py3-none-any.whl"
    wheel.write_bytes(b"a wheel")
    env = {
        "MKP_SERVER": f"http://127.0.0.1:{free_port()}",  # listens nowhere: a request would exit 3
        "MKP_TOKEN": "mkp_op_x",
        "MKP_ADMIN_CONFIG": str(tmp_path / "none.toml"),
    }
    done = invoke(
        admin_cli.main,
        "release",
        "publish",
        "--key",
        str(key_file),
        "--version",
        "2.0.0",
        str(wheel),
        env=env,
    )
    assert done.exit_code == 2
    assert done.stderr == (
        f"error: cannot sign the release: invalid_key: {key_file} holds no Ed25519 private key\n"
    )
