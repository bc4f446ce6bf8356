"""Live sources in the coordinator: WAKE frames and the record of every external sample.

:class:`LiveSources` is a part the :class:`~federation.engine.coordinator.Coordinator` holds;
it reaches the coordinator only through :class:`LiveHost`.  The time rule
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
from typing import Any, Protocol

from ..errors import FederateError
from ..protocol import EXTERNAL
from .member import Member
from .pacer import Pacer
from .plan import Plan
from .recorder import Recorder
from .replay import Replay
from .scheduler import Grant, Scheduler

__all__ = ["ExternalRow", "LiveHost", "LiveSources"]

log = logging.getLogger("federation.engine.coordinator")

ExternalRow = tuple[int, int, int, str, float, float, float, Any]
"""(tick, federate index, order in its step, output, stamp s, arrival POSIX s, lateness s, value)."""


class LiveHost(Protocol):
    """What the live sources need of the coordinator."""

    @property
    def recorder(self) -> Recorder | None: ...

    def send_grants(self, grants: list[Grant]) -> None:
        """Send grants (paced, batched, as the run does)."""


class LiveSources:
    """WAKE frames of live sources, and the external samples' record."""

    def __init__(self, host: LiveHost, plan: Plan, scheduler: Scheduler, pacer: Pacer | None, replay: Replay | None,
                 run_id: str) -> None:  # fmt: skip
        self.host, self.plan, self.scheduler, self.pacer, self.replay, self.run_id = host, plan, scheduler, pacer, replay, run_id
        self.external: list[ExternalRow] = []
        self._live: list[int] = []

    def __repr__(self) -> str:
        return f"<LiveSources {len(self._live)} live, {len(self.external)} samples buffered>"

    @property
    def recorder(self) -> Recorder | None:
        return self.host.recorder

    def _send(self, grants: list[Grant]) -> None:
        self.host.send_grants(grants)

    def welcome(self, index: int, welcome: dict[str, Any]) -> None:
        """What a live run adds to a federate's WELCOME."""
        welcome["run_id"] = self.run_id
        if self.pacer is not None:
            welcome["pace"] = self.pacer.factor
        replay = self.replay
        if replay is not None:
            welcome["replay"] = True
            replay.substitute(self.plan.names[index], welcome)

    def declared(self, member: Member) -> None:
        """``member`` declared itself a live source."""
        if self.pacer is None:
            raise FederateError(member.name, "is a live source: the run must be paced to the wall clock "
                                             "(time: {start: now, pace: F} in the scenario, or federation run --pace F)",
                                doing="joining")  # fmt: skip
        self._live.append(member.index)

    def begin(self) -> None:
        """All joined: mark the live sources; say in the store which they are."""
        replay = self.replay
        if self.recorder is None:
            return
        if replay is not None:
            self.recorder.meta(replay_of=str(replay.store), live_sources=json.dumps(list(replay.live)),
                               run_id=self.run_id)  # fmt: skip
        elif self._live:
            self.scheduler.set_live(self._live)
            self.recorder.meta(run_id=self.run_id, live_sources=json.dumps([self.plan.names[i] for i in self._live]))
            log.info("%d live source(s): %s", len(self._live), ", ".join(self.plan.names[i] for i in self._live))

    @property
    def waiting(self) -> bool:
        """Live sources wait for the clock: until it passes the stop time, no federate busy is no deadlock."""
        return bool(self.scheduler.live) and self.scheduler.limit <= self.scheduler.stop

    def wake(self, member: Member, tick: int) -> None:
        """A WAKE frame: the live source has a sample for ``tick``."""
        grants = self.scheduler.wake(member.index, tick)
        if grants:
            self._send(grants)

    # ------------------------------------------------------------------ the record
    def record(self, member: Member, tick: int, extras: dict[str, Any]) -> None:
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

    def flush(self, final: bool) -> None:
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
        assert self.recorder is not None
        self.recorder.external(ready)
