"""Running `planoai …` as a user does, from async tests: a real subprocess per command, with a private
state directory (PLANOAI_STATE_DIR), and the cleanup that stops whatever `planoai up` left running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return f"rc={self.returncode}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"


def planoai_argv(args: Sequence[str], exe: Sequence[str] | None = None) -> list[str]:
    return [*(exe or (sys.executable, "-m", "plano_tui")), *args]


async def run_planoai(args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 60.0,
                      exe: Sequence[str] | None = None) -> Result:
    """`planoai ARGS` to completion (async, so a fake upstream in this loop keeps answering meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        *planoai_argv(args, exe), cwd=str(cwd), env=dict(env), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def recorded_pid(state_dir: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return int(json.loads((state_dir / "run" / "planoai.pid").read_text())["pid"])
    return None


def kill_leftover(state_dir: Path, extra_pids: Sequence[int] = ()) -> None:
    """Teardown: SIGKILL the proxy a test's `planoai up` started, if it still runs (a failed test)."""
    for pid in {p for p in (recorded_pid(state_dir), *extra_pids) if p}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
