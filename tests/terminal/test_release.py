"""Signed release manifests: the agent installs only what the operator signed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from mkp_core import release
from mkp_core.release import ReleaseError


@pytest.fixture
def operator():
    return release.generate_operator_key()


@pytest.fixture
def wheel(tmp_path):
    path = tmp_path / "mkp-1.4.2-py3-none-any.whl"
    path.write_bytes(b"PK\x03\x04 pretend wheel " * 100)
    return path


@pytest.fixture
def published(operator, wheel):
    manifest = release.build_manifest("1.4.2", [wheel], created=datetime(2026, 11, 25, 17, 0, tzinfo=UTC))
    return manifest, release.sign_manifest(manifest, operator)


def pub(operator):
    return release.load_operator_public_key(release.public_key_pem(operator))


def code_of(fn, *args, **kwargs) -> str:
    with pytest.raises(ReleaseError) as info:
        fn(*args, **kwargs)
    assert str(info.value)
    return info.value.code


def test_good_release_verifies_and_its_file_matches(operator, published, wheel):
    manifest, sig = published
    m = release.verify_manifest(manifest, sig, pub(operator), installed_version="1.4.1")
    assert m.version == "1.4.2"
    assert m.created == "2026-11-25T17:00:00Z"
    entry = release.verify_file(m, wheel)
    assert (entry.name, entry.size) == (wheel.name, wheel.stat().st_size)


def test_reinstalling_the_same_version_is_allowed(operator, published):
    manifest, sig = published
    assert release.verify_manifest(manifest, sig, pub(operator), installed_version="1.4.2").version == "1.4.2"


def test_tampered_manifest_is_refused(operator, published):
    manifest, sig = published
    doc = json.loads(manifest)
    doc["files"][0]["sha256"] = "0" * 64
    assert code_of(release.verify_manifest, json.dumps(doc).encode(), sig, pub(operator)) == "bad_signature"


def test_one_flipped_byte_in_the_manifest_is_refused(operator, published):
    manifest, sig = published
    flipped = manifest.replace(b"1.4.2", b"1.4.3", 1)
    assert code_of(release.verify_manifest, flipped, sig, pub(operator)) == "bad_signature"


def test_manifest_signed_with_another_key_is_refused(published):
    manifest, sig = published
    stranger = release.generate_operator_key()
    assert code_of(release.verify_manifest, manifest, sig, pub(stranger)) == "bad_signature"


def test_tampered_file_is_refused(operator, published, wheel):
    manifest, sig = published
    m = release.verify_manifest(manifest, sig, pub(operator))
    data = bytearray(wheel.read_bytes())
    data[10] ^= 0x01  # same size, one bit differs
    wheel.write_bytes(bytes(data))
    assert code_of(release.verify_file, m, wheel) == "hash_mismatch"


def test_truncated_file_is_refused(operator, published, wheel):
    manifest, sig = published
    m = release.verify_manifest(manifest, sig, pub(operator))
    wheel.write_bytes(wheel.read_bytes()[:-1])
    assert code_of(release.verify_file, m, wheel) == "size_mismatch"


def test_file_not_in_the_manifest_is_refused(operator, published, tmp_path):
    manifest, sig = published
    m = release.verify_manifest(manifest, sig, pub(operator))
    other = tmp_path / "evil.sh"
    other.write_bytes(b"rm -rf /")
    assert code_of(release.verify_file, m, other) == "unknown_file"


def test_downgrade_is_refused(operator, published):
    manifest, sig = published
    err_code = code_of(release.verify_manifest, manifest, sig, pub(operator), installed_version="1.10.0")
    assert err_code == "downgrade"  # 1.4.2 < 1.10.0: compared as versions, not as text


@pytest.mark.parametrize(
    "doc, fragment",
    [
        ({"version": "1.0.0", "created": "2026-11-25T00:00:00Z"}, "exactly version, created, files"),
        ({"version": "1.0.0", "created": "2026-11-25T00:00:00Z", "files": [], "x": 1}, "exactly"),
        (
            {
                "version": "1.0.0",
                "created": "yesterday",
                "files": [{"name": "a", "sha256": "0" * 64, "size": 1}],
            },
            "created",
        ),
        ({"version": "1.0.0", "created": "2026-11-25T00:00:00Z", "files": []}, "non-empty"),
        (
            {
                "version": "1.0.0",
                "created": "2026-11-25T00:00:00Z",
                "files": [{"name": "a", "sha256": "XYZ", "size": 1}],
            },
            "sha256",
        ),
        (
            {
                "version": "1.0.0",
                "created": "2026-11-25T00:00:00Z",
                "files": [{"name": "a", "sha256": "0" * 64, "size": -1}],
            },
            "size",
        ),
        (
            {
                "version": "1.0.0",
                "created": "2026-11-25T00:00:00Z",
                "files": [{"name": "a", "sha256": "0" * 64, "size": 1}] * 2,
            },
            "twice",
        ),
    ],
)
def test_signed_but_malformed_manifest_is_refused(operator, doc, fragment):
    data = json.dumps(doc).encode()
    with pytest.raises(ReleaseError) as info:
        release.verify_manifest(data, release.sign_manifest(data, operator), pub(operator))
    assert info.value.code == "bad_manifest"
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "version", ["not a version", "v3.3.0", "1!3.4.0", " 3.5.0", "1.2", "1.2.3.4", "1.2.3rc1", "1.02.3", 3]
)
def test_only_plain_major_minor_patch_versions(operator, wheel, version):
    doc = {
        "version": version,
        "created": "2026-11-25T00:00:00Z",
        "files": [{"name": "a", "sha256": "0" * 64, "size": 1}],
    }
    data = json.dumps(doc).encode()
    assert code_of(release.verify_manifest, data, release.sign_manifest(data, operator), pub(operator)) == (
        "invalid_version"
    )
    if isinstance(version, str):  # the operator's tool refuses before signing
        assert code_of(release.build_manifest, version, [wheel]) == "invalid_version"


def test_versions_order_as_numbers():
    assert release.parse_version("1.10.0") > release.parse_version("1.9.9") > release.parse_version("0.99.99")


@pytest.mark.parametrize(
    "name",
    ["../etc/passwd", "a/b", ".hidden", "manifest.json", "manifest.json.sig", "MANIFEST.json", "x" * 129],
)
def test_unsafe_or_reserved_file_names_are_refused(operator, tmp_path, name):
    doc = {
        "version": "1.0.0",
        "created": "2026-11-25T00:00:00Z",
        "files": [{"name": name, "sha256": "0" * 64, "size": 1}],
    }
    data = json.dumps(doc).encode()
    assert code_of(release.verify_manifest, data, release.sign_manifest(data, operator), pub(operator)) == (
        "invalid_file_name"
    )
    if "/" not in name:
        (tmp_path / name).write_bytes(b"x")
        assert code_of(release.build_manifest, "1.0.0", [tmp_path / name]) == "invalid_file_name"


def test_manifest_that_is_not_json_is_refused(operator):
    data = b"\xff not json"
    assert (
        code_of(release.verify_manifest, data, release.sign_manifest(data, operator), pub(operator))
        == "bad_manifest"
    )


def test_operator_key_must_be_ed25519():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(release.ReleaseError, match="Ed25519") as e:
        release.load_operator_public_key(pem)
    assert e.value.code == "bad_release_key"
    with pytest.raises(release.ReleaseError) as e:
        release.load_operator_public_key(b"-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n")
    assert e.value.code == "bad_release_key"
