#!/bin/sh
# install.sh - install the cryptofeed peer (issue 15) into a virtual environment OUTSIDE the
# repository, idempotently, and print the venv's path on the last line of stdout.
#
#   sh bench/peers/cryptofeed/install.sh            # -> ~/.cache/feedhandler/peers/cryptofeed-venv
#   FH_PEERS_DIR=/somewhere sh bench/peers/cryptofeed/install.sh
#   CRYPTOFEED_VENV=/exact/path sh bench/peers/cryptofeed/install.sh
#
# What it installs (exact pins, below): cryptofeed 2.4.1 from PyPI with its Kafka backend's
# dependency aiokafka 0.14.0 (with cramjam, aiokafka's lz4 codec), and every transitive
# dependency pinned through a constraints file, so two machines get the same set.
#
# cryptofeed 2.4.1 is an sdist with one Cython extension (cryptofeed/types.pyx): building it
# needs a C compiler and the Python 3.11 headers. If gcc or Python.h is missing the script
# installs the Debian packages build-essential and python3-dev with apt-get (as root), and
# python3-venv if /usr/bin/python3 cannot create a venv. The build runs without pip's build
# isolation against pinned setuptools/Cython/wheel inside the venv (setup.py imports
# setuptools.command.test, which some setuptools releases removed).
#
# The interpreter is Debian's /usr/bin/python3 (3.11), not whatever `python3` is first on PATH.
set -eu

CRYPTOFEED_VERSION=2.4.1
AIOKAFKA_VERSION=0.14.0
PY=${CRYPTOFEED_PYTHON:-/usr/bin/python3}
PEERS_DIR=${FH_PEERS_DIR:-$HOME/.cache/feedhandler/peers}
VENV=${CRYPTOFEED_VENV:-$PEERS_DIR/cryptofeed-venv}

# keep the venv out of the repository
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
mkdir -p "$(dirname "$VENV")"
case "$(cd "$(dirname "$VENV")" && pwd)/" in
    "$REPO"/*) echo "install.sh: refusing to create the venv inside the repository ($VENV)" >&2
               exit 2 ;;
esac

log() { echo "install.sh: $*" >&2; }

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        log "need Debian packages $*; run as root or: apt-get install $*"
        exit 1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 || {
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
    }
}

# the exact set (pip freeze of a working install); cryptofeed and aiokafka are the pins that
# matter, the rest keeps the environment reproducible
CONSTRAINTS=$(cat <<'EOF'
cryptofeed==2.4.1
aiokafka==0.14.0
cramjam==2.14.0
async-timeout==5.0.1
packaging==26.4
aiodns==4.0.4
aiofile==3.12.3
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiosignal==1.4.0
attrs==26.1.0
caio==0.12.10
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.3
frozenlist==1.8.0
idna==3.21
multidict==7.2.1
order_book==0.6.1
propcache==0.5.4
pycares==5.2.1
pycparser==3.12
PyYAML==6.0.4
requests==2.34.2
typing_extensions==4.16.0
urllib3==2.8.0
uvloop==0.23.0
websockets==17.4
yapic.json==1.9.5
yarl==1.25.1
setuptools==69.5.1
wheel==0.45.1
Cython==3.0.12
EOF
)

installed() {
    [ -x "$VENV/bin/python" ] || return 1
    "$VENV/bin/python" - "$CRYPTOFEED_VERSION" "$AIOKAFKA_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
import cryptofeed.types, cryptofeed.backends.kafka, aiokafka, cramjam  # noqa: F401
sys.exit(0 if (version("cryptofeed"), version("aiokafka")) == tuple(sys.argv[1:3]) else 1)
EOF
}

if installed; then
    log "cryptofeed $CRYPTOFEED_VERSION and aiokafka $AIOKAFKA_VERSION already in $VENV"
    echo "$VENV"
    exit 0
fi

[ -x "$PY" ] || { log "$PY not found"; exit 1; }
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3-venv
fi
NEED=""
command -v gcc >/dev/null 2>&1 || NEED="build-essential"
if ! "$PY" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
    NEED="$NEED python3-dev"
fi
[ -z "$NEED" ] || apt_install $NEED

if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV with $PY"
    "$PY" -m venv "$VENV"
fi
CFILE="$VENV/constraints.txt"
printf '%s\n' "$CONSTRAINTS" > "$CFILE"
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
log "pip: build tools"
$PIP install -c "$CFILE" setuptools wheel Cython >&2
log "pip: cryptofeed==$CRYPTOFEED_VERSION aiokafka[lz4]==$AIOKAFKA_VERSION (builds the Cython extension)"
$PIP install --no-build-isolation -c "$CFILE" "cryptofeed==$CRYPTOFEED_VERSION" \
    "aiokafka[lz4]==$AIOKAFKA_VERSION" >&2
installed || { log "installed, but cryptofeed/aiokafka do not import from $VENV"; exit 1; }
log "done: $("$VENV/bin/python" -m pip freeze 2>/dev/null | grep -E '^(cryptofeed|aiokafka)==' | tr '\n' ' ')"
echo "$VENV"
