#!/usr/bin/env bash
# Install the pinned coding-agent clients the e2e tests drive (tests/e2e) into .tools/, project-locally:
#   .tools/node_modules/.bin/codex    @openai/codex 0.169.0
#   .tools/node_modules/.bin/claude   @anthropic-ai/claude-code 2.1.197
# Idempotent: when both already report the pinned versions it returns at once. Needs node + npm and the
# npm registry only; never installs globally. `planoai cli-agent` finds these binaries too.
#
# Claude Code's npm package ships a 500-byte stub as bin/claude.exe; its postinstall (install.cjs) links
# the platform binary (an optional dependency) over it. npm 11 blocks dependency install scripts unless
# package.json `allowScripts` approves them, so the generated package.json approves exactly that one, and
# if the script still did not run (older policy, ignore-scripts=true in a user .npmrc) we run install.cjs.
set -euo pipefail

CODEX_VERSION=0.169.0
CLAUDE_VERSION=2.1.197
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/node_modules/.bin"
CLAUDE_PKG="$TOOLS/node_modules/@anthropic-ai/claude-code"

log() { printf 'install_clients: %s\n' "$*" >&2; }

codex_ok() { [ -x "$BIN/codex" ] && [ "$("$BIN/codex" --version 2>/dev/null)" = "codex-cli $CODEX_VERSION" ]; }
claude_ok() {
  [ -x "$BIN/claude" ] || return 1
  case "$("$BIN/claude" --version 2>/dev/null)" in "$CLAUDE_VERSION "*) return 0 ;; *) return 1 ;; esac
}

if codex_ok && claude_ok; then
  log "codex $CODEX_VERSION and claude $CLAUDE_VERSION already installed in .tools/"
  exit 0
fi

for tool in node npm; do
  command -v "$tool" >/dev/null || { log "error: $tool not found; install Node.js >= 18 (with npm)"; exit 1; }
done

mkdir -p "$TOOLS"
cat >"$TOOLS/package.json" <<EOF
{
  "name": "planoai-tui-tools",
  "private": true,
  "description": "Pinned coding-agent clients for planoai-tui's e2e tests; written by .ci/install_clients.sh",
  "dependencies": {
    "@openai/codex": "$CODEX_VERSION",
    "@anthropic-ai/claude-code": "$CLAUDE_VERSION"
  },
  "allowScripts": {
    "@anthropic-ai/claude-code@$CLAUDE_VERSION": true
  }
}
EOF

log "npm install --prefix .tools @openai/codex@$CODEX_VERSION @anthropic-ai/claude-code@$CLAUDE_VERSION"
# --include=optional: the native binaries are optional dependencies (a user `omit=optional` would drop them).
npm install --prefix "$TOOLS" --include=optional --no-audit --no-fund --no-update-notifier \
  --loglevel=error >&2

if [ "$(wc -c <"$CLAUDE_PKG/bin/claude.exe")" -lt 4096 ]; then
  log "claude-code postinstall did not run; running its install.cjs"
  node "$CLAUDE_PKG/install.cjs" >&2
fi

codex_ok || { log "error: $BIN/codex does not report codex-cli $CODEX_VERSION"; exit 1; }
claude_ok || { log "error: $BIN/claude does not report $CLAUDE_VERSION"; exit 1; }
log "installed: $("$BIN/codex" --version), claude $("$BIN/claude" --version)"
