"""`planoai` command line: the composition root.

`planoai tui` loads the config, builds the proxy core (`ProxyState` + `ProxyServer`), attaches the
front end — the Textual dashboard, or with `--no-ui` the headless `MODEL_RESOLUTION` printer — and
owns the server's lifetime, so shutdown is the same however the front end ends. Textual is imported
only on the UI path, which keeps `--no-ui` start-up fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the proxy core is imported by the commands that use it, with the collector off
    from proxy.config import Config
    from proxy.state import ProxyOptions, ProxyState

DEFAULT_CAPACITY = 1000


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("planoai-tui")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="planoai", description="Local LLM routing proxy for coding agents.")
    parser.add_argument("--version", action="version", version=f"planoai-tui {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    tui = sub.add_parser("tui", help="start the proxy with the live dashboard (or headless with --no-ui)")
    tui.add_argument("config_pos", nargs="?", metavar="CONFIG", help="config file (default ./config.yaml)")
    tui.add_argument("--config", "-c", dest="config_opt", metavar="PATH", help="config file")
    tui.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    tui.add_argument("--port", "-p", type=int, help="listen port (default: the config's model listener, 12000)")
    tui.add_argument("--no-ui", action="store_true", help="run headless: one MODEL_RESOLUTION line per request")
    tui.add_argument("--log-json", metavar="PATH", help="append one JSON object per finished request to PATH")
    tui.add_argument("--capacity", type=int, default=DEFAULT_CAPACITY, help="requests kept in the dashboard")
    tui.add_argument("--demo", action="store_true", help="simulated providers and traffic, no API keys needed")
    tui.add_argument("--drain", type=float, default=2.0, help="seconds in-flight requests get at shutdown")
    tui.add_argument("--allow-remote", action="store_true", help="allow binding a non-loopback --host")
    tui.add_argument("--admin-token", help="require this bearer token on /admin endpoints")
    tui.add_argument("--no-watch", action="store_true", help="do not reload config.yaml when it changes")
    tui.add_argument("--attach", metavar="URL", help="watch the proxy running at URL (waits for it); without "
                     "this, the dashboard attaches by itself when a proxy already answers on the config's port")
    tui.add_argument("--no-metrics", action="store_true", help="serve no Prometheus /metrics (and record none)")
    tui.add_argument("--metrics-port", type=int, help="also serve /metrics alone on this port, for a remote Prometheus")
    tui.add_argument("--metrics-host", default="0.0.0.0", help="bind address of --metrics-port (default 0.0.0.0)")
    tui.set_defaults(func=cmd_tui)

    alias = sub.add_parser("alias", help="list or retarget aliases of a running proxy")
    alias_sub = alias.add_subparsers(dest="alias_cmd", required=True)
    a_list = alias_sub.add_parser("list", help="show aliases and their targets")
    a_set = alias_sub.add_parser("set", help="point ALIAS at TARGET")
    a_set.add_argument("alias")
    a_set.add_argument("target")
    for p in (a_list, a_set):
        _add_target_args(p)
    alias.set_defaults(func=cmd_alias)

    reload = sub.add_parser("reload", help="make a running proxy re-read its config now")
    _add_target_args(reload)
    reload.set_defaults(func=cmd_reload)

    replay = sub.add_parser("replay", help="route exchanges exported from the dashboard (x) against a config: "
                                           "where would each go now, and why")
    replay.add_argument("files", nargs="+", metavar="FILE", help="planoai-exchange-*.json files")
    replay.add_argument("--config", "-c", dest="config_opt", metavar="PATH",
                        help="config to route against (default ./config.yaml)")
    replay.set_defaults(func=cmd_replay)

    from plano_tui.cli_agent import add_parser as add_cli_agent
    from plano_tui.observe import add_parsers as add_observe
    from plano_tui.service import add_parsers as add_service

    add_service(sub)
    add_observe(sub)
    add_cli_agent(sub)
    return parser


def _add_target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", "-p", type=int, help="port of the running proxy (default: from the config)")
    p.add_argument("--config", "-c", dest="config_opt", metavar="PATH", help="config file to read the port from")
    p.add_argument("--admin-token", default=os.environ.get("PLANOAI_ADMIN_TOKEN"))


def main(argv: list[str] | None = None) -> int:
    # Start-up builds ~100k objects (modules, the app) that all stay alive: collecting them over and over
    # while they are created is wasted time. `planoai tui` collects and freezes them once it serves
    # (_tune_gc); the other commands just turn the collector back on.
    gc.disable()
    try:
        args = build_parser().parse_args(argv)
        if args.func is not cmd_tui:
            gc.enable()
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    finally:
        gc.enable()  # whatever happened (main() also runs inside tests)


def load_or_exit(explicit: str | None) -> Config:
    from proxy.config import ConfigError, discover_config, load_config

    path = discover_config(explicit)
    if path is None:
        sys.stderr.write(
            "planoai: no config found: pass a path, or run where config.yaml (or plano_config.yaml) is.\n"
            "  try: planoai tui --demo     (simulated providers, no API keys)\n"
        )
        raise SystemExit(2)
    try:
        return load_config(path)
    except ConfigError as exc:
        sys.stderr.write(f"planoai: invalid config: {exc}\n")
        raise SystemExit(2) from None


# Headless, the start-up collection waits this long after the listener is up: the first requests
# are served without it, and start-up stays under half a second (bench/RESULTS.md).
STARTUP_GC_DELAY_S = 0.5


def _tune_gc() -> None:
    """Keep the garbage collector off the request path: everything alive after start-up (modules,
    config, the app) is frozen out of collections, and young collections run 14x less often. Without
    this a full collection every few thousand requests adds multi-millisecond stalls (bench/RESULTS.md).
    Turns the collector on (main() starts with it off)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)
    gc.enable()


def _loop_factory() -> Any:
    """uvloop when available (a faster event loop: less proxy overhead per request, see
    bench/RESULTS.md); PLANOAI_NO_UVLOOP=1 or a missing package falls back to asyncio's own."""
    if os.environ.get("PLANOAI_NO_UVLOOP"):
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def cmd_tui(args: argparse.Namespace) -> int:
    from proxy.state import ProxyOptions

    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.allow_remote:
        sys.stderr.write(
            f"planoai: refusing to bind {args.host}: the proxy holds your API keys. "
            "Pass --allow-remote to expose it on the network.\n"
        )
        return 2
    attach = _attach_url(args)
    if attach is not None:
        return run_attached(attach, args)
    if args.demo:
        config = None
        options = ProxyOptions(drain_s=args.drain, admin_token=args.admin_token)
    else:
        config = load_or_exit(args.config_opt or args.config_pos)
        for w in config.warnings:
            sys.stderr.write(f"planoai: warning: {w}\n")
        options = ProxyOptions.from_config(config, drain_s=args.drain, admin_token=args.admin_token)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(serve(args, config, options))
    except _StartupError as exc:
        sys.stderr.write(f"planoai: {exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(
            f"planoai: cannot listen on {args.host}:{args.port or '(config port)'}: {exc.strerror or exc}\n"
            "  is another proxy running? pick another port with --port\n"
        )
        return 1
    return 0


class _StartupError(Exception):
    """A start-up failure that is not the proxy's own port (which --port moves): its whole message."""


def _attach_url(args: argparse.Namespace) -> str | None:
    """The proxy the dashboard should watch instead of starting its own: --attach, or one that already
    answers on the port this one would take (`planoai up`, or a dashboard in another terminal)."""
    if args.attach:
        return str(args.attach).rstrip("/")
    if args.no_ui or args.demo:
        return None
    port = args.port
    if port is None:
        from proxy.config import ConfigError, discover_config, load_config

        path = discover_config(args.config_opt or args.config_pos)
        if path is None:
            return None
        try:
            port = load_config(path).listener.port
        except ConfigError:
            return None  # cmd_tui reports it
    from plano_tui.local_http import health

    host = "127.0.0.1" if args.host in ("localhost", "0.0.0.0") else args.host
    url = f"http://{host}:{port}"
    return url if health(url, timeout=0.5) is not None else None


def run_attached(url: str, args: argparse.Namespace) -> int:
    """The dashboard over a running proxy's admin stream: quitting it leaves the proxy as it was."""
    sys.stderr.write(f"planoai: attaching to the proxy at {url} (quitting the dashboard leaves it running)\n")

    async def attached() -> None:
        from plano_tui.dashboard.ui_main import build_app, run_app
        from plano_tui.remote_link import RemoteLink

        link = await RemoteLink(url, token=args.admin_token).start()
        try:
            await run_app(build_app(link, url, config_path=args.config_opt or args.config_pos or "(attached)",
                                    capacity=args.capacity, demo=False))
        finally:
            await link.close()

    gc.enable()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(attached())
    return 0


async def serve(args: argparse.Namespace, config: Config | None, options: ProxyOptions) -> None:
    from proxy.tls import deferred_ca_loading, finish_ca_loading

    with deferred_ca_loading():  # the CA bundle loads in a thread once we listen (cold start)
        from proxy.server import ProxyServer

    demo = None
    if config is None:
        from plano_tui.demo import start_demo

        demo = await start_demo()
        config = demo.config
    from proxy.state import ProxyState

    state = ProxyState(config, options=options)
    closers: list[Any] = []
    if args.log_json:
        from proxy.jsonlog import JsonlLog

        try:
            jl = JsonlLog(args.log_json)
        except OSError as exc:
            raise _StartupError(f"cannot write --log-json {args.log_json}: {exc.strerror or exc}") from None
        state.bus.subscribe(jl, JsonlLog.TYPES)
        closers.append(jl.close)
    if args.no_ui:
        from plano_tui.headless import HeadlessPrinter

        printer = HeadlessPrinter(sys.stdout)
        state.bus.subscribe(printer, HeadlessPrinter.TYPES)
        # The core's warnings print as SERVICE_NOTICE lines (proxy.notices); a bug's traceback still goes
        # to stderr, as it did before a handler on the `proxy` logger stood in for logging's last resort.
        tracebacks = logging.StreamHandler(sys.stderr)
        tracebacks.addFilter(lambda record: record.exc_info is not None)
        logging.getLogger("proxy").addHandler(tracebacks)
        closers.append(lambda: logging.getLogger("proxy").removeHandler(tracebacks))
        closers.append(printer.flush)  # the lines of requests that ended while the server drained
        state.details = None  # nothing headless shows headers or bodies: records skip them
    port = args.port if args.port is not None else config.listener.port
    server = ProxyServer(state, host=args.host, port=port)
    from proxy.telemetry import install as install_telemetry  # /metrics and OTLP traces (issue #18)

    telemetry = install_telemetry(
        server, metrics=not args.no_metrics, metrics_host=args.metrics_host, metrics_port=args.metrics_port
    )
    from proxy.shared_state import install as install_shared  # routing.session_cache: redis (issue #18)

    shared = install_shared(state)
    reloader = None
    ca_task: asyncio.Task[None] | None = None
    try:
        await server.start()
        if getattr(args, "pid_file", False):  # `planoai up`: `down`, `status` and `logs` find it by this file
            _write_pid_file(server.url, config)
        try:
            await telemetry.start()
        except OSError as exc:  # the --metrics-port listener, not the proxy's own port
            raise _StartupError(
                f"cannot serve /metrics on {args.metrics_host}:{args.metrics_port}: {exc.strerror or exc}\n"
                "  pick another port with --metrics-port"
            ) from None
        if shared is not None:
            await shared.start()
        ca_task = asyncio.get_running_loop().create_task(finish_ca_loading())
        if args.no_ui:
            asyncio.get_running_loop().call_later(STARTUP_GC_DELAY_S, _tune_gc)
        else:
            _tune_gc()  # before the dashboard's first frame, which freezes again (app._tune_gc_for_ui)
        if config.path is not None and demo is None:
            from proxy.reload import ConfigReloader

            reloader = ConfigReloader(state, config.path, watch=not args.no_watch)
            state.reloader = reloader
            await reloader.start()
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            sys.stderr.write(f"planoai: WARNING: listening on {args.host}; anyone who can reach it can use your keys\n")
        if demo is not None:
            demo.start_traffic(server.url)
        if args.no_ui:
            await _run_headless(server, state, config)
        else:
            from plano_tui.dashboard.ui_main import run_ui
            from proxy.local_link import LocalLink

            await run_ui(
                LocalLink(state, demo=demo is not None),
                server.url,
                config_path=str(config.path) if config.path else "(demo)",
                capacity=args.capacity,
                demo=demo is not None,
            )
    finally:
        if ca_task is not None:
            await ca_task
        if reloader is not None:
            await reloader.stop()
        await server.stop()
        await telemetry.stop()
        if shared is not None:
            await shared.stop()
        if demo is not None:
            await demo.stop()
        for close in closers:
            close()
        if getattr(args, "pid_file", False):
            from plano_tui import rundir

            rundir.remove_pid_file(os.getpid())


def _write_pid_file(url: str, config: Config) -> None:
    import time

    from plano_tui import rundir

    logs = rundir.log_dir()
    rundir.write_pid_file(rundir.RunInfo(
        pid=os.getpid(), url=url, config=str(config.path) if config.path else None, started_at=time.time(),
        start_ticks=rundir.process_start_time(os.getpid()),
        access_log=str(logs / rundir.ACCESS_LOG), proxy_log=str(logs / rundir.PROXY_LOG)))


async def _run_headless(server: Any, state: ProxyState, config: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    hits = 0

    def on_signal() -> None:
        nonlocal hits
        hits += 1
        if hits > 1:  # a second Ctrl-C exits at once
            os._exit(130)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
    sys.stderr.write(_banner(server.url, config))
    sys.stderr.flush()
    await stop.wait()
    sys.stderr.write("planoai: stopping (draining in-flight requests)…\n")


def _banner(url: str, config: Config) -> str:
    lines = [f"planoai-tui proxy listening on {url}/v1  (config: {config.path or '(demo: simulated providers)'})"]
    for p in config.providers:
        key = {
            "ok": "key ok",
            "none": "no key needed",
            "passthrough": "client key",
            "missing": f"NO KEY: export {p.key_env}=…",
        }.get(p.key_status, p.key_status)
        lines.append(f"  provider {p.name:<40} {p.display_url:<40} {key}")
    for a in config.aliases:
        lines.append(f"  alias    {a.name:<40} -> {a.target}")
    lines.append("  point Codex here with: planoai cli-agent codex   ·   Ctrl-C to stop")
    return "\n".join(lines) + "\n"


def _target_url(args: argparse.Namespace) -> str:
    from proxy.config import ConfigError, discover_config, load_config

    port = args.port
    if port is None:
        path = discover_config(args.config_opt)
        port = 12000
        if path is not None:
            with contextlib.suppress(ConfigError):
                port = load_config(path).listener.port
    return f"http://127.0.0.1:{port}"


def _admin_call(args: argparse.Namespace, method: str, path: str, body: dict[str, str] | None = None) -> Any:
    import json
    import urllib.error
    import urllib.request

    url = _target_url(args) + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if args.admin_token:
        req.add_header("Authorization", f"Bearer {args.admin_token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", {}).get("message", exc.reason)
        sys.stderr.write(f"planoai: {detail}\n")
        raise SystemExit(1) from None
    except (urllib.error.URLError, OSError):
        sys.stderr.write(f"planoai: no proxy is running at {_target_url(args)}; "
                         "start it with `planoai up` (or `planoai tui`)\n")
        raise SystemExit(1) from None


def cmd_alias(args: argparse.Namespace) -> int:
    if args.alias_cmd == "list":
        data = _admin_call(args, "GET", "/admin/aliases")
        for name, target in data["aliases"].items():
            print(f"{name} -> {target}")
        return 0
    data = _admin_call(args, "PUT", "/admin/aliases", {"alias": args.alias, "target": args.target})
    print(f"{data['alias']}: {data['old_target']} -> {data['target']}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from pathlib import Path

    from proxy.config import ConfigError, discover_config

    from .replay import cmd_replay as run

    path = discover_config(args.config_opt)
    if path is None:
        sys.stderr.write("planoai replay: no config found: pass --config PATH\n")
        return 2
    try:
        return run(Path(path), args.files)
    except ConfigError as exc:
        sys.stderr.write(f"planoai replay: invalid config: {exc}\n")
        return 2


def cmd_reload(args: argparse.Namespace) -> int:
    data = _admin_call(args, "POST", "/admin/reload")
    print(data.get("message", "reloaded"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
