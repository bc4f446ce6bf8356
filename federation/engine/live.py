"""Live sources in the coordinator: WAKE frames and the record of every external sample.

A mixin of :class:`federation.engine.coordinator.Coordinator`.  The time rule
(DESIGN.md, "Live operation"; docs/live.md):

* a live source runs only in a paced run, where no tick is granted before its wall-clock
  instant (:mod:`federation.engine.pacer`), so the ticks still open are those to come;
* a sample stamped ``s`` that arrives while ``s`` is still open (no federate its outputs
  reach has been granted ``s``) is applied at ``s``: the source's WAKE lowers its next
  tick to ``s``; a late one is applied at the first open tick; the past is never rewritten;
* every sample a step applied comes back in that step's DONE (extras ``external``) and is
  written to the store's ``external_samples`` table with its stamp, its arrival (wall
  clock), the tick it was applied at and its lateness -- what ``federation replay`` reads.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..errors import FederateError
from ..protocol import EXTERNAL

__all__ = ["ExternalRow", "LiveSources"]

log = logging.getLogger("federation.engine.coordinator")

ExternalRow = tuple[int, int, int, str, float, float, float, Any]
"""(tick, federate index, order in its step, output, stamp s, arrival POSIX s, lateness s, value)."""


class LiveSources:
    """WAKE frames of live sources, and the external samples' record."""

    scenario: Any
    options: Any
    plan: Any
    scheduler: Any
    recorder: Any
    pacer: Any
    run_id: str
    _send: Any

    external: list[ExternalRow]

    def _live_setup(self) -> None:
        self.external = []
        self._live: list[int] = []

    def _live_welcome(self, index: int, welcome: dict[str, Any]) -> None:
        welcome["run_id"] = self.run_id
        if self.pacer is not None:
            welcome["pace"] = self.pacer.factor
        replay = self.options.replay
        if replay is not None:
            welcome["replay"] = True
            replay.substitute(self.plan.names[index], welcome)

    def _declared_live(self, member: Any) -> None:
        if self.pacer is None:
            raise FederateError(member.name, "is a live source: the run must be paced to the wall clock "
                                             "(time: {start: now, pace: F} in the scenario, or federation run --pace F)",
                                doing="joining")  # fmt: skip
        self._live.append(member.index)

    def _live_begin(self) -> None:
        """All joined: mark the live sources; say in the store which they are."""
        replay = self.options.replay
        if self.recorder is None:
            return
        if replay is not None:
            self.recorder.meta(replay_of=str(replay.store), live_sources=json.dumps(list(replay.live)),
                               run_id=self.run_id)  # fmt: skip
        elif self._live:
            self.scheduler.set_live(self._live)
            self.recorder.meta(run_id=self.run_id, live_sources=json.dumps([self.plan.names[i] for i in self._live]))
            log.info("%d live source(s): %s", len(self._live), ", ".join(self.plan.names[i] for i in self._live))

    def _deadlock(self) -> None:
        """Live sources wait for the clock: until it passes the stop time, the run is not stuck."""
        if self.scheduler.live and self.scheduler.limit <= self.scheduler.stop:
            return
        super()._deadlock()  # type: ignore[misc]

    def _wake(self, member: Any, tick: int) -> None:
        grants = self.scheduler.wake(member.index, tick)
        if grants:
            self._send(grants)

    # ------------------------------------------------------------------ the record
    def _external(self, member: Any, tick: int, extras: dict[str, Any]) -> None:
        """The samples a step applied (DONE extras): kept for the store, in the order the step applied them."""
        samples = extras.get(EXTERNAL)
        if not samples:
            return
        names = self.plan.declarations[member.index].outputs
        t = self.plan.base.seconds(tick)
        rows = self.external
        for order, (output, stamp, arrival, value) in enumerate(samples):
            if output >= len(names):
                raise FederateError(member.name, f"DONE names output index {output} for an external sample; "
                                                 f"it declared {len(names)} outputs", time=t)  # fmt: skip
            rows.append((tick, member.index, order, names[output].name, stamp, arrival, t - stamp, value))

    def _flush_external(self, final: bool) -> None:
        """Write the rows no later step can precede, in (tick, federate, order) order: the same for the same run."""
        rows = self.external
        if final:
            ready, self.external = rows, []
        else:
            horizon = self.scheduler.gvt()
            ready = [r for r in rows if r[0] < horizon]
            if not ready:
                return
            self.external = [r for r in rows if r[0] >= horizon]
        ready.sort(key=lambda r: (r[0], r[1], r[2]))
        self.recorder.external(ready)
