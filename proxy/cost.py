"""Prices and cost: Plano's `model_metrics_sources` (docs/plano-sessions.md §4, brightstaff model_metrics.rs).

    model_metrics_sources:
      - type: cost
        provider: models.dev        # or digitalocean
        url: ./prices/models.json   # http(s) URL, file:// URL or a path (relative to the config)
        refresh_interval: 3600      # seconds; refreshed in the background
        model_aliases: {openai/gpt-4o-2024-08-06: openai/gpt-4o}   # catalog key → our model name
      - type: latency
        provider: prometheus
        url: http://127.0.0.1:9090
        query: histogram_quantile(0.5, sum by (model_name, le) (rate(llm_latency_bucket[5m])))

Rates are USD per million tokens. A model is looked up as "provider/model", then by its bare id; when no
source is configured or reachable, the built-in table of the `genai-prices` package answers (imported
lazily; without it cost shows as unknown and a warning says why). Loading and refreshing run in the
background: a request never waits for a price and never fails because of one.

Request cost, Plano's formula: uncached input × input rate + cached reads × cached rate (the feed's, else
input rate × cache_read_discount) + output × output rate. Our `Usage.input_tokens` already holds cache
reads and writes (proxy.wire.usage), so cache writes are priced at the input rate, as Plano does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

if TYPE_CHECKING:  # aiohttp is imported where prices are fetched: `planoai` commands that only read the
    import aiohttp  # config (cli-agent, alias) stay fast to start

from .redaction import scrub_credentials, without_credentials
from .wire.usage import Usage

log = logging.getLogger(__name__)
MILLION = 1_000_000.0
DEFAULT_URLS = {"models.dev": "https://models.dev/api.json", "digitalocean": "https://api.digitalocean.com/v2/gen-ai/models/catalog"}
DEFAULT_CACHE_READ_DISCOUNT = 0.1
FETCH_TIMEOUT_S = 10.0
# Our provider prefixes → genai-prices provider ids, where they differ.
_GENAI_PROVIDER = {
    "xai": "x-ai",
    "gemini": "google",
    "together_ai": "together",
    "zhipu": "zhipuai",
    "azure_openai": "azure",
}


@dataclass(frozen=True, slots=True)
class Rates:
    input: float  # USD per million tokens
    output: float
    cached: float | None = None  # cache-read rate, when the feed publishes one
    source: str = ""
    context: int | None = None  # the model's context window, where the table lists one (proxy.turns)

    def cached_rate(self, discount: float = DEFAULT_CACHE_READ_DISCOUNT) -> float:
        return self.cached if self.cached is not None else self.input * discount

    @property
    def blended(self) -> float:
        """What `prefer: cheapest` ranks by (Plano: input + output)."""
        return self.input + self.output


@dataclass(unsafe_hash=True)
class Cost:
    """Treated as immutable once built (it rides on frozen records). Not `frozen=True`: a frozen dataclass
    sets each field through `object.__setattr__`, 3× the cost of this one built on every priced request.
    No slots: orjson writes it 4× faster with a __dict__ (proxy.events.Timing)."""

    input_usd: float  # uncached input (and cache writes)
    cached_usd: float  # cache reads
    output_usd: float

    @property
    def total_usd(self) -> float:
        return self.input_usd + self.cached_usd + self.output_usd


def request_cost(usage: Usage, rates: Rates, discount: float = DEFAULT_CACHE_READ_DISCOUNT) -> Cost:
    uncached = max(0, usage.input_tokens - usage.cached_tokens)
    return Cost(uncached * rates.input / MILLION, usage.cached_tokens * rates.cached_rate(discount) / MILLION,
                usage.output_tokens * rates.output / MILLION)  # fmt: skip


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def parse_models_dev(data: Any, aliases: Mapping[str, str], source: str = "models.dev") -> dict[str, Rates]:
    """`{provider: {models: {id: {cost: {input, output, cache_read}}}}}`; keys "provider/id" and bare "id"."""
    out: dict[str, Rates] = {}
    if not isinstance(data, dict):
        return out
    for provider_id, provider in data.items():
        models = provider.get("models") if isinstance(provider, dict) else None
        if not isinstance(models, dict):
            continue
        for model_id, model in models.items():
            cost = model.get("cost") if isinstance(model, dict) else None
            if not isinstance(cost, dict):
                continue
            inp, outp = _num(cost.get("input")), _num(cost.get("output"))
            if inp is None or outp is None:
                continue
            limit = model.get("limit") if isinstance(model.get("limit"), dict) else {}
            ctx = _num(limit.get("context"))
            rates = Rates(inp, outp, _num(cost.get("cache_read")), source, int(ctx) if ctx else None)
            raw = f"{provider_id}/{model_id}"
            out[aliases.get(raw, raw)] = rates
            out.setdefault(str(model_id), rates)
    return out


def _per_million(v: float | None) -> float | None:
    # DigitalOcean publishes per-token prices (≈1e-6) in some fields and per-million in others: a value
    # below 0.01 can only be per token (no model costs under a cent per million tokens).
    if v is None:
        return None
    return v * MILLION if v < 0.01 else v


def parse_digitalocean(data: Any, aliases: Mapping[str, str], source: str = "digitalocean") -> dict[str, Rates]:
    """`{data: [{model_id, pricing: {input_price_per_million, output_price_per_million,
    cache_read_input_price_per_million | input_cache_read}}]}`; keys need `model_aliases` to match ours."""
    out: dict[str, Rates] = {}
    items = data.get("data") if isinstance(data, dict) else None
    for m in items if isinstance(items, list) else ():
        if not isinstance(m, dict) or not isinstance(m.get("pricing"), dict) or not m.get("model_id"):
            continue
        p = m["pricing"]
        cached = _num(p.get("cache_read_input_price_per_million"))
        if cached is None:
            cached = _num(p.get("input_cache_read"))
        rates = Rates(
            _per_million(_num(p.get("input_price_per_million"))) or 0.0,
            _per_million(_num(p.get("output_price_per_million"))) or 0.0,
            _per_million(cached),
            source,
        )
        key = str(m["model_id"])
        out[aliases.get(key, key)] = rates
    return out


PARSERS: dict[str, Callable[[Any, Mapping[str, str], str], dict[str, Rates]]] = {
    "models.dev": parse_models_dev,
    "digitalocean": parse_digitalocean,
}


# Runs in a child process: genai-prices pulls in pydantic and a 1.6 MB data module, and merely having them
# loaded slowed the proxy by ~3.5 % (bench/ab_versions.py), so the proxy only ever sees plain numbers.
_EXPORT = """
import json, sys
try:
    import genai_prices
    from genai_prices.data_snapshot import get_snapshot
except ImportError:
    print(json.dumps({"error": "missing"})); sys.exit(0)
ours = json.loads(sys.stdin.read())
back = {v: k for k, v in ours["providers"].items()}
def mtok(v):
    v = getattr(v, "base", v)
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None
def rates(price, model=None):
    ctx = getattr(model, "context_window", None)
    return [mtok(price.input_mtok) or 0.0, mtok(price.output_mtok) or 0.0, mtok(price.cache_read_mtok),
            ctx if isinstance(ctx, int) else None]
out = {}
for p in get_snapshot().providers:
    for m in p.models:
        price = m.prices if not isinstance(m.prices, list) else (m.prices[0].prices if m.prices else None)
        if price is not None and hasattr(price, "input_mtok"):
            out[back.get(p.id, p.id) + "/" + m.id] = rates(price, m)
usage = genai_prices.Usage(input_tokens=1_000_000, output_tokens=1_000_000)
for model in ours["models"]:  # configured names, through genai-prices' own model matching
    prefix, _, bare = model.partition("/")
    try:
        c = genai_prices.calc_price(usage, model_ref=bare or prefix,
                                    provider_id=ours["providers"].get(prefix, prefix) if bare else None)
        out[model] = rates(c.model_price, getattr(c, "model", None))
    except Exception:
        pass
print(json.dumps({"rates": out}))
"""


# BuiltinPrices.load's tables by (interpreter, names); None: that interpreter has no genai-prices. Shared by
# every BuiltinPrices in the process and never mutated once stored.
_TABLES: dict[tuple[str, tuple[str, ...]], dict[str, Rates] | None] = {}
_TABLES_LOCK = threading.Lock()


class BuiltinPrices:
    """The `genai-prices` package's bundled table (no network: we never call its updater).

    `load()` runs once in a worker thread after the proxy is up, asking a child process for the table as
    plain numbers; until then, and without the package, `rates()` answers None and cost shows as unknown."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.ready = False
        self._table: dict[str, Rates] = {}

    def load(self, warm: tuple[str, ...] = ()) -> None:
        # The table depends only on the interpreter (its installed genai-prices) and the names asked for, so
        # one child per process and name set is enough: a later proxy in the same process (a test run starts
        # hundreds) reuses it instead of paying ~0.3-0.7 s of CPU for another child.
        key = (sys.executable, tuple(sorted(set(warm))))
        with _TABLES_LOCK:
            if key not in _TABLES:
                request = orjson.dumps({"providers": _GENAI_PROVIDER, "models": list(key[1])})
                try:
                    proc = subprocess.run(
                        [sys.executable, "-c", _EXPORT], input=request, capture_output=True, timeout=120, check=False
                    )
                    answer = orjson.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
                except (OSError, subprocess.SubprocessError, orjson.JSONDecodeError) as exc:
                    self.error = f"the built-in price table did not load: {exc}"  # not stored: a later load retries
                    return
                if "rates" in answer:
                    _TABLES[key] = {k: Rates(v[0], v[1], v[2], "genai-prices", v[3] if len(v) > 3 else None)
                                   for k, v in answer["rates"].items()}
                elif answer.get("error") == "missing":
                    _TABLES[key] = None
                else:  # a crashed child: not stored either
                    self.error = "no built-in price table: the genai-prices package is not installed"
                    return
            table = _TABLES[key]
        if table is None:
            self.error = "no built-in price table: the genai-prices package is not installed"
            return
        self._table = table
        self.ready = True

    def rates(self, model: str) -> Rates | None:
        if not self.ready:
            return None
        r = self._table.get(model)
        if r is None and "/" in model:
            prefix, bare = model.split("/", 1)
            r = self._table.get(f"{_GENAI_PROVIDER.get(prefix, prefix)}/{bare}")
        return r


_MISS = object()


@dataclass(frozen=True)
class Source:
    kind: str  # cost | latency
    provider: str  # models.dev | digitalocean | prometheus
    url: str
    refresh_s: float | None
    aliases: Mapping[str, str]
    query: str = ""


def sources_from(raw: Any, base_dir: Path | None) -> tuple[list[Source], list[str]]:
    """The config's `model_metrics_sources` → sources, and warnings for entries we cannot use."""
    out: list[Source] = []
    warnings: list[str] = []
    for i, s in enumerate(raw if isinstance(raw, list) else ()):
        if not isinstance(s, dict):
            continue
        kind, provider = s.get("type"), s.get("provider")
        refresh = _num(s.get("refresh_interval"))
        url = s.get("url") or DEFAULT_URLS.get(str(provider), "")
        if kind == "cost" and provider in PARSERS:
            aliases = aliases_ if isinstance(aliases_ := s.get("model_aliases"), dict) else {}
            out.append(Source("cost", provider, _locate(str(url), base_dir), refresh, dict(aliases)))
        elif kind == "latency" and provider == "prometheus" and url and s.get("query"):
            out.append(Source("latency", provider, str(url), refresh, {}, str(s["query"])))
        else:
            warnings.append(
                f"model_metrics_sources[{i}]: type {kind!r} / provider {provider!r} is not supported; ignored"
            )
    return out, warnings


def _locate(url: str, base_dir: Path | None) -> str:
    if url.startswith(("http://", "https://", "file://")):
        return url
    p = Path(url).expanduser()
    return str(p if p.is_absolute() or base_dir is None else base_dir / p)


class PriceBook:
    """Rates by model from the configured sources over the built-in table, and latency by model."""

    def __init__(self, sources: list[Source] | None = None, builtin: BuiltinPrices | None = None) -> None:
        self.sources = sources or []
        self.builtin = builtin if builtin is not None else BuiltinPrices()
        self._feed: dict[str, Rates] = {}  # from the cost source
        self.latency: dict[str, float] = {}  # model → seconds (or whatever the query returns), lower is faster
        self.errors: dict[str, str] = {}  # source url → last error
        self.loaded = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._first_loads = 0
        self._memo: dict[tuple[str, int, bool], Rates | object | None] = {}
        self._session_getter: Callable[[], aiohttp.ClientSession] | None = None
        self.version = 0  # bumped when prices change (the dashboard redraws cost columns)

    @property
    def feed(self) -> dict[str, Rates]:
        return self._feed

    @feed.setter
    def feed(self, table: dict[str, Rates]) -> None:
        self._feed = table
        self.version += 1  # memoised rates are stale now

    def rates(self, model: str) -> Rates | None:
        r = self._feed.get(model)
        if r is None and "/" in model:
            r = self._feed.get(model.split("/", 1)[1])
        return r if r is not None else self.builtin.rates(model)

    def cost(self, model: str | None, usage: Usage, discount: float = DEFAULT_CACHE_READ_DISCOUNT) -> Cost | None:
        """Runs once per request: the rates of each model are memoised until prices change."""
        if not model or not usage:
            return None
        key = (model, self.version, self.builtin.ready)
        r = self._memo.get(key, _MISS)
        if r is _MISS:
            if len(self._memo) > 4096:
                self._memo.clear()
            r = self._memo[key] = self.rates(model)
        return request_cost(usage, r, discount) if r is not None else None  # type: ignore[arg-type]

    def window(self, model: str) -> int | None:
        """The context window the price table lists for `model` (canonical "provider/model")."""
        r = self.rates(model)
        return r.context if r is not None else None

    @property
    def generation(self) -> tuple[int, bool]:
        """Changes when prices (and their limits) may have: the built-in table loaded, a feed arrived."""
        return self.version, self.builtin.ready

    @property
    def has_cost_source(self) -> bool:
        return any(s.kind == "cost" for s in self.sources) or self.builtin.error is None

    @classmethod
    def from_config(cls, config: Any) -> tuple[PriceBook, list[str]]:
        sources, warnings = sources_from(config.raw.get("model_metrics_sources"), _base_dir(config))
        return cls(sources), warnings

    # ------------------------------------------------------------------ loading
    def start(self, session_getter: Callable[[], aiohttp.ClientSession], models: tuple[str, ...] = ()) -> None:
        """Load the built-in table and every source in the background (refreshing those with an interval)."""
        loop = asyncio.get_running_loop()
        self._session_getter = session_getter
        if not self.builtin.ready and self.builtin.error is None:
            self._tasks.append(loop.create_task(self._load_builtin(models), name="prices:builtin"))
        self._start_sources(session_getter)

    async def _load_builtin(self, models: tuple[str, ...]) -> None:
        await asyncio.to_thread(self.builtin.load, models)
        self.version += 1

    def _start_sources(self, session_getter: Callable[[], aiohttp.ClientSession]) -> None:
        loop = asyncio.get_running_loop()
        if not self.sources:
            self.loaded.set()
        for s in self.sources:
            self._tasks.append(loop.create_task(self._run(s, session_getter), name=f"prices:{s.provider}"))

    def configure(self, sources: list[Source]) -> None:
        """Hot reload: new sources replace the old ones (the built-in table stays loaded)."""
        if sources == self.sources:
            return
        kept = {s.url for s in sources}
        for s in self.sources:  # a failing feed the new config drops is out of order no more (proxy.notices)
            if s.url in self.errors and s.url not in kept:
                log.warning("model_metrics_sources: %s (%s) is no longer configured", s.provider,
                            without_credentials(s.url), extra={"back": f"{s.provider} feed"})  # fmt: skip
        self.sources = sources
        # A feed still configured keeps its error: the next good answer says it is back.
        self.feed, self.latency, self.errors = {}, {}, {u: e for u, e in self.errors.items() if u in kept}
        self.loaded, self._first_loads = asyncio.Event(), 0
        for t in self._tasks:
            if not t.get_name().endswith("builtin"):
                t.cancel()
        self._tasks = [t for t in self._tasks if t.get_name().endswith("builtin")]
        if self._session_getter is not None:
            self._start_sources(self._session_getter)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()

    async def _run(self, s: Source, session_getter: Callable[[], aiohttp.ClientSession]) -> None:
        first = True
        while True:
            await self.load(s, session_getter)
            if first:
                self._first_loads += 1
                if self._first_loads >= len(self.sources):
                    self.loaded.set()  # every source answered (or failed) once: tests and the UI wait on it
                first = False
            if s.refresh_s is None:
                return
            await asyncio.sleep(s.refresh_s)

    async def load(self, s: Source, session_getter: Callable[[], aiohttp.ClientSession]) -> None:
        """One fetch of one source; failures keep the last good data and are recorded in `errors`."""
        try:
            data = await _fetch(s, session_getter)
            if s.kind == "cost":
                table = PARSERS[s.provider](data, s.aliases, s.provider)
                if not table:
                    raise ValueError("no priced models in the answer")
                self.feed = table
            else:
                self.latency = _prometheus(data)
            if self.errors.pop(s.url, None) is not None:
                log.warning("model_metrics_sources: %s (%s) answers again", s.provider, without_credentials(s.url),
                            extra={"back": f"{s.provider} feed"})  # fmt: skip
            self.version += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors[s.url] = scrub_credentials(f"{type(exc).__name__}: {exc}")  # a URL's password stays out
            shown = without_credentials(s.url)
            log.warning("model_metrics_sources: %s (%s): %s", s.provider, shown, self.errors[s.url],
                        extra={"down": f"{s.provider} feed"})  # fmt: skip


async def _fetch(s: Source, session_getter: Callable[[], aiohttp.ClientSession]) -> Any:
    import aiohttp

    if s.kind == "latency":
        url = s.url.rstrip("/") + "/api/v1/query"
        async with session_getter().get(
            url, params={"query": s.query}, timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
        ) as r:
            r.raise_for_status()
            return orjson.loads(await r.read())
    if s.url.startswith(("http://", "https://")):
        async with session_getter().get(s.url, timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)) as r:
            r.raise_for_status()
            return orjson.loads(await r.read())
    path = urlsplit(s.url).path if s.url.startswith("file://") else s.url
    raw = await asyncio.to_thread(Path(path).read_bytes)
    return orjson.loads(raw)


def _prometheus(data: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    result = data.get("data", {}).get("result") if isinstance(data, dict) else None
    for r in result if isinstance(result, list) else ():
        try:
            name = r["metric"]["model_name"]
            out[str(name)] = float(r["value"][1])
        except (KeyError, TypeError, ValueError, IndexError):
            continue
    return out


def _base_dir(config: Any) -> Path | None:
    return Path(config.path).parent if getattr(config, "path", None) else None


def configured_models(config: Any) -> tuple[str, ...]:
    return tuple(p.model for p in config.providers if not p.wildcard)


def priced_model(res: Any) -> str:
    """The canonical "provider/model" a `Resolution` serves, as prices and sessions key it (a wildcard
    provider names the model it was asked for)."""
    p = res.provider
    return p.model if not p.wildcard else f"{p.prefix}/{res.upstream_model}"
