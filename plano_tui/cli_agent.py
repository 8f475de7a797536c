"""`planoai cli-agent codex|claude`: start a coding agent pointed at the running proxy.

Plano's `cli-agent` (docs/plano-compat.md §5.2), adapted to what the real clients honour (docs/codex-wire.md §1, §8):

- Codex 0.169 ignores `OPENAI_BASE_URL`; it is given a provider table with `-c` overrides
  (`wire_api="responses"`, `model_catalog_url` so it fetches model metadata from the proxy) and runs
  `codex -m arch.codex.default` when that alias exists, else the proxy's default model.
- Claude Code gets `ANTHROPIC_BASE_URL` and a bearer token (an API key would trigger its interactive
  "custom API key" prompt), the small/fast model from the `arch.claude.code.small.fast` alias, and the
  other `--settings` keys as `claude --settings=<json>`.

The proxy must already be running (`planoai tui`): its port comes from the config (or `--port`), and its
live alias table from `GET /v1/models`. Arguments after `--` go to the agent unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy.config import DEFAULT_PORT, Config, ConfigError, discover_config, load_config

AGENTS = ("codex", "claude")
PACKAGES = {"codex": "@openai/codex@0.169.0", "claude": "@anthropic-ai/claude-code@2.1.197"}
CODEX_ALIAS = "arch.codex.default"
CLAUDE_SMALL_FAST_ALIAS = "arch.claude.code.small.fast"
PLANO_CODEX_MODEL = "gpt-5.3-codex"  # Plano's default when nothing else is known
PROVIDER_ID = "plano"
NON_INTERACTIVE_ENV = {"CI": "true", "FORCE_COLOR": "0", "NODE_NO_READLINE": "1", "TERM": "dumb"}
NO_PROXY = "127.0.0.1,localhost"
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Target:
    """The running proxy as the launcher sees it."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    aliases: dict[str, str] = field(default_factory=dict)  # alias → target, live from the proxy
    models: list[str] = field(default_factory=list)  # concrete model ids the proxy lists
    default_model: str | None = None  # the config's `default: true` model id
    passthrough: bool = False  # some provider forwards the client's own key

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass
class Invocation:
    argv: list[str]  # arguments after the binary
    env: dict[str, str]  # variables set on top of the current environment
    model: str | None = None
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- pure builders


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


def codex_model(target: Target, settings: Mapping[str, Any]) -> str:
    if settings.get("CODEX_MODEL"):
        return str(settings["CODEX_MODEL"])
    if CODEX_ALIAS in target.aliases:
        return CODEX_ALIAS
    return target.default_model or PLANO_CODEX_MODEL


def codex_provider_table(target: Target) -> str:
    base = f"{target.url}/v1"
    return (f'{{name="{PROVIDER_ID}",base_url="{base}",env_key="OPENAI_API_KEY",wire_api="responses",'
            f'model_catalog_url="{base}/models"}}')


def codex_invocation(target: Target, settings: Mapping[str, Any], extra: Sequence[str],
                     environ: Mapping[str, str]) -> Invocation:
    model = codex_model(target, settings)
    env = {
        "OPENAI_BASE_URL": f"{target.url}/v1",  # honoured by older Codex versions only
        "NO_PROXY": NO_PROXY,
        "no_proxy": NO_PROXY,
        "DISABLE_TELEMETRY": "true",
    }
    notes = []
    if target.passthrough and environ.get("OPENAI_API_KEY"):
        notes.append("passing your OPENAI_API_KEY through (a provider uses passthrough_auth)")
    else:
        env["OPENAI_API_KEY"] = "test"
    if _truthy(settings.get("NON_INTERACTIVE_MODE", False)):
        env.update(NON_INTERACTIVE_ENV)
    ignored = sorted(set(settings) - {"CODEX_MODEL", "NON_INTERACTIVE_MODE"})
    if ignored:
        notes.append(f"settings ignored for codex: {', '.join(ignored)}")
    table = f"model_providers.{PROVIDER_ID}={codex_provider_table(target)}"
    argv = ["-c", f"model_provider={PROVIDER_ID}", "-c", table, "-m", model, *extra]
    return Invocation(argv, env, model, notes)


def claude_invocation(target: Target, settings: Mapping[str, Any], extra: Sequence[str],
                      environ: Mapping[str, str]) -> Invocation:
    rest = dict(settings)
    env = {
        "ANTHROPIC_BASE_URL": target.url,
        "ANTHROPIC_AUTH_TOKEN": "test",
        "ANTHROPIC_API_KEY": "",
        "NO_PROXY": NO_PROXY,
        "no_proxy": NO_PROXY,
        "DISABLE_TELEMETRY": "true",
        "DISABLE_COST_WARNINGS": "true",
        "API_TIMEOUT_MS": "600000",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",
    }
    notes = []
    if target.passthrough and environ.get("ANTHROPIC_AUTH_TOKEN"):
        del env["ANTHROPIC_AUTH_TOKEN"]
        notes.append("passing your ANTHROPIC_AUTH_TOKEN through (a provider uses passthrough_auth)")
    small = rest.pop("ANTHROPIC_SMALL_FAST_MODEL", None)
    if small:
        env["ANTHROPIC_SMALL_FAST_MODEL"] = str(small)
    elif CLAUDE_SMALL_FAST_ALIAS in target.aliases:
        env["ANTHROPIC_SMALL_FAST_MODEL"] = CLAUDE_SMALL_FAST_ALIAS
    else:
        notes.append(f"tip: add a `{CLAUDE_SMALL_FAST_ALIAS}` alias to route Claude Code's background calls")
    if _truthy(rest.pop("NON_INTERACTIVE_MODE", False)):
        env.update(NON_INTERACTIVE_ENV)
    argv = [f"--settings={json.dumps(rest, separators=(',', ':'))}"] if rest else []
    model = str(rest.get("model")) if rest.get("model") else None
    return Invocation([*argv, *extra], env, model, notes)


def build_invocation(agent: str, target: Target, settings: Mapping[str, Any], extra: Sequence[str],
                     environ: Mapping[str, str]) -> Invocation:
    build = codex_invocation if agent == "codex" else claude_invocation
    return build(target, settings, extra, environ)


# --------------------------------------------------------------------------- binaries


def find_binary(agent: str, environ: Mapping[str, str], cwd: Path | None = None) -> list[str] | None:
    """The command that runs `agent`: $PLANOAI_<AGENT>_BIN, PATH, ./.tools, the checkout's .tools."""
    override = environ.get(f"PLANOAI_{agent.upper()}_BIN")
    if override:
        found = override if Path(override).exists() else shutil.which(override, path=environ.get("PATH"))
        return _native_or_wrapper(agent, found) if found else None
    local = [(cwd or Path.cwd()) / ".tools/node_modules/.bin" / agent, REPO_ROOT / ".tools/node_modules/.bin" / agent]
    candidates = [shutil.which(agent, path=environ.get("PATH")), *map(str, local)]
    for cand in candidates:
        if cand and Path(cand).exists():
            return _native_or_wrapper(agent, cand)
    return None


def _native_or_wrapper(agent: str, path: str) -> list[str]:
    """Claude Code's npm package ships a 500-byte stub that its postinstall replaces with the native
    binary; when npm skipped the script, run the package's Node fallback launcher instead."""
    real = Path(path).resolve()
    with contextlib.suppress(OSError):
        if agent == "claude" and real.stat().st_size < 4096:
            wrapper = real.parent.parent / "cli-wrapper.cjs"
            node = shutil.which("node")
            if wrapper.exists() and node:
                return [node, str(wrapper)]
    return [path]


def install_hint(agent: str) -> str:
    pkg = PACKAGES[agent]
    return (f"planoai: `{agent}` is not installed. Install it with one of:\n"
            f"  npm install -g {pkg}\n"
            f"  npm install --prefix .tools {pkg}      (project-local; or run .ci/install_clients.sh)\n"
            f"  or point PLANOAI_{agent.upper()}_BIN at the binary\n")


# --------------------------------------------------------------------------- the running proxy


def _get_json(url: str, timeout: float) -> Any:
    import urllib.request  # lazy: it costs start-up time on every `planoai` command

    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    with opener.open(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def probe(target: Target, timeout: float = 2.0) -> bool:
    """True when a planoai proxy answers /healthz; fills the live alias and model lists."""
    try:
        health = _get_json(f"{target.url}/healthz", timeout)
    except (OSError, ValueError):  # URLError is an OSError
        return False
    if not isinstance(health, dict) or "status" not in health:
        return False
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
        listing = _get_json(f"{target.url}/v1/models", timeout)
        aliases: dict[str, str] = {}
        models: list[str] = []
        for m in listing["data"]:
            if m.get("owned_by") == "alias":
                aliases[str(m["id"])] = str(m.get("target", ""))
            else:
                models.append(str(m["id"]))
        target.aliases, target.models = aliases, models  # the live table beats the config file
    return True


def target_from(config: Config | None, host: str, port: int | None) -> Target:
    t = Target(host=host, port=port if port is not None else (config.listener.port if config else DEFAULT_PORT))
    if config is not None:
        t.aliases = {a.name: a.target for a in config.aliases}
        d = config.default_provider
        t.default_model = d.model_id if d else None
        t.passthrough = any(p.passthrough_auth for p in config.providers)
    return t


def read_config(config_opt: str | None, path_opt: str | None) -> Config | None:
    path = discover_config(config_opt, cwd=Path(path_opt) if path_opt else None)
    if path is None:
        return None
    try:
        return load_config(path)
    except ConfigError as exc:
        if config_opt:  # asked for by name: an error; found by discovery: only a warning
            raise
        sys.stderr.write(f"planoai: warning: ignoring {path}: {exc}\n")
        return None


# --------------------------------------------------------------------------- argparse glue


def _add_options(p: argparse.ArgumentParser, suppress: bool = False) -> None:
    # Long options only: `-c`, `-m`, `-p` belong to the agents.
    d: dict[str, Any] = {"default": argparse.SUPPRESS} if suppress else {}
    p.add_argument("--config", dest="config_opt", metavar="PATH", help="config file (default ./config.yaml)",
                   **({"default": None} | d))
    p.add_argument("--path", metavar="DIR", help="folder holding config.yaml (Plano's --path)",
                   **({"default": None} | d))
    p.add_argument("--port", type=int, help="port of the running proxy (default: the config's listener)",
                   **({"default": None} | d))
    p.add_argument("--host", help="address of the running proxy", **({"default": "127.0.0.1"} | d))
    p.add_argument("--settings", metavar="JSON", help="Plano settings: CODEX_MODEL, NON_INTERACTIVE_MODE, "
                   "ANTHROPIC_SMALL_FAST_MODEL; other keys go to claude --settings", **({"default": "{}"} | d))
    p.add_argument("--dry-run", action="store_true", help="print the command and environment, do not run",
                   **({"default": False} | d))
    p.add_argument("--print-config", action="store_true", help="codex: print a `plano` profile for Codex "
                   "($CODEX_HOME/plano.config.toml: the provider table and the model)", **({"default": False} | d))
    p.add_argument("--write-config", action="store_true", help="codex: write that file (CODEX_HOME defaults to "
                   "~/.codex), so plain `codex --profile plano` goes through the proxy", **({"default": False} | d))


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "cli-agent",
        help="run Codex or Claude Code against the running proxy",
        description="Start Codex or Claude Code pointed at a running `planoai tui` proxy. "
                    "Arguments after `--` go to the agent, e.g. planoai cli-agent codex -- exec \"fix the tests\".",
        allow_abbrev=False,
    )
    _add_options(p)
    p.add_argument("agent", choices=AGENTS)
    p.add_argument("rest", nargs=argparse.REMAINDER, metavar="-- ARGS", help="arguments for the agent")
    p.set_defaults(func=cmd_cli_agent, cli_agent_parser=p)


def split_rest(args: argparse.Namespace) -> list[str]:
    """Options given after the agent name (before `--`) are ours; everything else is the agent's."""
    rest = list(args.rest or [])
    head, tail = (rest[: rest.index("--")], rest[rest.index("--") + 1:]) if "--" in rest else (rest, [])
    if any(h in ("-h", "--help") for h in head):
        args.cli_agent_parser.print_help()
        raise SystemExit(0)
    opts = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    _add_options(opts, suppress=True)
    ns, unknown = opts.parse_known_args(head)
    for k, v in vars(ns).items():
        setattr(args, k, v)
    return unknown + tail


def cmd_cli_agent(args: argparse.Namespace) -> int:
    extra = split_rest(args)
    try:
        settings = json.loads(args.settings or "{}")
    except json.JSONDecodeError as exc:
        sys.stderr.write(f"planoai: --settings is not valid JSON: {exc}\n")
        return 2
    if not isinstance(settings, dict):
        sys.stderr.write("planoai: --settings must be a JSON object, e.g. '{\"CODEX_MODEL\": \"gpt-4.1\"}'\n")
        return 2
    try:
        config = read_config(args.config_opt, args.path)
    except ConfigError as exc:
        sys.stderr.write(f"planoai: invalid config: {exc}\n")
        return 2
    target = target_from(config, args.host, args.port)
    if args.print_config or args.write_config:
        return codex_profile(args, target, settings)
    binary = find_binary(args.agent, os.environ)
    if not args.dry_run:
        if binary is None:
            sys.stderr.write(install_hint(args.agent))
            return 127
        if not probe(target):
            hint = f" --config {args.config_opt}" if args.config_opt else ""
            sys.stderr.write(
                f"planoai: no planoai proxy is listening on {target.url}.\n"
                f"  start it first:  planoai up{hint.replace(' --config', '')}   (in the background)\n"
                f"  or, with the dashboard, in another terminal:  planoai tui{hint}\n"
                f"  (another port: pass --port here too)\n")
            return 1
    inv = build_invocation(args.agent, target, settings, extra, os.environ)
    cmd = [*(binary or [args.agent]), *inv.argv]
    for note in inv.notes:
        sys.stderr.write(f"planoai: {note}\n")
    shown = f" -m {inv.model}" if inv.model and args.agent == "codex" else ""
    routed = target.aliases.get(inv.model or "")
    sys.stderr.write(f"planoai: starting {args.agent}{shown}{f' (alias → {routed})' if routed else ''} "
                     f"via {target.url}\n")
    if args.dry_run:
        for k, v in sorted(inv.env.items()):
            print(f"{k}={shlex.quote(v)}")
        print(shlex.join(cmd))
        return 0
    sys.stderr.flush()
    env = {**os.environ, **inv.env}
    if os.name == "posix":
        os.execve(cmd[0], cmd, env)  # the agent takes over the terminal and the signals
    return subprocess.call(cmd, env=env)


def codex_profile(args: argparse.Namespace, target: Target, settings: Mapping[str, Any]) -> int:
    """--print-config / --write-config: Codex's own profile, for running `codex --profile plano` directly."""
    from plano_tui import codex_config

    if args.agent != "codex":
        sys.stderr.write("planoai: --print-config and --write-config are for codex "
                         "(Claude Code reads ANTHROPIC_BASE_URL: see planoai cli-agent claude --dry-run)\n")
        return 2
    env_key = "OPENAI_API_KEY" if target.passthrough else None
    text = codex_config.profile_text(f"{target.url}/v1", codex_model(target, settings), env_key)
    path = codex_config.profile_path(os.environ)
    if args.print_config:
        sys.stdout.write(text)
        sys.stderr.write(f"planoai: save it as {path}, or let --write-config do it\n")
        return 0
    try:
        done = codex_config.write(path, text)
    except (codex_config.CodexConfigError, OSError) as exc:
        sys.stderr.write(f"planoai: {path}: {exc}\n")
        return 1
    sys.stderr.write(f"planoai: {done}\n  now: codex --profile plano   (with the proxy running: planoai up)\n")
    if (legacy := codex_config.legacy_profile(path.parent)) is not None:
        sys.stderr.write(f"planoai: warning: {legacy}\n")
    return 0
