"""Helpers every benchmark script uses (run them as `python bench/NAME.py`; this folder is on sys.path)."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple


def scratch_dir() -> Path:
    """A fresh temporary folder removed when the script exits: benchmarks run hundreds of times, and
    their leftovers once filled the disk CI runs on."""
    path = Path(tempfile.mkdtemp(prefix="planoai-bench-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(cpu: int) -> list[str]:
    """A `taskset` prefix pinning a child process to one CPU (nothing where that is unavailable)."""
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))] if s else float("nan")


class Wrk(NamedTuple):
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int


def wrk_start(
    url: str, body: bytes, seconds: int, conns: int = 32, headers: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """wrk (one thread, on CPU 0) POSTing `body` as JSON to `url` for `seconds` (with extra `headers`);
    read it with `wrk_result`."""
    script = scratch_dir() / "post.lua"
    body_file = script.with_name("body.json")
    body_file.write_bytes(body)
    script.write_text(
        f'local f = io.open("{body_file}", "rb"); wrk.body = f:read("*a"); f:close()\n'
        'wrk.method = "POST"; wrk.headers["Content-Type"] = "application/json"\n'
        + "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in (headers or {}).items())
    )
    return subprocess.Popen([*pin(0), "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                            stdout=subprocess.PIPE, text=True)


def wrk_result(proc: subprocess.Popen[str]) -> Wrk:
    """Throughput, latency percentiles and request count of a finished `wrk_start`."""
    out = proc.communicate()[0]

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else float("nan")

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Wrk(rps, ms("50%"), ms("99%"), done)
