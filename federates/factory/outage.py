"""An outage: an outside cause that holds machines while it lasts and for a while after.

The line's power supply and the flooding of each machine's site are both outages:

* power: the cause is a de-energized supply bus; recovery is the restart delay;
* flood: the cause is water above the machine's threshold; recovery is the repair time,
  which starts when the water falls back below the threshold.

If the cause returns during recovery, recovery is abandoned and starts again from
zero the next time the cause clears.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

import simpy

from .machine import Hold, Machine

__all__ = ["Outage"]


class Outage:
    """Holds ``machines`` for ``reason`` while the cause is active, plus ``recovery`` seconds."""

    def __init__(
        self, env: simpy.Environment, machines: Sequence[Machine], reason: Hold, recovery: float
    ) -> None:
        self.reason = reason
        self.holding = False
        self._env = env
        self._machines = tuple(machines)
        self._recovery_time = recovery
        self._recovery: simpy.Process | None = None

    @property
    def recovering(self) -> bool:
        return self._recovery is not None

    def update(self, active: bool) -> None:
        """Tell the outage whether its cause is present now."""
        if active:
            if self._recovery is not None:
                self._recovery.interrupt()
                self._recovery = None
            if not self.holding:
                self.holding = True
                for machine in self._machines:
                    machine.hold(self.reason)
        elif self.holding and self._recovery is None:
            self._recovery = self._env.process(self._recover())

    def _recover(self) -> Generator[simpy.Event, object, None]:
        try:
            yield self._env.timeout(self._recovery_time)
        except simpy.Interrupt:
            return
        self._recovery = None
        self.holding = False
        for machine in self._machines:
            machine.release(self.reason)

    def __repr__(self) -> str:
        state = "recovering" if self.recovering else ("holding" if self.holding else "clear")
        return f"<Outage {self.reason.value} {state}>"
