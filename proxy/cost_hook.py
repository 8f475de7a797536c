"""The seam between telemetry and whatever prices a call (the cost module, or a test).

A `Pricer` takes (provider name, upstream model, usage) and returns a `Cost`, or None when the model
has no price. Metrics (`planoai_*_cost_usd`) and traces (`llm.usage.*_cost_usd`) ask the one passed to
`proxy.telemetry.install`; without one, no cost is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .wire.usage import Usage


@dataclass(frozen=True, slots=True)
class Cost:
    input_usd: float
    output_usd: float

    @property
    def total_usd(self) -> float:
        return self.input_usd + self.output_usd


Pricer = Callable[[str, str, Usage], Cost | None]
