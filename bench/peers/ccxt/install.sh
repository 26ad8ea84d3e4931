#!/bin/sh
# Installs the ccxt peer (package.json here: exact pins) into
# ${FH_PEERS_DIR:-$HOME/.cache/feedhandler/peers}/ccxt, outside the repository, and prints
# that directory. Idempotent: when the installed package.json and package-lock.json are
# unchanged and node_modules is complete it does nothing. run_ccxt.js is run from the
# repository with NODE_PATH=<dir>/node_modules (see README.md).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest="${FH_PEERS_DIR:-$HOME/.cache/feedhandler/peers}/ccxt"
mkdir -p "$dest"
if ! cmp -s "$here/package.json" "$dest/package.json"; then
    cp "$here/package.json" "$dest/package.json"
    rm -f "$dest/package-lock.json" "$dest/.installed"
fi
if [ ! -f "$dest/.installed" ] || [ ! -d "$dest/node_modules/ccxt" ] || [ ! -d "$dest/node_modules/kafkajs" ]; then
    cd "$dest"
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund --loglevel=error >&2
    else
        npm install --no-audit --no-fund --save-exact --loglevel=error >&2
    fi
    node -e 'for (const p of ["ccxt","kafkajs"]) { const v = require(process.argv[1] + "/node_modules/" + p + "/package.json").version; const want = require(process.argv[1] + "/package.json").dependencies[p]; if (v !== want) { console.error(p + " " + v + " != " + want); process.exit(1) } }' "$dest"
    touch "$dest/.installed"
fi
echo "$dest"
