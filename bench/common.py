"""Helpers every benchmark script uses (run them as `python bench/NAME.py`; this folder is on sys.path)."""

from __future__ import annotations

import os
import shutil
import socket


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
