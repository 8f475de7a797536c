"""What the live dashboard costs the proxy: throughput, added latency, and the UI's event-loop lag.

Proxy processes run pinned to CPU 1, all fed by the same zero-delay loopback upstream
(bench/upstream_server.py, CPU 0):
  no-ui — the proxy as `planoai tui --no-ui` runs it: the statistics and the MODEL_RESOLUTION printer
          (to /dev/null), no headers or bodies kept
  ui    — the proxy plus the real dashboard (plano_tui.dashboard.ui_main.build_app/run_app, the real terminal driver)
          inside a pseudo-terminal of 140×40 whose output this script drains, exactly as `planoai tui` runs
Both run like `planoai tui` does: on its event loop (uvloop when installed) with its GC tuning, and both
run an event-loop lag probe (a 10 ms sleep, overshoot recorded). The load is streaming Codex-like
/v1/responses requests. Phases:
  A  sequential: wrk (CPU 0, 32 connections) against one, then the other, in A-B/B-A pairs; the median of
     the per-pair ratios, plus the proxy process's CPU time per request
  S  side by side: both saturated at the same time on CPU 1 (half a core each), then as a trio with a
     second no-UI proxy (a third each). Immune to the host's speed drifting, which moves one process's
     throughput by ±20 % between consecutive runs here; the whole-core cost is extrapolated from the
     two shares (see report())
  B  200 req/s open loop in alternating windows (Python client on CPU 0): CPU at equal work, client
     latency p50/p99, loop lag
Results are printed as Markdown (and written to bench/out/bench_ui.json); bench/RESULTS.md explains them.

    .venv/bin/python bench/bench_ui.py          # ~3 minutes

`--attached` measures an attached dashboard instead (`planoai tui --attach URL`, a real process in a pty on
CPU 0, watching over the admin stream): two no-UI proxies saturated side by side on CPU 1, one of them
watched; the ratio of requests served is what the attached viewer costs the proxy it watches (the
encoding and writing of its stream). An A/A pair of unwatched proxies runs first for the noise floor.

    .venv/bin/python bench/bench_ui.py --attached    # ~1 minute
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pty
import signal
import statistics
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
from common import free_port, pct, pin, scratch_dir, wrk_result, wrk_start

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
BODY = json.dumps({"model": "arch.codex.default", "stream": True, "store": False,
                   "instructions": "You are Codex, a coding agent.", "reasoning": {"effort": "medium"},
                   "input": [{"type": "message", "role": "user",
                              "content": [{"type": "input_text", "text": "fix the failing test " * 40}]}]}).encode()
CONFIG = """\
version: v0.4.0
model_providers:
  - model: openai/gpt-5.3-codex
    access_key: $BENCH_KEY
    base_url: {upstream}/v1
    default: true
model_aliases:
  arch.codex.default:
    target: gpt-5.3-codex
"""


def tune_gc() -> None:
    from plano_tui.cli import _tune_gc

    _tune_gc()


def loop_factory() -> Any:
    from plano_tui.cli import _loop_factory

    return _loop_factory()








# ----------------------------------------------------------------------------- the server under test


async def serve(args: argparse.Namespace) -> None:
    from proxy.config import parse_config
    from proxy.server import ProxyServer
    from proxy.state import ProxyState

    config = parse_config(CONFIG.format(upstream=args.upstream), "(bench)", {"BENCH_KEY": "k"})
    state = ProxyState(config)
    if not args.ui:  # exactly what `planoai tui --no-ui` adds (plano_tui/cli.py); stdout is /dev/null here
        from plano_tui.headless import HeadlessPrinter

        state.bus.subscribe(HeadlessPrinter(sys.stdout), HeadlessPrinter.TYPES)
        state.details = None
    server = ProxyServer(state, port=args.port)
    await server.start()
    tune_gc()  # what `planoai tui` does after start-up, in both modes
    loop = asyncio.get_running_loop()
    samples: list[tuple[float, float]] = []

    async def probe() -> None:  # perf_counter: uvloop's loop.time() has millisecond resolution
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            samples.append((time.time(), (time.perf_counter() - t - 0.01) * 1000))

    probe_task = loop.create_task(probe())
    stop = asyncio.Event()
    app = None
    if args.ui:  # exactly what `planoai tui` runs (plano_tui.dashboard.ui_main.run_ui)
        from plano_tui.dashboard.ui_main import build_app, run_app
        from proxy.local_link import LocalLink

        app = build_app(LocalLink(state), server.url, config_path="(bench)", capacity=1000, demo=False)
        await run_app(app)
    else:
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
    probe_task.cancel()
    Path(args.result).write_text(json.dumps({
        "lag": samples, "requests": state.stats.total.requests,
        "dropped": state.bus.dropped + (app.bridge.dropped if app is not None else 0),
        "rows": len(app.store) if app is not None else 0,
        "ui_messages": app.bridge.batches if app is not None else 0,
    }))
    await server.stop(drain_s=0)


# ----------------------------------------------------------------------------- the driver


class Child:
    def __init__(self, ui: bool, upstream: str) -> None:
        self.ui = ui
        self.port = free_port()
        self.result = scratch_dir() / "result.json"
        cmd = [*pin(1), PY, __file__, "serve", "--port", str(self.port), "--upstream", upstream,
               "--result", str(self.result)] + (["--ui"] if ui else [])
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}
        self.out_bytes = 0
        if ui:  # the real terminal driver, writing into a pty we keep draining
            master, slave = pty.openpty()
            import fcntl

            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
            self.proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env,
                                         start_new_session=True, cwd=ROOT)
            os.close(slave)
            self.master = master
            threading.Thread(target=self._drain, daemon=True).start()
        else:
            self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True)

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not data:
                return
            self.out_bytes += len(data)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> dict:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=15)
        return json.loads(self.result.read_text())


async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(300):
            with contextlib.suppress(aiohttp.ClientError):
                async with s.get(url + "/healthz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


async def fixed_rate(url: str, rate: float, seconds: float) -> tuple[list[float], int, float, float]:
    """Open loop: start `rate` requests per second regardless of answers. (latencies ms, errors, t0, t1)."""
    lat: list[float] = []
    errors = 0
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as s:

        async def one() -> None:
            nonlocal errors
            t = time.perf_counter()
            try:
                async with s.post(url + "/v1/responses", data=BODY,
                                  headers={"Content-Type": "application/json"}) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            lat.append((time.perf_counter() - t) * 1000)

        t0 = time.time()
        start = time.perf_counter()
        tasks = []
        n = int(rate * seconds)
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        return lat, errors, t0, time.time()


def paired(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """(median, min, max) of the per-repetition ratios b[i] / a[i]. Each pair ran back to back, so a
    neighbour that slows the machine for a while moves both sides of a pair, not the ratio."""
    ratios = sorted(y / x for x, y in zip(a, b, strict=True) if x)
    return statistics.median(ratios), ratios[0], ratios[-1]


class Viewer:
    """`planoai tui --attach URL` in a 140×40 pty whose output is drained, pinned to CPU 0."""

    def __init__(self, url: str) -> None:
        import fcntl

        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}
        self.proc = subprocess.Popen([*pin(0), PY, "-m", "plano_tui", "tui", "--attach", url], stdin=slave,
                                     stdout=slave, stderr=slave, env=env, start_new_session=True, cwd=ROOT)
        os.close(slave)
        self.master = master
        self.out = bytearray()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not data:
                return
            self.out += data[-200:]  # only the tail is looked at

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=15)


async def admin_stats(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(url + "/admin/stats") as r:
        return dict(await r.json())


async def attached_driver(args: argparse.Namespace) -> None:
    """Phase C: the attached dashboard's cost to the proxy it watches, side by side at saturation."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    up_port = free_port()
    upstream = subprocess.Popen([*pin(0), PY, str(ROOT / "bench" / "upstream_server.py"), str(up_port)])
    upstream_url = f"http://127.0.0.1:{up_port}"
    children = {"plain": Child(False, upstream_url), "watched": Child(False, upstream_url)}
    viewer: Viewer | None = None
    ratios: dict[str, list[float]] = {"A/A": [], "watched": []}
    done_all: dict[str, list[int]] = {"plain": [], "watched": []}
    try:
        for c in children.values():
            await wait_ready(c.url)
        for c in children.values():
            await fixed_rate(c.url, 100, 1.0)

        async def side_by_side() -> dict[str, int]:
            running = {m: wrk_start(c.url + "/v1/responses", BODY, args.side_seconds) for m, c in children.items()}
            return {m: wrk_result(w).requests for m, w in running.items()}

        for _ in range(args.side_reps):  # the noise floor: nobody watches either
            done = await side_by_side()
            ratios["A/A"].append(done["watched"] / done["plain"])
        viewer = Viewer(children["watched"].url)
        deadline = time.monotonic() + 30
        while (await admin_stats(children["watched"].url))["viewers"] != 1:
            assert time.monotonic() < deadline, "the dashboard did not attach"
            await asyncio.sleep(0.1)
        for _ in range(args.side_reps):
            done = await side_by_side()
            ratios["watched"].append(done["watched"] / done["plain"])
            for m in done_all:
                done_all[m].append(done[m])
        stats = await admin_stats(children["watched"].url)
        viewer_alive = viewer.proc.poll() is None
    finally:
        if viewer is not None:
            viewer.stop()
        for c in children.values():
            if c.proc.poll() is None:
                c.stop()
        upstream.terminate()
        upstream.wait(timeout=5)
    aa, watched = statistics.median(ratios["A/A"]), statistics.median(ratios["watched"])
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "bench_ui_attached.json").write_text(json.dumps({"ratios": ratios, "done": done_all, "stats": stats}))
    print("\n".join([
        "| side by side on CPU 1, half a core each, wrk 32 conns | requests served, watched / plain |",
        "|---|---:|",
        f"| A/A: neither watched ({args.side_reps} × {args.side_seconds}s) | {aa:.3f} "
        f"({min(ratios['A/A']):.3f} … {max(ratios['A/A']):.3f}) |",
        f"| one watched by an attached `planoai tui` ({args.side_reps} × {args.side_seconds}s) | **{watched:.3f}** "
        f"({min(ratios['watched']):.3f} … {max(ratios['watched']):.3f}) |",
        f"| attached viewer's cost to the proxy, net of A/A | **{(watched / aa - 1) * 100:+.1f}%** |",
        f"| requests served (median): plain / watched | {statistics.median(done_all['plain']):,.0f} / "
        f"{statistics.median(done_all['watched']):,.0f} |",
        f"| viewer events skipped by the proxy (it fell behind) / viewer still running | "
        f"{stats['viewer_events_skipped']:,} / {viewer_alive} |",
    ]))


async def driver(args: argparse.Namespace) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})  # the load generator shares CPU 0 with the upstream
    up_port = free_port()
    upstream = subprocess.Popen([*pin(0), PY, str(ROOT / "bench" / "upstream_server.py"), str(up_port)])
    upstream_url = f"http://127.0.0.1:{up_port}"
    children = {"no-ui": Child(False, upstream_url), "ui": Child(True, upstream_url)}
    results: dict[str, dict] = {m: {"rps": [], "wrk_p50": [], "wrk_p99": [], "cpu": [], "cpu_ms_per_req": [],
                                    "rate_cpu": [], "lat": [], "errors": 0, "pty_bytes": 0, "rate_s": 0.0,
                                    "side_half_done": [], "side_half_cpu_ms_per_req": [],
                                    "side_third_done": [], "side_third_cpu_ms_per_req": []}
                                for m in children}
    windows: dict[str, list[tuple[float, float]]] = {m: [] for m in children}
    side: dict[str, list[float]] = {"half": [], "third": []}  # per repetition: dashboard / no-UI requests served
    try:
        for c in children.values():
            await wait_ready(c.url)
        await asyncio.sleep(1.0)
        for c in children.values():  # warm-up: connection pools, caches, the first screen
            await fixed_rate(c.url, 100, 1.0)
        for rep in range(args.reps):
            # A-B then B-A: a slow drift of the machine's speed favours neither side.
            for mode in (("no-ui", "ui") if rep % 2 == 0 else ("ui", "no-ui")):
                c = children[mode]
                cpu0, t0 = c.cpu_s(), time.time()
                rps, p50, p99, done = wrk_result(wrk_start(c.url + "/v1/responses", BODY, args.seconds))
                cpu = c.cpu_s() - cpu0
                results[mode]["rps"].append(rps)
                results[mode]["wrk_p50"].append(p50)
                results[mode]["wrk_p99"].append(p99)
                results[mode]["cpu"].append(cpu / (time.time() - t0) * 100)
                # CPU time per request: what throughput at saturation is the inverse of, and unlike
                # req/s it does not move when a neighbour on this shared machine takes CPU 1 away.
                results[mode]["cpu_ms_per_req"].append(cpu * 1000 / max(1, done))
        # Side by side: saturated at the same time on the same core, each proxy in its own session so
        # the scheduler splits CPU 1 evenly. Whatever the machine does to one it does to the others at
        # the same moment, so the ratio of requests served is steady to about ±2 % (an A/A run gives
        # 0.99–1.01), where consecutive runs of one process differ by ±20 % on this VM. Run as a pair
        # (half a core each) and as a trio with a second no-UI proxy (a third each); see report().
        spare = Child(False, upstream_url)
        await wait_ready(spare.url)
        await fixed_rate(spare.url, 100, 1.0)
        try:
            for _ in range(args.side_reps):
                for group, extra in (("half", {}), ("third", {"spare": spare})):
                    procs = {**{m: (c, c.cpu_s()) for m, c in children.items()},
                             **{m: (c, c.cpu_s()) for m, c in extra.items()}}
                    running = {m: wrk_start(c.url + "/v1/responses", BODY, args.side_seconds)
                               for m, (c, _) in procs.items()}
                    done = {m: wrk_result(w).requests for m, w in running.items()}
                    base_done = statistics.mean(done[m] for m in done if m != "ui")
                    side[group].append(done["ui"] / base_done)
                    for m in children:
                        c, cpu0 = procs[m]
                        results[m][f"side_{group}_done"].append(done[m])
                        results[m][f"side_{group}_cpu_ms_per_req"].append((c.cpu_s() - cpu0) * 1000 / max(1, done[m]))
        finally:
            spare.stop()
        # Fixed rate, in alternating windows: the same work per second for both, so the CPU difference is
        # what the dashboard costs at that load; plus client latency and the event-loop lag.
        window = args.rate_seconds / args.rate_windows
        for rep in range(args.rate_windows):
            for mode in (("no-ui", "ui") if rep % 2 == 0 else ("ui", "no-ui")):
                c = children[mode]
                bytes0, cpu0 = c.out_bytes, c.cpu_s()
                lat, errors, t0, t1 = await fixed_rate(c.url, args.rate, window)
                windows[mode].append((t0, t1))
                r = results[mode]
                r["lat"] += lat
                r["errors"] += errors
                r["rate_cpu"].append((c.cpu_s() - cpu0) / (t1 - t0) * 100)
                r["pty_bytes"] += c.out_bytes - bytes0
                r["rate_s"] += t1 - t0
        for mode, c in children.items():
            data = c.stop()
            lags = [lag for t, lag in data["lag"] if any(t0 <= t <= t1 for t0, t1 in windows[mode])]
            r = results[mode]
            r.update(lat_p50=pct(r["lat"], 50), lat_p99=pct(r["lat"], 99), n=len(r["lat"]),
                     lag_p50=pct(lags, 50), lag_p99=pct(lags, 99), lag_max=max(lags, default=0),
                     dropped=data["dropped"], served=data["requests"], rows=data["rows"],
                     ui_messages=data["ui_messages"], pty_kb_s=r["pty_bytes"] / 1024 / max(1e-9, r["rate_s"]))
            del r["lat"]
    finally:
        for c in children.values():
            if c.proc.poll() is None:
                c.proc.kill()
        upstream.terminate()
        upstream.wait(timeout=5)
    results["side_ratios"] = side  # type: ignore[assignment]
    report(results, args)


def report(r: dict[str, dict], args: argparse.Namespace) -> None:
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "bench_ui.json").write_text(json.dumps(r, indent=2))
    base, ui = r["no-ui"], r["ui"]
    modes = {m: r[m] for m in ("no-ui", "ui")}
    med = {m: statistics.median(v["rps"]) for m, v in modes.items()}
    cpr = {m: statistics.median(v["cpu_ms_per_req"]) for m, v in modes.items()}
    rps_ratio = paired(base["rps"], ui["rps"])
    cpu_ratio = paired(base["cpu_ms_per_req"], ui["cpu_ms_per_req"])
    rate_ratio = paired(base["rate_cpu"], ui["rate_cpu"])
    rate_cpu = {m: statistics.median(v["rate_cpu"]) for m, v in modes.items()}
    ratios = r["side_ratios"]
    half, third = statistics.median(ratios["half"]), statistics.median(ratios["third"])
    # The dashboard's cost has a part per request (ingest, bodies) and a part per second (frames: 4 a
    # second whatever the load). Given a share s of the core, the per-second part weighs 1/s times what
    # it does on a whole core, so the served ratio is linear in 1/s: r(s) = A − B/s. The half-core and
    # third-core runs give A and B; the whole-core ratio is r(1) = 2·r(½) − r(⅓).
    whole = 2 * half - third
    cpu_half = paired(base["side_half_cpu_ms_per_req"], ui["side_half_cpu_ms_per_req"])

    def span(t: tuple[float, float, float]) -> str:
        return f"**{(t[0] - 1) * 100:+.1f}%** (pairs {(t[1] - 1) * 100:+.0f}% … {(t[2] - 1) * 100:+.0f}%)"

    lines = [
        "| | no UI | dashboard | dashboard vs no UI |",
        "|---|---:|---:|---:|",
        f"| **throughput on a whole core, r(1) = 2·r(½) − r(⅓) from the two side-by-side rows below** "
        f"| | | **{(whole - 1) * 100:+.1f}%** |",
        f"| side by side, half a core each, {args.side_reps} × {args.side_seconds}s: requests served "
        f"| {statistics.median(base['side_half_done']):,.0f} | {statistics.median(ui['side_half_done']):,.0f} "
        f"| {span((half, min(ratios['half']), max(ratios['half'])))} |",
        f"| side by side, a third of a core each (plus a second no-UI proxy): requests served "
        f"| {statistics.median(base['side_third_done']):,.0f} | {statistics.median(ui['side_third_done']):,.0f} "
        f"| {span((third, min(ratios['third']), max(ratios['third'])))} |",
        f"| side by side, half a core: proxy CPU per request | "
        f"{statistics.median(base['side_half_cpu_ms_per_req']):.3f} ms "
        f"| {statistics.median(ui['side_half_cpu_ms_per_req']):.3f} ms | {span(cpu_half)} |",
        f"| sequential (noisy here: one process's speed drifts ±20 % run to run), wrk 32 conns, "
        f"{args.reps} A/B pairs × {args.seconds}s (median) "
        f"| {med['no-ui']:,.0f} req/s | {med['ui']:,.0f} req/s | {span(rps_ratio)} |",
        f"| sequential: proxy CPU per request under wrk (median) | {cpr['no-ui']:.3f} ms | {cpr['ui']:.3f} ms "
        f"| {span(cpu_ratio)} |",
        f"| sequential: all runs (req/s) | {', '.join(f'{x:,.0f}' for x in base['rps'])} "
        f"| {', '.join(f'{x:,.0f}' for x in ui['rps'])} | |",
        f"| proxy process CPU at {args.rate:.0f} req/s, {args.rate_windows} A/B windows (median) "
        f"| {rate_cpu['no-ui']:.0f}% | {rate_cpu['ui']:.0f}% | {span(rate_ratio)} |",
        f"| latency at {args.rate:.0f} req/s, p50 | {base['lat_p50']:.1f} ms | {ui['lat_p50']:.1f} ms "
        f"| {ui['lat_p50'] - base['lat_p50']:+.1f} ms |",
        f"| latency at {args.rate:.0f} req/s, p99 | {base['lat_p99']:.1f} ms | {ui['lat_p99']:.1f} ms "
        f"| {ui['lat_p99'] - base['lat_p99']:+.1f} ms |",
        f"| event-loop lag at {args.rate:.0f} req/s, p50 / p99 / max | {base['lag_p50']:.1f} / {base['lag_p99']:.1f} / "
        f"{base['lag_max']:.1f} ms | {ui['lag_p50']:.1f} / {ui['lag_p99']:.1f} / {ui['lag_max']:.1f} ms | |",
        f"| errors / dropped events | {base['errors']} / {base['dropped']} | {ui['errors']} / {ui['dropped']} | |",
        f"| dashboard: rows kept, batches ingested, terminal output at {args.rate:.0f} req/s | — "
        f"| {ui['rows']:,}, {ui['ui_messages']:,}, {ui['pty_kb_s']:.0f} KiB/s | |",
    ]
    print("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd")
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--upstream", required=True)
    s.add_argument("--result", required=True)
    s.add_argument("--ui", action="store_true")
    p.add_argument("--seconds", type=int, default=2, help="per wrk run (whole seconds: wrk takes no fractions)")
    p.add_argument("--reps", type=int, default=8)
    p.add_argument("--side-seconds", type=int, default=3)
    p.add_argument("--side-reps", type=int, default=8)
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--rate-seconds", type=float, default=8, help="per mode, split into --rate-windows")
    p.add_argument("--rate-windows", type=int, default=4)
    p.add_argument("--attached", action="store_true", help="only phase C: an attached dashboard's cost")
    args = p.parse_args()
    if args.cmd == "serve":  # the event loop `planoai tui` uses (uvloop when installed)
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(serve(args))
    else:
        asyncio.run(attached_driver(args) if args.attached else driver(args))


if __name__ == "__main__":
    main()
