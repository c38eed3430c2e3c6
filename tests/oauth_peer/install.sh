#!/usr/bin/env bash
# Installs the OAuth tests' provider (npm `oidc-provider`, pinned) into a cache directory outside
# the repository, once, and copies provider.mjs beside it (ESM resolves packages from the script's
# own directory). Idempotent and safe to run concurrently; prints the directory to run from.
set -euo pipefail

version="9.13.3"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${LATCHKEY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latchkey}/oidc-peer-${version}"
mkdir -p "${cache}"

(
    flock 9
    if [[ ! -f "${cache}/node_modules/oidc-provider/package.json" ]]; then
        command -v npm >/dev/null || { echo "npm is needed for the OAuth tests (apt-get install nodejs npm)" >&2; exit 1; }
        echo '{"name":"latchkey-oidc-peer","private":true,"type":"module"}' > "${cache}/package.json"
        npm install --prefix "${cache}" --no-audit --no-fund --silent "oidc-provider@${version}" >&2
    fi
    cp "${here}/provider.mjs" "${cache}/provider.mjs.tmp"
    mv "${cache}/provider.mjs.tmp" "${cache}/provider.mjs"
) 9>"${cache}.lock"

echo "${cache}"
