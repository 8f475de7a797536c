"""Upstream URLs and headers: where a resolved request goes and with which credentials.

Auth is rewritten here and only here: `Authorization: Bearer` for OpenAI-style APIs, `x-api-key` +
`anthropic-version` for Anthropic Messages, `api-key` for Azure. Client credentials are forwarded only
for `passthrough_auth` providers. Secrets never leave this module except in the outgoing headers.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from .config import Provider
from .wire.providers import AZURE_API_VERSION, Api

# Client headers worth forwarding upstream (affinity, betas, Codex turn metadata); everything else —
# hop-by-hop headers, Host, Content-Length, Accept-Encoding, the client's own credentials — is dropped.
_FORWARD_EXACT = frozenset(
    {"session-id", "session_id", "thread-id", "originator", "openai-beta", "user-agent", "x-client-request-id"}
)
_FORWARD_PREFIX = ("x-codex-",)
_ANTHROPIC_FORWARD = frozenset({"anthropic-beta", "anthropic-version", "x-claude-code-session-id"})
SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "proxy-authorization", "cookie", "set-cookie", "x-goog-api-key"}
)


def upstream_url(provider: Provider, api: Api, upstream_model: str) -> str:
    if provider.prefix == "azure_openai":
        return (
            f"{provider.base_url}{provider.path_prefix}/deployments/{upstream_model}"
            f"/chat/completions?api-version={AZURE_API_VERSION}"
        )
    return provider.base_url + provider.path_prefix + api.path_suffix


def client_key(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization") or headers.get("Authorization")
    if auth and auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return headers.get("x-api-key") or headers.get("X-Api-Key") or None


def upstream_headers(
    provider: Provider, api: Api, client_api: Api, client_headers: Mapping[str, str], request_id: str
) -> dict[str, str]:
    h: dict[str, str] = {"Content-Type": "application/json", "x-request-id": request_id}
    for name, value in client_headers.items():
        low = name.lower()
        if (
            low in _FORWARD_EXACT
            or low.startswith(_FORWARD_PREFIX)
            or (api is Api.MESSAGES and client_api is Api.MESSAGES and low in _ANTHROPIC_FORWARD)
        ):
            h[name] = value
    key = client_key(client_headers) if provider.passthrough_auth else provider.access_key
    if api is Api.MESSAGES:
        h.setdefault("anthropic-version", "2023-06-01")
        if key:
            h["x-api-key"] = key
    elif key:
        if provider.prefix == "azure_openai":
            h["api-key"] = key
        else:
            h["Authorization"] = f"Bearer {key}"
    if provider.http_host:
        h["Host"] = provider.http_host
    h.update(provider.headers)
    return h


def redact_headers(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Headers safe to show or log: secret values replaced whole, never partially."""
    return tuple((k, "<redacted>" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items())


@functools.lru_cache(maxsize=256)
def _proxy_for(scheme: str, host: str, env_key: tuple[tuple[str, str], ...]) -> str | None:
    env = dict(env_key)
    if host in ("localhost", "") or _is_loopback(host):
        return None  # local providers (Ollama, vLLM, tests) are never reached through a proxy
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    for entry in (e.strip().lower() for e in no_proxy.split(",") if e.strip()):
        if entry == "*" or host == entry.lstrip(".") or host.endswith("." + entry.lstrip(".")):
            return None
    if scheme == "https":
        return env.get("https_proxy") or env.get("HTTPS_PROXY") or env.get("all_proxy") or env.get("ALL_PROXY")
    return env.get("http_proxy") or env.get("HTTP_PROXY") or env.get("all_proxy") or env.get("ALL_PROXY")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_PROXY_VARS = (
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
)


def proxy_environment(environ: Mapping[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    """The proxy variables that are set, as a hashable key. Read once when the handler is built:
    looking up eight environment variables per request cost 3 % of the proxy's CPU."""
    env = os.environ if environ is None else environ
    return tuple((k, env[k]) for k in _PROXY_VARS if env.get(k))


def proxy_for(url: str, proxy_env: tuple[tuple[str, str], ...]) -> str | None:
    """The outbound proxy for a provider URL under `proxy_env` (see `proxy_environment`); never for
    loopback providers. Cached per host."""
    if not proxy_env:
        return None
    parts = urlsplit(url)
    return _proxy_for(parts.scheme, (parts.hostname or "").lower(), proxy_env)

