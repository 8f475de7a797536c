"""Where a background proxy (`planoai up`) keeps its pid file and logs, and how to tell it is alive.

Per user, like Plano's `~/.plano/run`: `$PLANOAI_STATE_DIR`, else `$XDG_STATE_HOME/planoai`, else
`~/.local/state/planoai`. Tests point `PLANOAI_STATE_DIR` at a temporary folder.

The pid file is JSON written by the serving process once it listens and removed when it stops, so a
pid file whose process is gone is stale (a SIGKILL, a reboot). It records the process's start time
(from /proc) as well, so a pid reused by an unrelated process is not taken for the proxy.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

ACCESS_LOG = "access.log"  # the MODEL_RESOLUTION lines (the proxy's stdout)
PROXY_LOG = "proxy.log"  # start-up banner, warnings, tracebacks (its stderr)
ROTATE_BYTES = 50 * 1024 * 1024  # `planoai up` moves a larger access.log aside to access.log.1


def state_dir() -> Path:
    explicit = os.environ.get("PLANOAI_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "planoai"


def pid_path() -> Path:
    return state_dir() / "run" / "planoai.pid"


def log_dir() -> Path:
    return state_dir() / "logs"


def _proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (state) on; None without /proc or the process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    return stat.rsplit(")", 1)[1].split()


def process_start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22); None without /proc."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def pid_alive(pid: int) -> bool:
    """The process exists and has not exited: a zombie (exited, not yet reaped by whoever adopted it)
    has stopped serving and counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    fields = _proc_stat(pid)
    return not (fields and fields[0] == "Z")


@dataclass(frozen=True)
class RunInfo:
    """What the pid file says about a running proxy."""

    pid: int
    url: str  # http://127.0.0.1:12000
    config: str | None
    started_at: float
    start_ticks: str | None = None  # process_start_time() when it was written
    access_log: str | None = None
    proxy_log: str | None = None

    def is_running(self) -> bool:
        """The recorded process still exists and is the same process (not a reused pid)."""
        if not pid_alive(self.pid):
            return False
        now = process_start_time(self.pid)
        return self.start_ticks is None or now is None or now == self.start_ticks


def write_pid_file(info: RunInfo, path: Path | None = None) -> Path:
    path = path or pid_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(info)) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # readers never see half a file
    return path


def read_pid_file(path: Path | None = None) -> RunInfo | None:
    path = path or pid_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RunInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


def remove_pid_file(pid: int | None = None, path: Path | None = None) -> None:
    """Remove the pid file; with `pid`, only if it still names that process (a newer proxy may own it)."""
    path = path or pid_path()
    if pid is not None:
        info = read_pid_file(path)
        if info is not None and info.pid != pid:
            return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def running() -> tuple[RunInfo | None, RunInfo | None]:
    """(the live proxy, a stale record): at most one of them is not None."""
    info = read_pid_file()
    if info is None:
        return None, None
    return (info, None) if info.is_running() else (None, info)
