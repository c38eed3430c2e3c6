#!/usr/bin/env bash
# Installs the webhook tests' independent verifier (PyPI `standardwebhooks`, pinned: the Standard
# Webhooks project's own reference library, not ours) into a virtualenv in a cache directory outside
# the repository, once, and copies receiver.py beside it. Idempotent and safe to run concurrently;
# prints the directory to run from.
set -euo pipefail

version="1.1.0"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${LATCHKEY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latchkey}/standardwebhooks-peer-${version}"
mkdir -p "${cache}"

(
    flock 9
    if [[ ! -x "${cache}/venv/bin/python" ]] || ! "${cache}/venv/bin/python" -c "import standardwebhooks" 2>/dev/null; then
        command -v python3 >/dev/null || { echo "python3 is needed for the webhook tests (apt-get install python3-venv)" >&2; exit 1; }
        rm -rf "${cache}/venv"
        python3 -m venv "${cache}/venv" >&2
        "${cache}/venv/bin/pip" install --quiet --disable-pip-version-check "standardwebhooks==${version}" >&2
    fi
    cp "${here}/receiver.py" "${cache}/receiver.py.tmp"
    mv "${cache}/receiver.py.tmp" "${cache}/receiver.py"
) 9>"${cache}.lock"

echo "${cache}"
