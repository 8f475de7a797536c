"""Small shared pieces of the translators: ids, opaque reasoning blobs, stop reasons, error codes.

Stop reasons are normalised to one vocabulary between a decoder (upstream side) and an emitter
(client side): stop, length, tool_calls, content_filter. Error codes are normalised to OpenAI-style
codes (what Codex acts on, docs/codex-wire.md §6); the Anthropic emitter maps them back to error types.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import Any

import orjson

from ..wire.errors import Untranslatable


class IdMaker:
    """Unique ids cheaply: one random base per translator, then a counter (no per-id syscall)."""

    __slots__ = ("_base", "_n")

    def __init__(self) -> None:
        self._base = os.urandom(8).hex()
        self._n = 0

    def __call__(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._base}{self._n:02x}"


# ----------------------------------------------------------------------------- opaque reasoning state

# Codex replays reasoning items verbatim and never looks inside `encrypted_content` (docs/codex-wire.md §3),
# so state the next request needs — an Anthropic thinking block with its signature, a chat provider's
# reasoning text, Gemini's thought signatures — travels there, marked as ours.
_BLOB_PREFIX = "planoai1:"
_BLOB_PREFIX_B = _BLOB_PREFIX.encode()


def pack_blob(data: dict[str, Any]) -> str:
    return _BLOB_PREFIX + orjson.dumps(data).decode()


def unpack_blob(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, str) or not value.startswith(_BLOB_PREFIX):
        return None
    try:
        data = orjson.loads(value[len(_BLOB_PREFIX):])
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


# The same state in an Anthropic client's thinking `signature` (or `redacted_thinking.data`), where
# Claude Code hands it back next turn. It must look like Anthropic's own, base64: Claude Code 2.1.197
# discards a streamed answer whose signature holds JSON punctuation and asks again (measured).


def pack_signature(data: dict[str, Any]) -> str:
    return base64.b64encode(pack_blob(data).encode()).decode()


def unpack_signature(value: Any) -> dict[str, Any] | None:
    """Our state from a signature, or None (an Anthropic signature decodes to bytes that are not ours)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return unpack_blob(raw.decode("utf-8", "replace")) if raw.startswith(_BLOB_PREFIX_B) else None


# ----------------------------------------------------------------------------- stop reasons

CHAT_TO_STOP = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
                "content_filter": "content_filter"}
ANTHROPIC_TO_STOP = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
                     "model_context_window_exceeded": "length", "tool_use": "tool_calls",
                     "refusal": "content_filter"}
STOP_TO_ANTHROPIC = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                     "content_filter": "refusal"}


# ----------------------------------------------------------------------------- errors

_ANTHROPIC_ERROR_CODES = {"overloaded_error": "server_is_overloaded", "rate_limit_error": "rate_limit_exceeded",
                          "api_error": "server_error", "timeout_error": "server_error",
                          "authentication_error": "upstream_auth_failed", "permission_error": "permission_denied",
                          "not_found_error": "model_not_found", "billing_error": "insufficient_quota",
                          "request_too_large": "context_length_exceeded"}


def error_code(err: Any, default: str = "upstream_error") -> tuple[str, str]:
    """(message, normalised code) from an in-stream error of either API."""
    if isinstance(err, str):
        return err[:500] or "upstream error", default
    if not isinstance(err, dict):
        return "upstream error", default
    msg = str(err.get("message") or err.get("type") or "upstream error")[:500]
    raw = str(err.get("code") or err.get("type") or "")
    low = msg.lower()
    if ("context" in low and ("length" in low or "window" in low)) or "prompt is too long" in low:
        return msg, "context_length_exceeded"
    if raw in _ANTHROPIC_ERROR_CODES:
        return msg, _ANTHROPIC_ERROR_CODES[raw]
    if raw == "invalid_request_error":
        return msg, "invalid_request"
    return msg, raw or default


_TRANSIENT = frozenset({"server_is_overloaded", "server_error", "upstream_error", "stream_incomplete",
                        "stream_interrupted", "overloaded"})


def anthropic_error_type(code: str) -> str:
    """The Anthropic error type for a normalised code. Transient failures become `overloaded_error`,
    which Claude Code retries (docs/codex-wire.md §8)."""
    if code in _TRANSIENT:
        return "overloaded_error"
    if code.startswith("rate_limit"):
        return "rate_limit_error"
    if code == "context_length_exceeded" or code.startswith("invalid"):  # invalid_request, invalid_prompt, …
        return "invalid_request_error"
    if code == "insufficient_quota":
        return "billing_error"
    return "api_error"


def unsupported(what: str) -> Untranslatable:
    return Untranslatable(what, "unsupported_tool")


# ----------------------------------------------------------------------------- small helpers

_NAME_OK = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")


def safe_name(name: str) -> str:
    """Tool names and ids as every API accepts them: `[A-Za-z0-9_-]{1,64}`."""
    if _NAME_OK.fullmatch(name):
        return name
    return (_NAME_BAD.sub("_", name) or "_")[:64]


def safe_id(call_id: str) -> str:
    # Anthropic checks tool_use ids against ^[a-zA-Z0-9_-]+$; keep ids otherwise verbatim (no 64 cap).
    if _NAME_OK.fullmatch(call_id) or (call_id and not _NAME_BAD.search(call_id)):
        return call_id
    return _NAME_BAD.sub("_", call_id) or "call"


def parse_data_url(url: str) -> tuple[str, str] | None:
    """`data:<media>;base64,<data>` → (media type, data); None for other URLs."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url.partition(",")
    if not sep or ";base64" not in head:
        return None
    return head[5:].split(";", 1)[0] or "image/png", data


def loads_obj(text: str) -> Any:
    try:
        return orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        return None
