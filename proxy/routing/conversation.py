"""A request body of any client API → a flat list of `Turn`s the router reasons about.

Mirrors Plano's normalisation to Chat Completions messages (docs/plano-compat.md §3.3): system/developer
instructions, tool results and text-less items (tool calls, reasoning) are kept as typed turns so turn
detection can see them, but only user/assistant text reaches a router. Claude Code's
`<system-reminder>`/`<user-prompt-submit-hook>` envelopes and Codex's `<environment_context>` are
injected context, not intent, so they are cut out of user text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..wire.providers import Api

_TOOL_OUTPUTS = frozenset(
    {
        "function_call_output",
        "custom_tool_call_output",
        "computer_call_output",
        "local_shell_call_output",
        "mcp_call_output",
        "apply_patch_call_output",
        "shell_call_output",
        "tool_search_output",
    }
)
_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
_IMAGE_PARTS = frozenset({"image", "image_url", "input_image"})


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # system | user | assistant | tool
    text: str  # text parts joined by "\n" (Plano's extract_text); envelopes removed from user text
    image: bool = False


@dataclass(frozen=True, slots=True)
class Conversation:
    turns: tuple[Turn, ...]
    instructions: str  # system + developer text, for the implicit session key
    tool_names: tuple[str, ...]
    first_user: str

    @property
    def messages(self) -> list[Turn]:
        """What a router sees: user/assistant turns that have text (Plano drops the rest)."""
        return [t for t in self.turns if t.role in ("user", "assistant") and t.text]

    @property
    def last(self) -> Turn | None:
        for t in reversed(self.turns):
            if t.role != "system":  # Claude Code puts a system message mid-history
                return t
        return None

    @property
    def is_user_turn(self) -> bool:
        """Plano's `route_on_user_only` test: the last message is the user's own text (or an image)."""
        last = self.last
        return last is not None and last.role == "user" and bool(last.text or last.image)

    @property
    def latest_user_text(self) -> str:
        for t in reversed(self.turns):
            if t.role == "user" and t.text:
                return t.text
        return ""


_ENVELOPE_TAGS = tuple((f"<{t}>", f"</{t}>") for t in ("system-reminder", "user-prompt-submit-hook",
                                                           "environment_context"))


def strip_envelopes(text: str) -> str:
    """`text` without the envelopes agents wrap around context, stripped: the leftmost, non-overlapping
    matches `re.sub` would remove for `<(system-reminder|user-prompt-submit-hook|environment_context)>.*?</\1>`
    (DOTALL; tests/test_routing_units.py checks the two agree). By `str.find`: the regex's lazy `.*?`
    took ~5 µs on Codex's environment_context message, on every request of a session."""
    if "<" not in text:
        return text.strip()
    out: list[str] = []
    start = pos = 0  # start: kept text begins here; pos: where the next opening tag may be
    while True:
        best, opened, close = -1, "", ""
        for open_tag, close_tag in _ENVELOPE_TAGS:
            i = text.find(open_tag, pos)
            if i >= 0 and (best < 0 or i < best):
                best, opened, close = i, open_tag, close_tag
        if best < 0:
            break
        end = text.find(close, best + len(opened))
        if end < 0:  # no closing tag for the earliest opening one: the regex moves on one character
            pos = best + 1
            continue
        out.append(text[start:best])
        start = pos = end + len(close)
    out.append(text[start:])
    return "".join(out).strip()


def _parts_text(content: Any) -> tuple[str, bool]:
    """Text of a string or a list of content parts, joined by newlines; and whether an image is there."""
    if isinstance(content, str):
        return content, False
    if not isinstance(content, list):
        return "", False
    texts: list[str] = []
    image = False
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict):
            kind = part.get("type")
            if kind in _TEXT_PARTS and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind in _IMAGE_PARTS:
                image = True
    return "\n".join(texts), image


def _tool_names(tools: Any) -> tuple[str, ...]:
    names: list[str] = []
    if isinstance(tools, list):
        for t in tools:
            if isinstance(t, dict):
                fn = t.get("function")
                name = fn.get("name") if isinstance(fn, dict) else t.get("name") or t.get("type")
                if isinstance(name, str):
                    names.append(name)
    return tuple(names)


def _turn(role: str, content: Any) -> Turn:
    text, image = _parts_text(content)
    if role == "user":
        text = strip_envelopes(text)
    return Turn(role, text, image)


def _from_responses(body: dict[str, Any]) -> Iterable[Turn]:
    items = body.get("input")
    if isinstance(items, str):
        yield _turn("user", items)
        return
    if not isinstance(items, list):
        return
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind in _TOOL_OUTPUTS:
            yield Turn("tool", "")
        elif kind in (None, "message") and "role" in item:
            role = item.get("role")
            yield _turn("system" if role in ("system", "developer") else str(role), item.get("content"))
        else:  # function_call, custom_tool_call, reasoning, …: no text a router could use
            yield Turn("assistant", "")


def _from_chat(body: dict[str, Any]) -> Iterable[Turn]:
    msgs = body.get("messages")
    if not isinstance(msgs, list):
        return
    for m in msgs:
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        if role in ("tool", "function"):
            yield Turn("tool", "")
        elif role in ("system", "developer"):
            yield Turn("system", _parts_text(m.get("content"))[0])
        else:
            yield _turn(str(role), m.get("content"))


def _from_messages(body: dict[str, Any]) -> Iterable[Turn]:
    msgs = body.get("messages")
    if not isinstance(msgs, list):
        return
    for m in msgs:
        if not isinstance(m, dict):
            continue
        role = str(m.get("role"))
        content = m.get("content")
        if role == "system":
            yield Turn("system", _parts_text(content)[0])
            continue
        if isinstance(content, list) and role == "user":
            # Plano's Anthropic→Chat split: tool_result blocks become tool messages, then the text.
            results = sum(1 for b in content if isinstance(b, dict) and b.get("type") == "tool_result")
            for _ in range(results):
                yield Turn("tool", "")
            rest = [b for b in content if not (isinstance(b, dict) and b.get("type") == "tool_result")]
            if rest or not results:
                yield _turn(role, rest)
            continue
        yield _turn(role, content)


def _instructions(api: Api, body: dict[str, Any], turns: list[Turn]) -> str:
    top = body.get("instructions") if api is Api.RESPONSES else body.get("system") if api is Api.MESSAGES else None
    parts = [_parts_text(top)[0]] if top else []
    for t in turns:  # only the leading ones: clients append developer/system messages as history grows
        if t.role != "system":
            break
        parts.append(t.text)
    return "\n".join(parts)


def parse(api: Api, body: dict[str, Any]) -> Conversation:
    src = _from_responses if api is Api.RESPONSES else _from_messages if api is Api.MESSAGES else _from_chat
    turns = list(src(body))
    first_user = next((t.text for t in turns if t.role == "user" and t.text), "")
    return Conversation(tuple(turns), _instructions(api, body, turns), _tool_names(body.get("tools")), first_user)


def prefix_facts(api: Api, body: dict[str, Any]) -> tuple[str, tuple[str, ...], str | None]:
    """(instructions, tool names, first user text) — what a session key hashes — reading the history only
    up to its first user message, where `parse` walks all of it (a Codex body has hundreds of items)."""
    if api is Api.RESPONSES:
        items = body.get("input")
        if isinstance(items, str):  # a bare prompt: nothing to walk
            top = body.get("instructions")
            text = strip_envelopes(_parts_text(items)[0])
            return (_parts_text(top)[0] if top else ""), _tool_names(body.get("tools")), text or None
        if isinstance(items, list):
            instructions, first = _remembered_head(body, items)
            return instructions, _tool_names(body.get("tools")), first
    return _walked_prefix_facts(api, body)


# The last few Responses heads read: (instructions field, the items up to the first user text, their
# instructions, that text). Every turn of a session re-sends the same head, and comparing it (C-level
# equality: a memcmp per prompt string) costs a fraction of reading it again (part joins, envelope stripping,
# a 19 KB join for Codex). Only heads that found a user text are kept: items after it cannot change them.
_HEADS: list[tuple[Any, list[Any], str, str]] = []
_HEADS_MAX = 4


def _remembered_head(body: dict[str, Any], items: list[Any]) -> tuple[str, str | None]:
    top = body.get("instructions")
    for e_top, head, instructions, first in _HEADS:
        if len(items) >= len(head) and items[: len(head)] == head and top == e_top:
            return instructions, first
    instructions, found, k = _responses_head(body, items)
    if found is not None:
        _HEADS.insert(0, (top, items[:k], instructions, found))
        del _HEADS[_HEADS_MAX:]
    return instructions, found


def _responses_head(body: dict[str, Any], items: list[Any]) -> tuple[str, str | None, int]:
    """(instructions, first user text, items read) of a Responses input list, read straight from the
    items: the same answer as the turn walk (tests/test_routing_units.py checks both agree) without
    building a `Turn` per item or the text of messages that cannot matter."""
    top = body.get("instructions")
    parts = [_parts_text(top)[0]] if top else []
    leading = True  # system/developer messages count only before the first other item
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        if item.get("type") in (None, "message") and "role" in item:
            role = item.get("role")
            if role in ("system", "developer"):
                if leading:
                    parts.append(_parts_text(item.get("content"))[0])
                continue
            if role == "user":
                text = strip_envelopes(_parts_text(item.get("content"))[0])
                if text:
                    return "\n".join(parts), text, i + 1
        leading = False  # a user message without text, an assistant turn, a tool call or output
    return "\n".join(parts), None, len(items)


def _walked_prefix_facts(api: Api, body: dict[str, Any]) -> tuple[str, tuple[str, ...], str | None]:
    """prefix_facts by the generic turn walk (Chat and Messages; the reference the Responses path agrees with)."""
    src = _from_responses if api is Api.RESPONSES else _from_messages if api is Api.MESSAGES else _from_chat
    head: list[Turn] = []
    first: str | None = None
    for t in src(body):
        head.append(t)
        if t.role == "user" and t.text:
            first = t.text
            break
    return _instructions(api, body, head), _tool_names(body.get("tools")), first


def recent_user_message(api: Api, body: dict[str, Any]) -> str | None:
    """The message text Plano previews on its LLM span (`llm.user_message_preview`), by its rules per client
    API: Responses, the newest user message with text (a string input is one); Messages, the newest text
    block of a user message; Chat, the last message's content when it is a plain string, whoever wrote it."""
    if api is Api.CHAT:
        msgs = body.get("messages")
        last = msgs[-1] if isinstance(msgs, list) and msgs else None
        content = last.get("content") if isinstance(last, dict) else None
        return content if isinstance(content, str) else None
    if api is Api.RESPONSES:
        items = body.get("input")
        if isinstance(items, str):
            return items
        text_kind = "input_text"
    else:
        items = body.get("messages")
        text_kind = "text"
    for item in reversed(items) if isinstance(items, list) else ():
        if not isinstance(item, dict) or item.get("role") != "user" or item.get("type") not in (None, "message"):
            continue
        content = item.get("content")
        if isinstance(content, str):
            return content
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and part.get("type") == text_kind and isinstance(part.get("text"), str):
                return str(part["text"])
    return None


def tool_names(body: dict[str, Any]) -> tuple[str, ...]:
    """The names of the tools a request declares (any client API)."""
    return _tool_names(body.get("tools"))
