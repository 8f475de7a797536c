"""Running `planoai …` as a user does, from async tests: a real subprocess per command, with a private
state directory (PLANOAI_STATE_DIR), and the cleanup that stops whatever `planoai up` left running."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import signal
import struct
import sys
import termios
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyte


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
    """A command in a pseudo-terminal (160×40) of its own session. Its output goes through a VT100 screen
    (pyte), so tests read what a user would see however the program chose to draw it: Codex may paint
    one word in two writes with a cursor move between. Every line ever shown is remembered, so text that
    has since scrolled away or been redrawn still counts as drawn. Default: `planoai tui`."""

    COLS, ROWS = 160, 40

    def __init__(self, cwd: Path, env: Mapping[str, str], argv: Sequence[str] | None = None) -> None:
        self.cwd, self.env = cwd, dict(env)
        self.argv = list(argv or (sys.executable, "-m", "plano_tui", "tui"))
        self.out = bytearray()
        self.proc: asyncio.subprocess.Process | None = None
        self._master = -1
        self._screen = pyte.Screen(self.COLS, self.ROWS)
        self._stream = pyte.ByteStream(self._screen)
        self._seen: list[str] = []  # lines shown at some point, in the order they first appeared
        self._seen_set: set[str] = set()

    async def start(self) -> Terminal:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.ROWS, self.COLS, 0, 0))
        env = {**self.env, "TERM": "xterm-256color", "COLUMNS": str(self.COLS), "LINES": str(self.ROWS)}
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, cwd=self.cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self._master = master
        asyncio.get_running_loop().add_reader(master, self._read)
        return self

    def _read(self) -> None:
        try:
            chunk = os.read(self._master, 65536)
        except OSError:
            chunk = b""
        if not chunk:  # the program closed the terminal
            asyncio.get_running_loop().remove_reader(self._master)
            return
        self.out += chunk
        self._stream.feed(chunk)
        for line in self._screen.display:
            line = line.rstrip()
            if line and line not in self._seen_set:
                self._seen_set.add(line)
                self._seen.append(line)

    def screen(self) -> str:
        """The screen as it is now, one line per row."""
        return "\n".join(line.rstrip() for line in self._screen.display)

    def text(self) -> bytes:
        """Every line that has been on the screen, then the screen as it is now (UTF-8)."""
        return "\n".join([*self._seen, self.screen()]).encode()

    async def wait_for(self, needle: bytes, timeout: float = 20.0) -> None:
        """Until NEEDLE (one line's worth of text) has been on the screen; polled, since the program's
        drawing is the only signal there is."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while needle not in self.text():
            assert loop.time() < deadline, f"{needle!r} never drawn; the screen:\n{self.screen()}"
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
