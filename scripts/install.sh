#!/usr/bin/env bash
# Installs planoai-tui with its test tools into ./.venv. Needs only python3 (>= 3.11, with venv) and
# the package index; never installs anything outside this checkout, so it works on a system Python
# that refuses global installs (PEP 668).
#
#   bash scripts/install.sh            exactly what uv.lock pins, hash-checked (the README and CI use this)
#   bash scripts/install.sh --latest   the newest versions pyproject.toml's ranges allow (the drift check;
#                                      uv.lock is left untouched); prints what it installed
#   bash scripts/install.sh --lowest   the lowest versions pyproject.toml's ranges allow for our direct
#                                      dependencies (checks that the lower bounds are honest)
#   bash scripts/install.sh --relock   regenerate uv.lock at the newest allowed versions, then install it
#
# uv itself is bootstrapped into .tools/uv from scripts/uv-requirements.txt (pinned, hash-checked).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=locked
case "${1:-}" in
  "") ;;
  --latest) mode=latest ;;
  --lowest) mode=lowest ;;
  --relock) mode=relock ;;
  *) echo "usage: bash scripts/install.sh [--latest|--lowest|--relock]" >&2; exit 2 ;;
esac

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "install: planoai-tui needs Python >= 3.11 ($PY is $("$PY" -V 2>&1))" >&2; exit 1; }

UV_VERSION=$(sed -n 's/^uv==\([0-9.]*\).*/\1/p' scripts/uv-requirements.txt)
UV=.tools/uv/bin/uv
case "$("$UV" --version 2>/dev/null)" in
  "uv $UV_VERSION" | "uv $UV_VERSION "*) ;;
  *)
    rm -rf .tools/uv
    "$PY" -m venv .tools/uv
    .tools/uv/bin/pip install -q --disable-pip-version-check --require-hashes -r scripts/uv-requirements.txt
    ;;
esac

# The interpreter that ran this script, never one uv downloads; the TLS roots of the system (a
# company proxy's CA works as it does for pip).
# UV_COMPILE_BYTECODE: write the .pyc files at install, as pip does and uv by default does not. Where
# PYTHONDONTWRITEBYTECODE=1 is set (these CI sandboxes), Python never writes them itself, so without this
# every process (each test worker, each `planoai` the tests start) compiles aiohttp, textual, openai... from
# source again: a large share of the test suite's CPU time.
export UV_PYTHON_DOWNLOADS=never UV_SYSTEM_CERTS=1 UV_COMPILE_BYTECODE=1
PY_EXE=$("$PY" -c 'import sys; print(sys.executable)')

case "$mode" in
  locked)
    # --locked: fail, rather than re-resolve, when pyproject.toml changed without `--relock`.
    "$UV" sync --locked --extra dev --python "$PY_EXE"
    ;;
  relock)
    "$UV" lock --upgrade --python "$PY_EXE"
    "$UV" sync --locked --extra dev --python "$PY_EXE"
    ;;
  latest | lowest)
    resolution=highest
    [ "$mode" = lowest ] && resolution=lowest-direct
    "$UV" venv -q --clear --python "$PY_EXE" .venv
    "$UV" pip install --python .venv/bin/python --upgrade --resolution "$resolution" -e '.[dev]'
    echo "install --$mode: installed these versions (uv.lock not used):"
    "$UV" pip freeze --python .venv/bin/python --exclude-editable | sed 's/^/  /'
    ;;
esac
# Our own sources too (an editable install: uv compiles site-packages only). A .pyc older than its source
# is ignored by Python, so an edit never runs stale code; it only compiles again until the next install.
.venv/bin/python -m compileall -q plano_tui proxy || echo "install: some sources did not compile (above); the tests will say more"
