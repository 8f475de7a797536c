"""What a translator raises for a request whose meaning it cannot keep.

No HTTP status here: the translators are pure functions of bodies. The core decides that the client is
at fault (proxy.handler answers 400 in the client's own error shape, with `code`).
"""

from __future__ import annotations


class Untranslatable(Exception):
    """A request the target API cannot carry without changing its meaning (a hosted tool, `n` > 1)."""

    def __init__(self, message: str, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
