#!/usr/bin/env bash
# The README's "command alone" install path, as a user takes it: `uv tool install .` into a private tool
# directory (never the user's), then `planoai --version` and `planoai tui --no-ui` on the bundled
# config.yaml with no API keys, answering /healthz. Locked mode constrains the tool to uv.lock's runtime
# versions; `--latest` lets it resolve freely, as a user's `uv tool install .` or `pipx install .` would.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=.tools/uv/bin/uv
TOOLS="$PWD/.tools/tool-install"
export UV_TOOL_DIR="$TOOLS/tools" UV_TOOL_BIN_DIR="$TOOLS/bin" UV_PYTHON_DOWNLOADS=never UV_SYSTEM_CERTS=1
rm -rf "$TOOLS"
mkdir -p "$TOOLS"
args=()
if [ "${1:-}" != "--latest" ]; then
  "$UV" export --frozen --no-hashes --no-emit-project --no-header -q -o "$TOOLS/constraints.txt"
  args=(--constraints "$TOOLS/constraints.txt")
fi
"$UV" tool install -q --python "$(python3 -c 'import sys; print(sys.executable)')" "${args[@]}" .
planoai="$TOOLS/bin/planoai"
"$planoai" --version

work=$(mktemp -d)
cp config.yaml "$work/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# No API keys, whatever the caller's environment holds: the bundled config must still start.
(cd "$work" && exec env -u OPENAI_API_KEY -u GROK_API_KEY -u ANTHROPIC_API_KEY -u XAI_API_KEY \
  "$planoai" tui --no-ui --port "$port" >"$work/out.log" 2>&1) &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do  # readiness, not timing: stops at the first answer or when the process dies
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    echo "tool install: planoai tui --no-ui answers /healthz on 127.0.0.1:$port"
    kill -TERM "$pid"
    wait "$pid" || { echo "tool install: planoai exited non-zero after SIGTERM" >&2; cat "$work/out.log" >&2; exit 1; }
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
echo "tool install: the installed planoai never answered /healthz" >&2
cat "$work/out.log" >&2
exit 1
