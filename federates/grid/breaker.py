"""Breaker commands received as messages on the grid federate's ``breakers`` endpoint.

Payloads (msgpack maps)::

    {"action": "open",  "branch": 12}   open branch row 12 (0-based row of mpc.branch)
    {"action": "close", "branch": 12}   re-close it (also resets an overload trip)
    {"action": "open",  "bus": 16}      open every breaker at bus number 16 (de-energize it)
    {"action": "close", "bus": 16}      re-close them (a flooded substation stays tripped)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["BreakerAction", "BreakerCommand"]


class BreakerAction(str, enum.Enum):
    OPEN = "open"
    CLOSE = "close"


@dataclass(frozen=True)
class BreakerCommand:
    """One parsed command: exactly one of ``branch`` (row) and ``bus`` (bus number) is set."""

    action: BreakerAction
    branch: int | None = None
    bus: int | None = None

    @classmethod
    def parse(cls, payload: Any, *, n_branch: int, bus_numbers: tuple[int, ...]) -> BreakerCommand:
        """Validate ``payload``; ``ValueError`` names the bad payload and why."""
        if not isinstance(payload, dict):
            raise ValueError(f"breaker command must be a map, got {payload!r}")
        try:
            action = BreakerAction(payload.get("action"))
        except ValueError:
            raise ValueError(f"breaker command {payload!r}: 'action' must be 'open' or 'close'") from None
        targets = [k for k in ("branch", "bus") if k in payload]
        if len(targets) != 1:
            raise ValueError(f"breaker command {payload!r}: give exactly one of 'branch' or 'bus'")
        value = payload[targets[0]]
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"breaker command {payload!r}: {targets[0]} must be an integer")
        if targets[0] == "branch":
            if not 0 <= value < n_branch:
                raise ValueError(f"breaker command {payload!r}: branch {value} not in 0..{n_branch - 1}")
            return cls(action, branch=value)
        if value not in bus_numbers:
            raise ValueError(f"breaker command {payload!r}: bus {value} is not in the case")
        return cls(action, bus=value)
