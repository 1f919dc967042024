"""The last step of an update: the verified wheel really installs (into a throwaway venv)."""

import subprocess
import sys
import venv

import pytest

from agent import update
from mkp_core import release
from mkp_core.errors import MkpError

pytestmark = pytest.mark.slow  # builds a wheel and installs it into a new venv, with pip


def make_wheel(tmp_path, version: str):
    """Build a tiny real wheel with pip (setuptools from the build environment pip sets up)."""
    src = tmp_path / "src"
    (src / "mkp_probe").mkdir(parents=True)
    (src / "mkp_probe" / "__init__.py").write_text(f'VERSION = "{version}"\n')
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "mkp-probe"\nversion = "{version}"\n'
    )
    out = tmp_path / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {done.stderr.strip().splitlines()[-1:]}")
    return next(out.glob("*.whl"))


def test_verified_wheel_installs_and_a_release_without_one_is_refused(tmp_path):
    wheel = make_wheel(tmp_path, "3.1.0")
    key = release.generate_operator_key()
    manifest = release.build_manifest("3.1.0", [wheel])
    verified = update.VerifiedRelease(
        release.verify_manifest(manifest, release.sign_manifest(manifest, key), key.public_key()), [wheel]
    )
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    python = str(target / "bin" / "python")
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
