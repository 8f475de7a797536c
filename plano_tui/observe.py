"""`planoai status` and `planoai logs`: look at a running proxy without a dashboard.

`status` prints one line a shell prompt or a tmux status bar can show, and exits 0 when a proxy
answers, 1 when none does (`--plain`: ASCII `key=value` words for scripts). It asks the proxy found by
the pid file of `planoai up`, else the config's port (so a `planoai tui` proxy counts too), with a
short timeout: a prompt must not hang on it.

`logs` prints the MODEL_RESOLUTION lines `planoai up` writes to its access log; `--follow` keeps
printing new ones (inotify through watchfiles) until Ctrl-C, and survives the log being rotated.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import deque
from pathlib import Path
from typing import Any

from . import rundir
from .local_http import get_json, health

STATUS_TIMEOUT_S = 1.0


def add_parsers(sub: Any) -> None:
    status = sub.add_parser("status", help="one line for a prompt or tmux bar; exit 0 if a proxy is up, 1 if not")
    status.add_argument("--plain", action="store_true", help="ASCII key=value words, no symbols")
    status.add_argument("--port", "-p", type=int, help="port of the proxy (default: planoai up's, else the config's)")
    status.add_argument("--config", "-c", dest="config_opt", metavar="PATH", help="config file to read the port from")
    status.add_argument("--admin-token", default=os.environ.get("PLANOAI_ADMIN_TOKEN"))
    status.set_defaults(func=cmd_status)

    logs = sub.add_parser("logs", help="the MODEL_RESOLUTION lines of the proxy `planoai up` started")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until Ctrl-C")
    logs.add_argument("--lines", "-n", type=int, default=200, help="how many of the last lines to print (200)")
    logs.add_argument("--debug", action="store_true", help="the proxy's own log instead (start-up, warnings, errors)")
    logs.set_defaults(func=cmd_logs)

    # Plano's trace viewers, under the same command name: said plainly instead of "invalid choice".
    for name in ("trace", "obs"):
        p = sub.add_parser(name, help=f"Plano's own `planoai {name}` (not part of planoai-tui): what to run instead")
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=cmd_plano_only, plano_command=name)


# --------------------------------------------------------------------------- status


def status_url(port: int | None, config_opt: str | None) -> str:
    if port is not None:
        return f"http://127.0.0.1:{port}"
    live, _ = rundir.running()
    if live is not None:
        return live.url
    from proxy.config import DEFAULT_PORT, ConfigError, discover_config, load_config

    path = discover_config(config_opt)
    if path is not None:
        try:
            return f"http://127.0.0.1:{load_config(path).listener.port}"
        except ConfigError:
            pass
    return f"http://127.0.0.1:{DEFAULT_PORT}"


def _ms(value: float | None) -> str:
    from .dashboard.format import ms

    return ms(value) if value is not None else "-"


def status_line(url: str, stats: dict[str, Any] | None, plain: bool) -> str:
    """The one line; `stats` is /admin/stats (None: up, but the stats were refused)."""
    where = url.removeprefix("http://")
    if stats is None:
        return f"planoai up {where} stats=denied" if plain else f"● planoai {where} · stats need --admin-token"
    req, err = int(stats.get("requests", 0)), int(stats.get("errors", 0))
    p50 = _ms(stats.get("latency_p50"))
    aliases: dict[str, str] = stats.get("aliases") or {}
    cost = stats.get("cost_usd")  # not reported yet: there is no pricing source (shown as unknown)
    # Services out of order now (proxy.notices): a shared Redis, the OTLP collector, a price feed.
    down = [str(d.get("subject")) for d in stats.get("degraded") or () if isinstance(d, dict)]
    if plain:
        words = [f"planoai up {where}", f"req={req}", f"err={err}", f"p50={p50}"]
        words += [f"{a}={t}" for a, t in aliases.items()]
        words.append(f"cost={'-' if cost is None else f'{cost:.2f}'}")
        if down:
            words.append("down=" + ",".join(d.replace(" ", "-") for d in down))
        return " ".join(words)
    parts = [f"● planoai {where}", f"{req} req", f"{err} err", f"p50 {p50}"]
    parts += [f"{a}→{t}" for a, t in aliases.items()]
    parts.append("cost " + ("—" if cost is None else f"${cost:.2f}"))
    if down:
        parts.append("⚠ down: " + ", ".join(down))
    return " · ".join(parts)


def cmd_status(args: argparse.Namespace) -> int:
    url = status_url(args.port, args.config_opt)
    if health(url, STATUS_TIMEOUT_S) is None:
        where = url.removeprefix("http://")
        print(f"planoai down {where}" if args.plain else f"○ planoai down ({where})")
        return 1
    try:
        stats = get_json(f"{url}/admin/stats", STATUS_TIMEOUT_S, args.admin_token)
    except (OSError, ValueError):  # 401/403 (token), or it stopped between the two calls
        stats = None
    print(status_line(url, stats if isinstance(stats, dict) else None, args.plain))
    return 0


# --------------------------------------------------------------------------- logs


def log_file(debug: bool) -> Path:
    live, stale = rundir.running()
    info = live or stale
    name = rundir.PROXY_LOG if debug else rundir.ACCESS_LOG
    recorded = info and (info.proxy_log if debug else info.access_log)
    return Path(recorded) if recorded else rundir.log_dir() / name


def last_lines(path: Path, n: int) -> tuple[list[str], int]:
    """The last `n` lines of `path` and the offset of its end."""
    with open(path, "rb") as f:
        tail = deque(f, maxlen=max(0, n))
        end = f.tell()
    return [line.decode("utf-8", "replace") for line in tail], end


def cmd_logs(args: argparse.Namespace) -> int:
    path = log_file(args.debug)
    if not path.exists():
        sys.stderr.write(f"planoai: no log at {path} yet: `planoai up` writes one\n")
        return 1
    lines, offset = last_lines(path, args.lines)
    sys.stdout.write("".join(lines))
    sys.stdout.flush()
    if not args.follow:
        return 0
    try:
        follow(path, offset)
    except KeyboardInterrupt:
        pass
    return 0


def follow(path: Path, offset: int) -> None:
    """Print what is appended to `path` from `offset` on, forever. A file that shrank or was replaced
    (rotation by `planoai up`) is read again from its start."""
    from watchfiles import watch  # lazy: only --follow needs it

    inode = path.stat().st_ino
    for _ in watch(path.parent, debounce=50, step=25, recursive=False):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if st.st_ino != inode or st.st_size < offset:
            inode, offset = st.st_ino, 0
        if st.st_size == offset:
            continue
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
        # Only whole lines: the proxy writes a burst in one call, but a reader can still catch half of one.
        cut = data.rfind(b"\n") + 1
        if cut:
            sys.stdout.write(data[:cut].decode("utf-8", "replace"))
            sys.stdout.flush()
            offset += cut


def cmd_plano_only(args: argparse.Namespace) -> int:
    """`planoai trace` / `planoai obs` are Plano's OTLP viewers; this package also installs a `planoai`
    script, so a user coming from Plano types them here. Say where they are instead of "invalid choice"."""
    sys.stderr.write(
        f"planoai: `planoai {args.plano_command}` is Plano's own command, not part of planoai-tui.\n"
        "  This proxy sends OTLP spans (config `tracing:`, default 127.0.0.1:4317) that it reads: install Plano's\n"
        "  CLI in its own environment (python3 -m venv ~/.plano-cli && ~/.plano-cli/bin/pip install\n"
        f"  planoai==0.4.39), then run ~/.plano-cli/bin/planoai {args.plano_command} ….\n"
    )
    return 2
