"""What telemetry costs: proxies with metrics, traces (100 % sampling, to a live OTLP collector) or both,
each saturated side by side with the same proxy with telemetry off, on one core (CPU 1); and telemetry
off against the revision before telemetry existed (`--baseline`), to show off costs nothing.

Method as bench/ab_versions.py: both servers pinned to CPU 1 and loaded by wrk at the same moment, the
ratio of requests served holds steady where sequential runs drift ±20 % on this VM; each pair runs in
both start orders and the geometric mean of the two cancels the harness's own bias.

    .venv/bin/python bench/bench_telemetry.py                      # small requests
    .venv/bin/python bench/bench_telemetry.py --stream             # streaming requests
    .venv/bin/python bench/bench_telemetry.py --baseline e175cb0   # also: off vs the pre-telemetry revision
    .venv/bin/python bench/bench_telemetry.py --only NONE --issue14  # sessions and cost accounting (#14)

Each ratio is also given in microseconds of CPU per request (the baseline's CPU × (1/ratio − 1)): a ratio
is a share of a base that moves whenever the rest of the proxy gets faster or slower; a feature's µs do not.

`--issue14` (what issue 14's session store and cost accounting cost, same code on both sides): a priced
model vs the same proxy on a model without a price (cost accounting), and Codex's `session-id` on every
request with sessions on (`prompt_caching.enabled`) vs off; metrics on (the default) on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ab_versions import CONFIG, tree
from bench_proxy import SMALL, STREAM, codex_body
from common import free_port, pin, scratch_dir, wrk_result, wrk_start

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def start(src: Path, config: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "BENCH_KEY": "k", "PYTHONPATH": str(src)}
    cmd = [*pin(1), PY, "-m", "plano_tui", "tui", "--no-ui", "--no-watch", "--config", str(config), "--port", str(port)]
    proc = subprocess.Popen([*cmd, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=src, env=env,
                            start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=0.5):
                return proc, url + "/v1/responses"
        except OSError:
            time.sleep(0.025)
    raise RuntimeError(f"proxy {extra} did not start")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU_US: dict[str, list[float]] = {}  # variant label → CPU µs per request, every rep of every order


def side_by_side(procs: list[tuple[subprocess.Popen[bytes], str]], body: bytes, reps: int, seconds: int,
                 labels: tuple[str, str], headers: dict[str, str] | None = None) -> list[float]:  # fmt: skip
    """Requests served by the second over the first, both saturated at once (one warm-up round); also
    each proxy's CPU time per request, which the machine's other load disturbs less than throughput."""
    out = []
    for i in range(reps + 1):
        before = [cpu_s(p.pid) for p, _ in procs]
        runs = [wrk_start(u, body, seconds, 32, headers) for _, u in procs]
        done = [wrk_result(r).requests for r in runs]
        used = [cpu_s(p.pid) - b for (p, _), b in zip(procs, before, strict=True)]
        if i:
            out.append(done[1] / max(1, done[0]))
            for label, n, c in zip(labels, done, used, strict=True):
                CPU_US.setdefault(label, []).append(c / max(1, n) * 1e6)
    return out


Side = tuple[Path, Path, tuple[str, ...]]  # source tree, config, extra CLI arguments
Row = tuple[float, list[float], list[float], tuple[str, str]]


def compare(a: Side, b: Side, body: bytes, reps: int, seconds: int, labels: tuple[str, str] = ("off", "on"),
            headers: dict[str, str] | None = None) -> Row:  # fmt: skip
    """b/a throughput, both orders combined (geometric mean), each order's ratios, and the two labels."""
    out = []
    for first, second, names in ((a, b, labels), (b, a, labels[::-1])):
        procs = [start(*first[:2], *first[2]), start(*second[:2], *second[2])]
        try:
            out.append(side_by_side(procs, body, reps, seconds, names, headers))
        finally:
            for p, _ in procs:
                p.terminate()
                p.wait(10)
    forward, backward = statistics.median(out[0]), statistics.median(out[1])
    return (forward / backward) ** 0.5, out[0], out[1], labels


ROUTED = """\
routing_preferences:
  - name: code generation
    description: generating new code snippets, functions, or boilerplate
    models: [openai/gpt-5.3-codex]
"""


def redis_row(tmp: Path, up_port: int, body: bytes, reps: int, seconds: int) -> tuple[str, *Row]:
    """Routed proxies (local backend, so every request looks pins up and stores them): sessions in
    Redis (a redis-server on CPU 0) vs in memory."""
    port = free_port()
    server = subprocess.Popen([*pin(0), "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        memory, shared = tmp / "routed.yaml", tmp / "routed_redis.yaml"
        memory.write_text(CONFIG.format(port=up_port) + ROUTED)
        shared.write_text(
            CONFIG.format(port=up_port) + ROUTED
            + f"routing:\n  session_cache: {{type: redis, url: 'redis://127.0.0.1:{port}'}}\n"
        )  # fmt: skip
        time.sleep(0.5)  # redis-server binds at once; a missing one shows as the replica's warning
        off = (ROOT, memory, ("--no-metrics",))
        on = (ROOT, shared, ("--no-metrics",))
        labels = ("routed, memory sessions", "routed, Redis sessions")
        return ("Redis sessions / memory (routed)", *compare(off, on, body, reps, seconds, labels))
    finally:
        server.terminate()
        server.wait(10)


ISSUE14 = """\
version: v0.4.0
model_providers:
  - model: openai/bench-model
    access_key: $BENCH_KEY
    base_url: http://127.0.0.1:{port}/v1
    default: true
model_aliases:
  arch.codex.default:
    target: bench-model
"""
PRICES = {"openai": {"models": {"bench-model": {"cost": {"input": 1.25, "output": 10.0, "cache_read": 0.125}}}}}


def issue14_rows(tmp: Path, up_port: int, body: bytes, reps: int, seconds: int) -> list[tuple[str, *Row]]:
    """Sessions and cost accounting (issue 14), each against the same proxy without them."""
    prices = tmp / "prices.json"
    prices.write_text(json.dumps(PRICES))
    unpriced, priced, sessions = tmp / "unpriced.yaml", tmp / "priced.yaml", tmp / "sessions.yaml"
    unpriced.write_text(ISSUE14.format(port=up_port))
    source = f"model_metrics_sources:\n  - {{type: cost, provider: models.dev, url: {prices}}}\n"
    priced.write_text(ISSUE14.format(port=up_port) + source)
    sessions.write_text(priced.read_text() + "prompt_caching:\n  enabled: true\n")
    rows = []
    labels = ("unpriced model", "priced model (cost accounting)")
    rows.append(("cost accounting / unpriced", *compare((ROOT, unpriced, ()), (ROOT, priced, ()), body, reps,
                                                        seconds, labels)))  # fmt: skip
    labels = ("session-id, sessions off", "session-id, sessions on")
    rows.append(("sessions on / off (session-id each request)", *compare(
        (ROOT, priced, ()), (ROOT, sessions, ()), body, reps, seconds, labels, {"session-id": "bench-session-1"}
    )))  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stream", action="store_true", help="streaming requests (22 SSE events each)")
    ap.add_argument("--codex", action="store_true", help="a captured Codex request body padded to 40 KB")
    ap.add_argument("--only", help="run only the variants whose name contains this")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--baseline", help="git revision before telemetry: compare `off` against it too")
    ap.add_argument("--redis", action="store_true", help="also: routed proxy with Redis-shared sessions vs memory")
    ap.add_argument("--issue14", action="store_true", help="also: sessions and cost accounting (issue 14) vs without")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("needs wrk (apt-get install wrk)")
    tmp = scratch_dir()
    up_port, otlp_port = free_port(), free_port()
    count_file = tmp / "spans"
    upstream = subprocess.Popen([*pin(0), PY, str(ROOT / "bench" / "upstream_server.py"), str(up_port)])
    sink = subprocess.Popen([*pin(0), PY, str(ROOT / "bench" / "otlp_sink.py"), str(otlp_port), str(count_file)])
    try:
        plain = tmp / "plain.yaml"
        plain.write_text(CONFIG.format(port=up_port))
        traced, traced10, traced0 = tmp / "traced.yaml", tmp / "traced10.yaml", tmp / "traced0.yaml"
        for path, pct in ((traced, 100), (traced10, 10), (traced0, 0.01)):
            path.write_text(
                CONFIG.format(port=up_port)
                + f"tracing:\n  random_sampling: {pct}\n  opentracing_grpc_endpoint: http://127.0.0.1:{otlp_port}\n"
            )
        body = STREAM if args.stream else codex_body(40) if args.codex else SMALL
        off = (ROOT, plain, ("--no-metrics",))
        variants = {
            "metrics on": (ROOT, plain, ()),
            "traces on (100 %)": (ROOT, traced, ("--no-metrics",)),
            "metrics + traces": (ROOT, traced, ()),
            "traces on (10 %)": (ROOT, traced10, ("--no-metrics",)),
            # what the request path pays for tracing itself (ids, traceparent both ways), nearly no spans
            "traces on, unsampled (0.01 %)": (ROOT, traced0, ("--no-metrics",)),
        }
        if args.only:
            variants = {k: v for k, v in variants.items() if args.only in k}
        rows = []
        for name, v in variants.items():
            rows.append((f"{name} / off", *compare(off, v, body, args.reps, args.seconds, ("off", name))))
        if args.redis:
            rows.append(redis_row(tmp, up_port, body, args.reps, args.seconds))
        if args.issue14:
            rows += issue14_rows(tmp, up_port, body, args.reps, args.seconds)
        if args.baseline:
            base = (tree(args.baseline, tmp / "baseline"), plain, ())
            name = f"off / {args.baseline} (before telemetry)"
            rows.append((name, *compare(base, off, body, args.reps, args.seconds, (args.baseline, "off"))))
        kind = "streaming" if args.stream else "Codex 40 KB" if args.codex else "small"
        print(f"throughput ratios, {kind} requests, side by side on one core, {args.reps} x {args.seconds} s per order")
        for name, combined, fwd, bwd, _ in rows:
            detail = ", ".join(f"{x:.3f}" for x in fwd) + " | " + ", ".join(f"{1 / x:.3f}" for x in bwd)
            print(f"  {name:<42} {combined:.3f}   ({detail})")
        # The same results in microseconds: a ratio is a share of the base, which moves whenever the rest of
        # the proxy gets faster or slower; the CPU a feature adds to each request does not.
        print("what each costs per request, from the ratio and the baseline's CPU (base × (1/ratio − 1)):")
        for name, combined, _, _, (base_label, _) in rows:
            base = statistics.median(CPU_US[base_label])
            print(f"  {name:<42} {base * (1 / combined - 1):+6.1f} µs   (baseline {base:.1f} µs)")
        print("CPU µs per request (median over every rep; the proxy's own user + system time):")
        for label, us in CPU_US.items():
            print(f"  {label:<42} {statistics.median(us):7.1f}   (min {min(us):.1f}, max {max(us):.1f})")
    finally:
        sink.terminate()
        sink.wait(10)
        upstream.terminate()
        if count_file.exists():
            print(f"  spans received by the OTLP collector: {count_file.read_text()}")


if __name__ == "__main__":
    main()
