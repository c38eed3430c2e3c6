#!/usr/bin/env bash
# Installs the certificate tests' independent JWT signer (PyPI `PyJWT` with `cryptography`, pinned:
# a JWT library that is not ours signs the JWTs Latchkey must accept or refuse) into a virtualenv
# in a cache directory outside the repository, once, and copies sign.py beside it. Idempotent and
# safe to run concurrently; prints the directory to run from.
set -euo pipefail

pyjwt="2.15.1"
cryptography="50.0.2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${LATCHKEY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latchkey}/pyjwt-peer-${pyjwt}"
mkdir -p "${cache}"

(
    flock 9
    if [[ ! -x "${cache}/venv/bin/python" ]] || ! "${cache}/venv/bin/python" -c "import jwt, cryptography" 2>/dev/null; then
        command -v python3 >/dev/null || { echo "python3 is needed for the certificate tests (apt-get install python3-venv)" >&2; exit 1; }
        rm -rf "${cache}/venv"
        python3 -m venv "${cache}/venv" >&2
        "${cache}/venv/bin/pip" install --quiet --disable-pip-version-check \
            "pyjwt==${pyjwt}" "cryptography==${cryptography}" >&2
    fi
    cp "${here}/sign.py" "${cache}/sign.py.tmp"
    mv "${cache}/sign.py.tmp" "${cache}/sign.py"
) 9>"${cache}.lock"

echo "${cache}"
