"""The last step of an update: the verified wheel really installs (into a throwaway venv)."""

import base64
import hashlib
import subprocess
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from agent import update
from mkp_core import release
from mkp_core.errors import MkpError

pytestmark = pytest.mark.slow  # makes a venv and installs a wheel into it with pip, as a kiosk does


def make_wheel(tmp_path: Path, version: str) -> Path:
    """A tiny real wheel (PEP 427: the module, METADATA, WHEEL and a RECORD of their hashes), written
    as a build backend writes one: a build through pip set up an isolated build environment with
    setuptools in it, seconds of CPU for three files."""
    files = {
        "mkp_probe/__init__.py": f'VERSION = "{version}"\n',
        f"mkp_probe-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: mkp-probe\nVersion: {version}\n",
        f"mkp_probe-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: mkp-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = f"mkp_probe-{version}.dist-info/RECORD"
    lines = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        lines.append(f"{name},sha256={digest},{len(text.encode())}")
    files[record] = "\n".join([*lines, f"{record},,"]) + "\n"
    wheel = tmp_path / "dist" / f"mkp_probe-{version}-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def venv_with_this_pip(target: Path) -> str:
    """A new venv whose ``python -m pip`` is this environment's pip (found through a .pth file):
    ensurepip copied pip into every new venv, most of this test's time. The venv's own
    site-packages is where pip installs; nothing else of this environment is on its path."""
    venv.create(target, with_pip=False)
    python = str(target / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    only_pip = target.parent / "only-pip"
    only_pip.mkdir()
    (only_pip / "pip").symlink_to(Path(sysconfig.get_path("purelib")) / "pip")
    (Path(site) / "this-pip.pth").write_text(f"{only_pip}\n")
    return python


def test_verified_wheel_installs_and_a_release_without_one_is_refused(tmp_path):
    wheel = make_wheel(tmp_path, "3.1.0")
    key = release.generate_operator_key()
    manifest = release.build_manifest("3.1.0", [wheel])
    verified = update.VerifiedRelease(
        release.verify_manifest(manifest, release.sign_manifest(manifest, key), key.public_key()), [wheel]
    )
    python = venv_with_this_pip(tmp_path / "venv")
    update.install(verified, python=python)
    done = subprocess.run(
        [python, "-c", "import mkp_probe; print(mkp_probe.VERSION)"], capture_output=True, text=True
    )
    assert done.stdout.strip() == "3.1.0"

    with pytest.raises(MkpError) as e:
        update.install(update.VerifiedRelease(verified.manifest, []), python=python)
    assert e.value.code == "nothing_to_install"
    broken = tmp_path / "mkp_probe-9-py3-none-any.whl"
    broken.write_bytes(b"not a zip")
    with pytest.raises(MkpError) as e:
        update.install(update.VerifiedRelease(verified.manifest, [broken]), python=python)
    assert e.value.code == "install_failed"
