#!/usr/bin/env bash
# Installs the MCP tests' independent client (PyPI `mcp`, the official MCP Python SDK, pinned: an
# MCP implementation that is not ours talks to Latchkey's server) into a virtualenv in a cache
# directory outside the repository, once, and copies client.py beside it. Idempotent and safe to
# run concurrently; prints the directory to run from.
set -euo pipefail

mcp="2.3.0"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${LATCHKEY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latchkey}/mcp-peer-${mcp}"
mkdir -p "${cache}"

(
    flock 9
    if [[ ! -x "${cache}/venv/bin/python" ]] || ! "${cache}/venv/bin/python" -c "import mcp.client" 2>/dev/null; then
        command -v python3 >/dev/null || { echo "python3 is needed for the MCP tests (apt-get install python3-venv)" >&2; exit 1; }
        rm -rf "${cache}/venv"
        python3 -m venv "${cache}/venv" >&2
        "${cache}/venv/bin/pip" install --quiet --disable-pip-version-check "mcp==${mcp}" >&2
    fi
    cp "${here}/client.py" "${cache}/client.py.tmp"
    mv "${cache}/client.py.tmp" "${cache}/client.py"
) 9>"${cache}.lock"

echo "${cache}"
