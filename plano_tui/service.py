"""`planoai up` and `planoai down`: the headless proxy as a background service (Plano's native mode,
without Envoy or Docker).

`up` validates the config, refuses clearly when a proxy already runs or the port is taken, then starts
`planoai up --foreground` detached in its own session (so closing the terminal does not stop it) with
its stdout (the MODEL_RESOLUTION lines) and stderr appended to log files under the state directory
(plano_tui/rundir.py), and returns once `/healthz` answers with that process's pid. The serving process
writes the pid file itself once it listens and removes it when it has drained, so `down` can wait for
the file's process to exit. `down` sends SIGTERM (the proxy drains in-flight streams), then SIGKILL
after 10 s, as Plano does.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import rundir
from .local_http import health

if TYPE_CHECKING:
    from proxy.config import Config

STARTUP_TIMEOUT_S = 30.0  # a cold start measures well under a second; this only bounds a broken one
KILL_AFTER_S = 10.0  # Plano's `down`: SIGTERM, then SIGKILL after 10 s
DRAIN_S = 8.0  # in-flight streams get this long after SIGTERM: inside KILL_AFTER_S, with a margin


def add_parsers(sub: Any) -> None:
    up = sub.add_parser("up", help="start the headless proxy in the background (pid file, logs, /healthz awaited)",
                        description="Validate the config and start the proxy in the background. "
                                    "Watch it with `planoai logs --follow`, `planoai status` or `planoai tui`; "
                                    "stop it with `planoai down`.")
    up.add_argument("file", nargs="?", metavar="FILE", help="config file (default: config.yaml in --path or here)")
    up.add_argument("--path", metavar="DIR", help="folder holding config.yaml (Plano's --path)")
    up.add_argument("--foreground", action="store_true", help="run in this terminal instead of the background")
    up.add_argument("--port", "-p", type=int, help="listen port (default: the config's model listener, 12000)")
    up.add_argument("--drain", type=float, default=DRAIN_S,
                    help=f"seconds in-flight requests get when stopped (default {DRAIN_S:g})")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop the proxy `planoai up` started (SIGTERM, SIGKILL after 10 s)")
    down.add_argument("--timeout", type=float, default=KILL_AFTER_S, help=argparse.SUPPRESS)
    down.set_defaults(func=cmd_down)


def _err(text: str) -> None:
    sys.stderr.write(f"planoai: {text}\n")


def config_path(file: str | None, folder: str | None) -> Path | None:
    from proxy.config import discover_config

    base = Path(folder) if folder else None
    if file and base is not None and not Path(file).is_absolute():
        return base / file
    return discover_config(file, cwd=base)


def port_in_use(host: str, port: int) -> OSError | None:
    """The error binding `host:port` would give now (None: free). SO_REUSEADDR as the server binds it,
    so a port left in TIME_WAIT by a proxy that just stopped counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc
    return None


def _check_free(url: str, port: int, config_file: Path) -> int | None:
    """None when `up` may start; otherwise the exit code, after saying why not."""
    live, stale = rundir.running()
    if live is not None:
        same = live.url == url and live.config == str(config_file)
        _err(f"a proxy is already running on {live.url}/v1 (pid {live.pid}, config {live.config}).")
        sys.stderr.write("  stop it with `planoai down`" + ("" if same else " before starting another") + "\n")
        return 0 if same else 1
    if stale is not None:
        rundir.remove_pid_file(stale.pid)
        _err(f"removed a stale pid file (pid {stale.pid} is not running)")
    if (h := health(url)) is not None:
        _err(f"a planoai proxy already answers on {url}/v1 (pid {h.get('pid', '?')}), not one `planoai up` started "
             "(a `planoai tui` in another terminal?).")
        sys.stderr.write("  use it as it is, or quit it there first\n")
        return 1
    if (exc := port_in_use("127.0.0.1", port)) is not None:
        _err(f"port {port} on 127.0.0.1 is taken by another program ({exc.strerror or exc}).")
        sys.stderr.write("  free it, or pick another port: planoai up --port N\n")
        return 1
    return None


def cmd_up(args: argparse.Namespace) -> int:
    from plano_tui.cli import load_or_exit

    path = config_path(args.file, args.path)
    if path is None:
        where = args.path or "this folder"
        _err(f"no config found in {where}: pass a file (planoai up config.yaml) or --path DIR.")
        return 2
    config = load_or_exit(str(path))  # validated before anything starts (exits 2 with file:line: key)
    path = path.resolve()
    port = args.port if args.port is not None else config.listener.port
    url = f"http://127.0.0.1:{port}"
    refused = _check_free(url, port, path)
    if refused is not None:
        return refused
    if args.foreground:
        return _serve_here(path, port, args.drain)
    for w in config.warnings:
        _err(f"warning: {w}")
    return _start_background(config, path, port, url, args.drain)


def _serve_here(path: Path, port: int, drain: float) -> int:
    """`up --foreground`: exactly `planoai tui --no-ui`, plus the pid file (written once it listens)."""
    from plano_tui.cli import build_parser, cmd_tui

    ns = build_parser().parse_args(["tui", "--no-ui", "--config", str(path), "--port", str(port),
                                    "--drain", str(drain)])
    ns.pid_file = True
    return cmd_tui(ns)


def _rotate(log: Path) -> None:
    try:
        if log.stat().st_size > rundir.ROTATE_BYTES:
            os.replace(log, log.with_name(log.name + ".1"))
    except OSError:
        pass


def _start_background(config: Config, path: Path, port: int, url: str, drain: float) -> int:
    logs = rundir.log_dir()
    logs.mkdir(parents=True, exist_ok=True)
    access, proxy_log = logs / rundir.ACCESS_LOG, logs / rundir.PROXY_LOG
    for log in (access, proxy_log):
        _rotate(log)
    err_start = proxy_log.stat().st_size if proxy_log.exists() else 0
    cmd = [sys.executable, "-m", "plano_tui", "up", "--foreground", str(path), "--port", str(port),
           "--drain", str(drain)]
    with open(access, "ab") as out, open(proxy_log, "ab") as err:
        # Its own session: no terminal, so closing this one (SIGHUP) or Ctrl-C here does not reach it.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=path.parent,
                                start_new_session=True, close_fds=True)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        code = proc.poll()
        if code is not None:
            _err(f"the proxy exited during start-up (code {code}):")
            sys.stderr.write(_tail_from(proxy_log, err_start))
            return 1
        h = health(url, timeout=0.5)
        if h is not None and h.get("pid") == proc.pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            _err(f"the proxy did not answer {url}/healthz within {STARTUP_TIMEOUT_S:g} s; its log:")
            sys.stderr.write(_tail_from(proxy_log, err_start))
            return 1
        time.sleep(0.05)  # a readiness poll with a deadline
    print(started_message(config, url, proc.pid, path, access, proxy_log))
    return 0


def _tail_from(log: Path, offset: int, limit: int = 4000) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "  " + text[-limit:].rstrip().replace("\n", "\n  ") + "\n" if text.strip() else ""


def started_message(config: Config, url: str, pid: int, path: Path, access: Path, proxy_log: Path) -> str:
    lines = [f"planoai: proxy up on {url}/v1  (pid {pid}, config {path})"]
    for p in config.providers:
        if p.internal:
            continue
        key = {"ok": "key ok", "none": "no key needed", "passthrough": "client key",
               "missing": f"NO KEY: export {p.key_env}=… then planoai down && planoai up"}.get(p.key_status, "")
        lines.append(f"  provider {p.name:<38} {key}")
    for a in config.aliases:
        lines.append(f"  alias    {a.name:<38} -> {a.target}")
    lines += [
        "  use it:    planoai cli-agent codex        (or once: planoai cli-agent codex --write-config;",
        "                                              then: codex --profile plano)",
        "  watch it:  planoai logs --follow   ·   planoai status   ·   planoai tui",
        f"  logs:      {access}  (errors: {proxy_log})",
        "  stop it:   planoai down",
    ]
    return "\n".join(lines)


def wait_exit(pid: int, timeout: float) -> bool:
    """Wait until process `pid` (not our child) has exited; False on timeout. A pidfd (Linux 5.3+)
    becomes readable when the process ends; elsewhere, poll."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
            return bool(ready)
        finally:
            os.close(fd)
    deadline = time.monotonic() + timeout
    while rundir.pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_process(pid: int, timeout: float = KILL_AFTER_S) -> str:
    """SIGTERM, then SIGKILL after `timeout`; returns "stopped", "killed" or "gone"."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return "gone"
    if wait_exit(pid, timeout):
        return "stopped"
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "stopped"
    wait_exit(pid, 5.0)
    return "killed"


def cmd_down(args: argparse.Namespace) -> int:
    live, stale = rundir.running()
    if stale is not None:
        rundir.remove_pid_file(stale.pid)
        _err(f"removed a stale pid file (pid {stale.pid} was not running)")
    if live is None:
        _err("no proxy started by `planoai up` is running")
        return 0
    t0 = time.monotonic()
    outcome = stop_process(live.pid, args.timeout)
    rundir.remove_pid_file(live.pid)  # the proxy removes it itself, unless it was killed
    took = time.monotonic() - t0
    if outcome == "killed":
        _err(f"the proxy on {live.url} (pid {live.pid}) did not stop within {args.timeout:g} s: killed it")
    else:
        _err(f"stopped the proxy on {live.url} (pid {live.pid}) in {took:.1f} s")
    return 0
