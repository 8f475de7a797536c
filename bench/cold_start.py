"""Cold start of `planoai tui --no-ui` (spawn → /healthz answering), two revisions interleaved so the
machine's load drifts the same way for both; bytecode cached, as on every start after the first.

    .venv/bin/python bench/cold_start.py main WORKTREE [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ab_versions import CONFIG, tree
from common import free_port, scratch_dir

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def once(src: Path, config: Path) -> float:
    port = free_port()
    env = {**os.environ, "BENCH_KEY": "k", "PYTHONPATH": str(src)}
    t0 = time.perf_counter()
    cmd = [PY, "-m", "plano_tui", "tui", "--no-ui", "--no-watch", "--config", str(config), "--port", str(port)]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=src, env=env)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=0.5):
                    return time.perf_counter() - t0
            except OSError:
                time.sleep(0.005)
    finally:
        p.terminate()
        p.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("revs", nargs="+", help="git revisions (or WORKTREE)")
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    tmp = scratch_dir()
    config = tmp / "config.yaml"
    config.write_text(CONFIG.format(port=free_port()))
    trees = [tree(r, tmp / f"t{i}") for i, r in enumerate(args.revs)]
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "proxy"), str(ROOT / "plano_tui")], check=True)
    times: list[list[float]] = [[] for _ in trees]
    for _ in range(args.runs):
        for i, src in enumerate(trees):
            times[i].append(once(src, config))
    for rev, ts in zip(args.revs, times, strict=True):
        print(f"{rev:<12} cold start median {statistics.median(ts):.3f} s  (min {min(ts):.3f}, max {max(ts):.3f})")


if __name__ == "__main__":
    main()
