#!/usr/bin/env bash
# Install Plano's released CLI (planoai 0.4.39, from PyPI) into its own environment, .tools/plano-venv.
# It ships a `planoai` script too, so it must never share our .venv. The tests use
# .tools/plano-venv/bin/planoai to validate every config we ship or document against Plano's own schema
# (tests/test_plano_compat.py); they skip, saying why, when it is absent.
# Idempotent: returns at once when the pinned version is already there.
set -euo pipefail

PLANO_VERSION=0.4.39
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.tools/plano-venv"

log() { printf 'install_plano: %s\n' "$*" >&2; }

installed() {
  [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/planoai" ] &&
    [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("planoai"))' 2>/dev/null)" = "$PLANO_VERSION" ]
}

if installed; then
  log "planoai $PLANO_VERSION already installed in .tools/plano-venv"
  exit 0
fi
mkdir -p "$ROOT/.tools"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/pip" install -q "planoai==$PLANO_VERSION"
installed || { log "planoai $PLANO_VERSION did not install"; exit 1; }
log "planoai $PLANO_VERSION installed in .tools/plano-venv"
