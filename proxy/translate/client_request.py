"""What a client asked for, in neutral form: the seam between the three client readers and the three
upstream writers.

A reader (`chat_client`, `messages_client`, `responses_client`) turns a client body into a
`ClientRequest`; a writer (`chat_request`, `messages_request.anthropic_request`,
`responses_upstream.responses_request`) renders the upstream body from it and appends its notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..wire.models import ModelCaps
from .conversation import Conv
from .tools import Choice, FnTool


@dataclass(slots=True)
class Sampling:
    """The generation settings all three APIs share, read from whichever client API."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    effort: str | None = None  # minimal | low | medium | high | xhigh
    fmt: dict[str, Any] | None = None  # {"kind": "json_schema"|"json_object", "name", "schema", "strict"}


@dataclass(slots=True)
class ClientRequest:
    conv: Conv
    fns: list[FnTool]
    choice: Choice
    parallel: bool | None  # parallel_tool_calls as the client set it (None: not said)
    stream: bool
    sampling: Sampling
    caps: ModelCaps  # what the target model (and its provider's quirks) accept
    notes: list[str]  # what was dropped or changed, shown on the request's row
