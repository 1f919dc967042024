#!/usr/bin/env bash
# Sets up everything mkp needs on a Debian machine; safe to run again.
#   ./install.sh          development, tests and the demo: everything (.[dev], virtual card reader)
#   ./install.sh --kiosk  a shop / museum terminal: the agent only (.[agent]), USB card readers,
#                         no server, no virtual reader, no demo or test tools
set -euo pipefail
cd "$(dirname "$0")"

kiosk=0
for arg in "$@"; do
  case "$arg" in
    --kiosk) kiosk=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

# Debian packages: Python to build the venv, PC/SC for the card reader (pyscard builds
# against libpcsclite with swig), zbar for QR decoding, a Japanese font (IPA Gothic) for
# receipts on printers without a Kanji font (the text is printed as an image).
# Chromium shows the counter page on a kiosk's touch screen (and the tests drive it with
# Playwright: Debian's own build, no browser is downloaded).
packages=(python3 python3-venv python3-dev build-essential pcscd libpcsclite-dev swig libzbar0
          fonts-ipafont-gothic chromium)
if [ "$kiosk" = 1 ]; then
  packages+=(libccid)               # USB CCID card readers
else
  # vpcd listens on all interfaces: development, tests and the demo only, never on a kiosk.
  # PostgreSQL's server: the tests start a throwaway one from its binaries when
  # MKP_TEST_POSTGRES_URL is not set. Debian makes its main cluster (port 5432) when it first
  # installs the package; an installed one is left as it is. HAProxy: bench/scaleout.py balances
  # several server hosts with it (started by the bench, not as a service).
  packages+=(vsmartcard-vpcd opensc postgresql haproxy)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "install.sh: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "install.sh: these Debian packages are missing; install them as root, then run me again:" >&2
    echo "  sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
compile_sources() {
  # An editable install leaves mkp's own modules uncompiled, and where PYTHONDONTWRITEBYTECODE is
  # set Python never caches them: every process (each server worker, each CLI run) would compile
  # them again. Compiled once here, they load from bytecode (a changed file is still recompiled).
  .venv/bin/python -m compileall -q -j 0 mkp_core mkp_admin server agent drivers provisioning demo >/dev/null
}
if [ "$kiosk" = 1 ]; then
  .venv/bin/python -m pip install -q -e '.[agent]'
  compile_sources
  echo "install.sh: ready. Enroll this terminal with .venv/bin/mkp-provision (see README)"
else
  .venv/bin/python -m pip install -q -e '.[dev]'
  compile_sources
  # The browser tests' accessibility checker (axe-core), from npm's registry at its locked version.
  if command -v npm >/dev/null; then
    npm ci --prefix tests/web_tools --no-audit --no-fund --silent ||
      echo "install.sh: npm could not install axe-core: the accessibility checks will be skipped" >&2
  else
    echo "install.sh: npm is missing: the accessibility checks (axe-core) will be skipped" >&2
  fi
  echo "install.sh: ready. Try .venv/bin/mkp-demo"
fi
