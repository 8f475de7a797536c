"""Running `planoai …` as a user does, from async tests: a real subprocess per command, with a private
state directory (PLANOAI_STATE_DIR), and the cleanup that stops whatever `planoai up` left running."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import re
import signal
import struct
import sys
import termios
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


class Terminal:
    """A command in a pseudo-terminal (160×40) of its own session, its screen output collected as it is
    drawn. Default: `planoai tui`."""

    def __init__(self, cwd: Path, env: Mapping[str, str], argv: Sequence[str] | None = None) -> None:
        self.cwd, self.env = cwd, dict(env)
        self.argv = list(argv or (sys.executable, "-m", "plano_tui", "tui"))
        self.out = bytearray()
        self.proc: asyncio.subprocess.Process | None = None
        self._master = -1

    async def start(self) -> Terminal:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
        env = {**self.env, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"}
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, cwd=self.cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self._master = master
        asyncio.get_running_loop().add_reader(master, self._read)
        return self

    def _read(self) -> None:
        try:
            self.out += os.read(self._master, 65536)
        except OSError:
            asyncio.get_running_loop().remove_reader(self._master)

    def text(self) -> bytes:
        """What was drawn, without the escape sequences: a cursor move counts as a space (a UI may draw
        "say hi" as "say", a move, "hi"), styles and the rest as nothing."""
        moved = re.sub(rb"\x1b\[[0-9;]*[HG]", b" ", bytes(self.out))
        return re.sub(rb"\x1b\[[0-9;?>=]*[A-Za-z~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>]", b"",
                      moved)

    async def wait_for(self, needle: bytes, timeout: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while needle not in self.text():
            assert loop.time() < deadline, f"{needle!r} never drawn: {bytes(self.out[-1500:])!r}"
            await asyncio.sleep(0.05)

    def press(self, keys: bytes) -> None:
        os.write(self._master, keys)

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()
        if self._master >= 0:
            asyncio.get_running_loop().remove_reader(self._master)
            os.close(self._master)
            self._master = -1
