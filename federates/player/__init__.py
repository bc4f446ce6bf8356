"""The time-series player: a CSV file or an earlier run's store played as outputs (docs/live.md)."""

from __future__ import annotations

from .federate import Player

__all__ = ["Player"]
