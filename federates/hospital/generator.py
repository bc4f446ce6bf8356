"""A backup generator with a fuel tank counted in hours of autonomy.

The generator burns one hour of fuel per hour of running, whatever the load.  It runs
when started (the grid is out) and there is fuel; it stops when told (the grid is
back) or when the tank runs dry, and then calls ``on_empty`` so that the owner can
react to the loss of backup power at that very instant.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import simpy

__all__ = ["BackupGenerator"]


class BackupGenerator:
    """Fuel in hours; ``tank`` is the capacity and the initial level."""

    def __init__(self, env: simpy.Environment, tank: float, on_empty: Callable[[], None]) -> None:
        if not tank >= 0:
            raise ValueError(f"generator tank must be >= 0 h, got {tank!r}")
        self.tank = tank
        self.running = False
        self._env = env
        self._on_empty = on_empty
        self._fuel = tank  # h, at ``_since``
        self._since = env.now
        self._burner: simpy.Process | None = None

    @property
    def fuel(self) -> float:
        """Fuel left now (h of autonomy)."""
        if not self.running:
            return self._fuel
        return max(0.0, self._fuel - (self._env.now - self._since) / 3600.0)

    def start(self) -> None:
        """Run from now on if there is fuel (no effect when running or empty)."""
        if self.running or self._fuel <= 0.0:
            return
        self.running = True
        self._burn_from_now(self._fuel)

    def stop(self) -> None:
        """Stop now (no effect when stopped)."""
        if not self.running:
            return
        self._fuel = self.fuel
        self.running = False
        self._cancel_burn()

    def refuel(self, hours: float) -> None:
        """Add ``hours`` of autonomy now, up to the tank's capacity."""
        if not hours >= 0:
            raise ValueError(f"refuel amount must be >= 0 h, got {hours!r}")
        level = min(self.tank, self.fuel + hours)
        if self.running:
            self._cancel_burn()
            self._burn_from_now(level)
        else:
            self._fuel = level

    def _burn_from_now(self, level: float) -> None:
        self._fuel, self._since = level, self._env.now
        self._burner = self._env.process(self._burn(level * 3600.0))

    def _cancel_burn(self) -> None:
        if self._burner is not None:
            self._burner.interrupt()
            self._burner = None

    def _burn(self, seconds: float) -> Generator[simpy.Event, object, None]:
        try:
            yield self._env.timeout(seconds)
        except simpy.Interrupt:
            return
        self._burner = None
        self._fuel, self._since = 0.0, self._env.now
        self.running = False
        self._on_empty()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<BackupGenerator {state} fuel={self.fuel:.3g}/{self.tank:g} h>"
