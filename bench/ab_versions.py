"""Is a change faster? Two versions of `planoai tui --no-ui`, saturated side by side on one core.

On this VM one process's speed drifts ±20 % between consecutive runs, so a sequential before/after
comparison cannot see a 2-5 % change. This script checks out two git revisions into temporary trees,
starts both proxies pinned to CPU 1 against one zero-delay loopback upstream (CPU 0), and loads them
with wrk at the same moment: the ratio of requests served holds steady within a run. The harness
itself favours one side by a point or two (an A/A run gives ~1.00-1.03), so it runs both orders and
reports their geometric mean, which cancels that.

    .venv/bin/python bench/ab_versions.py HEAD~1 WORKTREE          # small requests, 5 × 3 s per order
    .venv/bin/python bench/ab_versions.py main WORKTREE --stream    # streaming requests
    .venv/bin/python bench/ab_versions.py main WORKTREE --config-extra $'prompt_caching:\n  enabled: true\n'
                                                  # both sides read this config too (sessions on, issue 14)
    .venv/bin/python bench/ab_versions.py main WORKTREE --codex --header session-id:bench-1 \
        --config-extra $'prompt_caching:\n  enabled: true\n'   # a Codex session's 40 KB turns

WORKTREE means the files as they are now (uncommitted changes included).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench_proxy import SMALL, STREAM, codex_body
from common import free_port, pin, scratch_dir, wrk_result, wrk_start

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CONFIG = """\
version: v0.4.0
model_providers:
  - model: openai/gpt-5.3-codex
    access_key: $BENCH_KEY
    base_url: http://127.0.0.1:{port}/v1
    default: true
model_aliases:
  arch.codex.default:
    target: gpt-5.3-codex
"""


def tree(rev: str, into: Path) -> Path:
    """The sources of `rev` (or of the working tree for WORKTREE), with bytecode compiled."""
    if rev == "WORKTREE":
        return ROOT
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    subprocess.run([PY, "-m", "compileall", "-q", str(into / "proxy"), str(into / "plano_tui")], check=True)
    return into


def start(src: Path, config: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "BENCH_KEY": "k", "PYTHONPATH": str(src)}
    proc = subprocess.Popen(
        [*pin(1), PY, "-m", "plano_tui", "tui", "--no-ui", "--no-watch", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=src, env=env, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=0.5):
                return proc, url + "/v1/responses"
        except OSError:
            time.sleep(0.025)
    raise RuntimeError(f"{src} did not start")


def ratios(urls: tuple[str, str], body: bytes, reps: int, seconds: int,
           headers: dict[str, str] | None = None) -> list[float]:
    """Requests served by the second over the first, both saturated at once; one warm-up round."""
    out = []
    for i in range(reps + 1):
        runs = [wrk_start(u, body, seconds, 32, headers) for u in urls]
        done = [wrk_result(p).requests for p in runs]
        if i:
            out.append(done[1] / max(1, done[0]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", help="git revision (or WORKTREE)")
    ap.add_argument("after", help="git revision (or WORKTREE)")
    ap.add_argument("--stream", action="store_true", help="streaming requests (22 SSE events each)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--config-extra", default="", help="YAML appended to both sides' config")
    ap.add_argument("--codex", action="store_true", help="a captured Codex request body padded to 40 KB")
    ap.add_argument("--header", action="append", default=[], metavar="NAME:VALUE",
                    help="a request header, e.g. session-id:bench-1 (a Codex session on every request)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("needs wrk (apt-get install wrk)")
    tmp = scratch_dir()
    up_port = free_port()
    upstream = subprocess.Popen([*pin(0), PY, str(ROOT / "bench" / "upstream_server.py"), str(up_port)])
    procs: list[subprocess.Popen[bytes]] = []
    try:
        config = tmp / "config.yaml"
        config.write_text(CONFIG.format(port=up_port) + args.config_extra)
        before, after = tree(args.before, tmp / "before"), tree(args.after, tmp / "after")
        body = codex_body(40) if args.codex else STREAM if args.stream else SMALL
        headers = dict(h.split(":", 1) for h in args.header) or None
        results = {}
        for name, pair in (("before, after", (before, after)), ("after, before", (after, before))):
            started = [start(src, config) for src in pair]
            procs += [p for p, _ in started]
            r = ratios((started[0][1], started[1][1]), body, args.reps, args.seconds, headers)
            results[name] = r
            for p, _ in started:
                p.terminate()
                p.wait(5)
        forward = statistics.median(results["before, after"])  # after / before
        backward = statistics.median(results["after, before"])  # before / after
        for name, r in results.items():
            print(f"started {name}: second/first = {statistics.median(r):.3f} ({', '.join(f'{x:.3f}' for x in r)})")
        print(f"after/before, both orders combined: {(forward / backward) ** 0.5:.3f}"
              f" ({'Codex 40 KB' if args.codex else 'streaming' if args.stream else 'small'} requests,"
              " side by side on one core)")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        upstream.terminate()


if __name__ == "__main__":
    main()
