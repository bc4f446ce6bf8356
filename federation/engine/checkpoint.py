"""Checkpoints of a whole federation, and a run resumed from one (docs/what-if.md).

:class:`Checkpoints` is a part the :class:`~federation.engine.coordinator.Coordinator` holds; it
reaches the coordinator only through :class:`CheckpointHost`.  A checkpoint at tick ``T`` is
a consistent cut: the scheduler grants no tick at or after ``T`` (its ``barrier``) until
every federate is idle, so every step before ``T`` is done, none at or after it has begun,
no step is held for a decision, and every message sent for ``T`` or later waits in the
coordinator.  Then every federate is sent SAVE and answers STATE with its own state; the
coordinator adds its own (the scheduler's per-federate state, the signal histories, the
messages in flight, the records not yet written, the decision counter, the scenario) and
writes the whole to the store's ``checkpoints`` tables (:mod:`federation.results.store`), after
everything recorded before ``T``.

A resumed run starts new federate processes, sends each RESTORE with its state, puts the
scheduler back as it was, and grants on: since the run is deterministic, it records what
the uninterrupted run recorded after ``T``.

A *snapshot at a hold* (:meth:`Checkpoints.request_hold_snapshot`, for the forecasts of a
held decision) is the same cut taken while a step is held for a decision: nothing after
the held step's tick is granted, and once every federate but the held ones is idle, the cut
is at the federation's lower bound ``T`` (the held step's tick or earlier).  The held steps
are saved as they came (their DONE frames, gated messages included) with the decision
counter as it was before their proposals, so that a run restored from it proposes them
again, with the same ids, and a fork answers them as ``--answer`` says.
"""

from __future__ import annotations

import json
import logging
import pickle
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from .. import protocol
from ..decisions.gate import Decision, DecisionGate, Verdict
from ..errors import FederateError, FederationError, OutputError
from ..protocol import ErrorCode
from ..results.store import RunStore, Saved, copy_store
from ..scenario.model import CoordinatorSpec, RestartPolicy, Scenario
from ..timebase import NEVER
from .member import HeldStep, Member
from .plan import Plan
from .recorder import Recorder
from .scheduler import Grant, Scheduler

__all__ = ["CheckpointHost", "Checkpoints", "CheckpointTaken", "HoldSnapshot", "Resume", "FORMAT", "fork_store"]

log = logging.getLogger("federation.engine.coordinator")

FORMAT = 1
"""Version of the coordinator's pickled state; a store with another cannot be resumed by this code."""

_SLOT_STATE = ("last_sent", "next", "busy", "granted", "done", "pending", "grants", "outputs", "seq")
_GROUP_STATE = ("iteration", "tick", "reported", "values", "previous", "outputs", "messages_in", "messages_out",
                "residual")  # fmt: skip
STATE_TIMEOUT = 120.0
"""Wall seconds the federates have to save or restore their state when the run sets no grant timeout."""


@dataclass(frozen=True)
class Resume:
    """Where a resumed (or forked) run starts: a checkpoint read from a store."""

    store: Path
    saved: Saved
    scenario: Any = None  # a fork's scenario, when it differs from the one saved

    @property
    def coordinator(self) -> dict[str, Any]:
        state: dict[str, Any] = pickle.loads(self.saved.coordinator)
        if state.get("format") != FORMAT:
            raise FederationError(f"{self.store}: checkpoint format {state.get('format')} is not the one this "
                                  f"version reads ({FORMAT})")  # fmt: skip
        return state

    @classmethod
    def open(cls, store: Path, at: int | None = None) -> Resume:
        with RunStore(store, warn=False) as run:
            saved = run.checkpoint(at)
        if saved is None:
            where = "" if at is None else " at or before that time"
            raise OutputError(Path(store), f"has no checkpoint{where}: a run takes them with 'coordinator: "
                                           "{checkpoint: {every: 6 h}}' in its scenario, or on SIGUSR1")  # fmt: skip
        return cls(Path(store), saved)


def fork_store(parent: Path, claimed: Path, saved: Saved) -> None:
    """Copy the parent's store into the claimed (empty) file of a fork, naming the parent and the fork point.

    What the parent recorded from the checkpoint on is removed when the fork's recorder opens it.
    """
    copy_store(Path(parent), claimed, {"parent_store": str(Path(parent).resolve()),
                                                  "fork_tick": str(saved.tick), "fork_time": repr(saved.time)})


@dataclass(frozen=True)
class CheckpointTaken:
    """Figures of one checkpoint: for the log, the summary and bench/checkpoint.py."""

    tick: int
    time: float
    bytes: int  # federates' states and the coordinator's, as stored
    seconds: float  # wall time from the cut to the commit


@dataclass(frozen=True)
class HoldSnapshot:
    """What a snapshot at a hold gives the forecasts: the checkpoint, or why there is none."""

    saved: Saved | None  # None: no snapshot (``reason`` says why); the forecasts fall back to the last checkpoint
    reason: str = ""
    answers: tuple[tuple[int, str], ...] = ()  # proposals of the held steps already decided: (id, answer as --answer)
    seconds: float = 0.0  # wall time from the request to the commit


class CheckpointHost(Protocol):
    """What taking and restoring checkpoints needs of the coordinator."""

    messages: int  # the run's counters: saved with a checkpoint, restored with it
    samples: int
    decisions: int

    @property
    def recorder(self) -> Recorder | None: ...

    @property
    def forecasting(self) -> bool:
        """The run forecasts at held decisions (its forks start from a checkpoint when no snapshot can be taken)."""

    def send_grants(self, grants: list[Grant]) -> None:
        """Send grants (paced, batched, as the run does)."""

    def send_message(self, identity: bytes, message: protocol.Message) -> None:
        """Send one frame to a federate; raises FederateError when it cannot be reached."""

    def receive(self, timeout_ms: int) -> bool:
        """Wait up to ``timeout_ms`` for one frame and handle it; False when none came."""

    def refuse(self, identity: bytes, code: ErrorCode, text: str) -> None:
        """Count, log and answer a frame that is refused."""

    def check_processes(self) -> None:
        """Raise (or restart) when a federate process has exited."""

    def done(self, member: Member, frame: list[Any]) -> None:
        """Handle a DONE frame of ``member`` (a held step saved by a snapshot at a hold comes in again)."""


class Checkpoints:
    """Taking checkpoints (on a schedule, on demand) and restoring one at the start of a resumed run."""

    def __init__(self, host: CheckpointHost, plan: Plan, scheduler: Scheduler, members: list[Member],
                 settings: CoordinatorSpec, scenario: Scenario, gate: DecisionGate | None, *, resume: Resume | None,
                 debug: bool, fork_at: int | None = None) -> None:  # fmt: skip
        self.host, self.plan, self.scheduler, self.members = host, plan, scheduler, members
        self.settings, self.scenario, self.gate, self.resume, self.debug = settings, scenario, gate, resume, debug
        self.fork_at = fork_at  # take a checkpoint at this tick and end there (a fork replaying up to its point)
        every = settings.checkpoint
        self._every = max(1, self.plan.base.ticks(every)) if every else 0  # ticks between checkpoints (0: none)
        self._asked = False  # a checkpoint on demand (SIGUSR1, control endpoint) is pending
        self._waiting: dict[int, bytes | None] = {}  # federate index -> state, while a SAVE or RESTORE is out
        self._expected = -1  # the tick of the SAVE or RESTORE out
        self._answered: dict[int, bytes | None] = {}
        self.checkpoints_taken: list[CheckpointTaken] = []
        self.last_saved: Saved | None = None  # the last checkpoint taken (or resumed from), kept for a roll-back
        self.resumed_seconds = 0.0
        self._hold_wanted: list[Callable[[HoldSnapshot], None]] = []  # callers of request_hold_snapshot, waiting
        self._hold_barrier = NEVER  # the barrier before the request, put back once the snapshot is taken
        self._hold_asked_at = 0.0
        self._arm_barrier(self.plan.start)

    def __repr__(self) -> str:
        every = self.plan.base.seconds(self._every) if self._every else None
        return f"<Checkpoints every={every} taken={len(self.checkpoints_taken)} barrier={self.scheduler.barrier}>"

    @property
    def recorder(self) -> Recorder | None:
        return self.host.recorder

    def _send(self, grants: list[Grant]) -> None:
        self.host.send_grants(grants)

    def request_checkpoint(self) -> None:
        """Take a checkpoint at the next safe point (a signal handler or the control endpoint calls it)."""
        self._asked = True

    def _arm_barrier(self, after: int) -> None:
        """The next scheduled checkpoint tick after ``after`` becomes the scheduler's barrier (none: NEVER)."""
        barrier = NEVER
        if self._every:
            start = self.plan.start
            barrier = after + self._every - (after - start) % self._every
            if barrier >= self.plan.stop:
                barrier = NEVER  # a checkpoint at or after the stop time resumes nothing
        fork_at = self.fork_at
        if fork_at is not None and after < fork_at < barrier:
            barrier = fork_at  # a fork's replay ends with a checkpoint at its fork point (engine/fork.py)
        self.scheduler.barrier = barrier

    def asked_for(self) -> None:
        """A checkpoint on demand: at the first tick after every one granted so far."""
        if not self._asked:
            return
        self._asked = False
        sched = self.scheduler
        tick = max(max(s.granted for s in sched.slots), max(sched.batch_end.values(), default=-1), self.plan.start) + 1
        if tick >= self.plan.stop:
            log.info("checkpoint asked for at the end of the run: not taken")
            return
        if tick < sched.barrier:
            sched.barrier = tick
            log.info("checkpoint asked for: taken at t=%g s", self.plan.base.seconds(tick))

    def due(self) -> bool:
        """Called when no federate is busy and the run is not over: take the checkpoint if the barrier holds them."""
        sched = self.scheduler
        if sched.barrier >= NEVER or sched.gvt() < sched.barrier:
            return False
        self._take_checkpoint(sched.barrier)
        return True

    # ------------------------------------------------------------------ taking
    def _take_checkpoint(self, tick: int) -> None:
        started = time.perf_counter()
        self._write_before(tick)
        states = self._exchange(tick, [protocol.Save(tick) for _ in self.members], "saving its state")
        self.last_saved, taken = self._store(tick, started, self._coordinator_state(tick), states)
        log.info("checkpoint at t=%g s: %d federates, %.1f kB, %.3f s", taken.time, len(self.members),
                 taken.bytes / 1024, taken.seconds)  # fmt: skip
        if tick == self.fork_at:
            self.scheduler.stop = tick - 1  # nothing more to grant: the run ends at its fork point
            return
        self._arm_barrier(tick)
        self._grant_all()

    def _store(self, tick: int, started: float, state: dict[str, Any], states: dict[int, bytes | None]
               ) -> tuple[Saved, CheckpointTaken]:  # fmt: skip
        """Write the cut at ``tick`` -- the coordinator's ``state`` and each member's saved state -- into the
        store in one transaction; return it and its record (``started``: when taking it began)."""
        coordinator = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        saved = {m.name: states[m.index] or b"" for m in self.members}
        seconds = self.plan.base.seconds(tick)
        recorder = self.recorder
        assert recorder is not None
        with recorder._writing():
            recorder.db.add_checkpoint(tick, seconds, time.perf_counter() - started, coordinator, saved)
        recorder.commit()
        size = len(coordinator) + sum(len(s) for s in saved.values())
        taken = CheckpointTaken(tick, seconds, size, time.perf_counter() - started)
        self.checkpoints_taken.append(taken)
        return Saved(tick, seconds, coordinator, saved), taken

    def _write_before(self, tick: int) -> None:
        """Record every sample and message before ``tick``; those at or after it stay buffered (and saved)."""
        sched = self.scheduler
        samples = sorted((s for s in sched.samples if s[0] < tick), key=lambda s: (s[0], s[1], s[2]))
        messages = sorted((m for m in sched.messages if m.tick < tick), key=lambda m: (m.tick, m.sender, m.seq, m.target))
        sched.samples = [s for s in sched.samples if s[0] >= tick]
        sched.messages = [m for m in sched.messages if m.tick >= tick]
        self.host.samples += len(samples)
        assert self.recorder is not None
        self.recorder.write(samples, messages, record_messages=self.scenario.record.messages)

    def _exchange(self, tick: int, frames: Sequence[protocol.Save | protocol.Restore], doing: str) -> dict[int, bytes | None]:
        """Send each federate its SAVE or RESTORE frame; wait for every STATE answer."""
        self._expected = tick
        self._waiting = {m.index: None for m in self.members}
        answered: dict[int, bytes | None] = {}
        self._answered = answered
        for member, frame in zip(self.members, frames):
            member.doing = doing
            assert member.identity is not None
            self.host.send_message(member.identity, frame)
        limit = self.settings.grant_timeout or STATE_TIMEOUT
        deadline = time.monotonic() + limit
        while len(answered) < len(self.members):
            if not self.host.receive(int(self.settings.liveness * 1000)):
                self.host.check_processes()
                if self.recorder is not None:
                    self.recorder.beat()
            if time.monotonic() > deadline and not self.debug:
                late = next(m for m in self.members if m.index not in answered)
                raise FederateError(late.name, f"no STATE within {limit:g} s", time=self.plan.base.seconds(tick),
                                    doing=doing)  # fmt: skip
        self._waiting = {}
        for member in self.members:
            member.doing = "waiting for a grant"
        return answered

    def state(self, member: Member, state: protocol.State) -> None:
        """A STATE frame: the answer to the SAVE or RESTORE out."""
        if member.index not in self._waiting or state.tick != self._expected or member.index in self._answered:
            self.host.refuse(member.identity or b"", ErrorCode.OUT_OF_TURN,
                             f"{member.name}: STATE for tick {state.tick} when none was asked for")  # fmt: skip
            return
        self._answered[member.index] = state.state

    def _coordinator_state(self, tick: int) -> dict[str, Any]:
        sched = self.scheduler
        return {
            "format": FORMAT, "tick": tick, "scenario": replace(self.scenario, file=str(Path(self.scenario.file).resolve())),
            "slots": [{k: getattr(s, k) for k in _SLOT_STATE} for s in sched.slots],
            "histories": [(h.ticks, h.values, h.head) for h in _histories(sched)],
            "groups": [{k: getattr(g, k) for k in _GROUP_STATE} for g in sched.groups],
            "samples": sched.samples, "messages": sched.messages, "busy": sched.busy,
            "gate": None if self.gate is None else self.gate._next_id,
            "counters": {"messages": self.host.messages, "samples": self.host.samples, "decisions": self.host.decisions},
        }  # fmt: skip

    # ------------------------------------------------------------------ restoring
    def begin(self) -> list[Grant]:
        """The first grants: from the start, or -- a resumed run -- from its checkpoint."""
        resume = self.resume
        if resume is None and (self._rolls_back() or self._forecasts_need_start()):  # a checkpoint to go back to
            self.scheduler.barrier = self.plan.start
            self.scheduler.begin()
            self._take_checkpoint(self.plan.start)  # grants, once taken
            return []
        if resume is None:
            return list(self.scheduler.begin())
        started = time.perf_counter()
        state = resume.coordinator
        tick = resume.saved.tick
        self._restore_scheduler(state)
        missing = [m.name for m in self.members if m.name not in resume.saved.states]
        if missing:
            raise FederationError(f"{resume.store}: the checkpoint at t={resume.saved.time:g} s has no state for "
                                  f"{', '.join(missing)}")  # fmt: skip
        self._exchange(tick, [protocol.Restore(tick, resume.saved.states[m.name]) for m in self.members],
                       "restoring its state")  # fmt: skip
        self.resumed_seconds = time.perf_counter() - started
        log.info("resumed from the checkpoint at t=%g s in %.3f s", resume.saved.time, self.resumed_seconds)
        self.last_saved = resume.saved
        self._arm_barrier(tick)
        first = list(self.scheduler.grant_ready(range(len(self.scheduler.slots))))
        for index, frame in state.get("held", ()):  # a snapshot at a hold: the held steps come in again
            self.host.done(self.members[index], list(frame))
        return first

    def _restore_scheduler(self, state: dict[str, Any]) -> None:
        sched = self.scheduler
        for slot, saved in zip(sched.slots, state["slots"], strict=True):
            for key, value in saved.items():
                setattr(slot, key, value)
        for history, (ticks, values, head) in zip(_histories(sched), state["histories"], strict=True):
            history.ticks, history.values, history.head = ticks, values, head
        for group, saved in zip(sched.groups, state["groups"], strict=True):
            for key, value in saved.items():
                setattr(group, key, value)
        sched.samples, sched.messages, sched.busy = state["samples"], state["messages"], state["busy"]
        if self.gate is not None and state["gate"] is not None:
            self.gate._next_id = state["gate"]
        counters = state["counters"]
        host = self.host
        host.messages, host.samples, host.decisions = counters["messages"], counters["samples"], counters["decisions"]

    # ------------------------------------------------------------------ a snapshot at a hold (forecasts)
    def request_hold_snapshot(self, tick: int, done: Callable[[HoldSnapshot], None]) -> None:
        """Snapshot the federation while a step at ``tick`` is held for a decision; ``done`` gets it (or why not)
        in the loop.

        Nothing after ``tick`` is granted until the snapshot is taken, which is as soon as every
        federate but the held ones is idle (the steps under way finish first).
        """
        sched = self.scheduler
        if not self._hold_wanted:
            self._hold_barrier = sched.barrier
            self._hold_asked_at = time.perf_counter()
        sched.barrier = min(sched.barrier, tick + 1)
        self._hold_wanted = [*self._hold_wanted, done]

    def hold_snapshot_due(self) -> None:
        """Each turn of a run with decisions: take the snapshot asked for once only held steps are open."""
        if not self._hold_wanted:
            return
        sched = self.scheduler
        held = [(m, m.held) for m in self.members if m.held is not None]
        if held and sched.busy > len(held):
            return  # steps under way: let them finish (they stop at the barrier)
        wanted, self._hold_wanted = self._hold_wanted, []
        sched.barrier = self._hold_barrier
        problem = "the decision was answered before the federation came to rest" if not held else self._hold_problem(held)
        if problem:
            log.info("no snapshot at the hold: %s", problem)
            snapshot = HoldSnapshot(None, problem)
        else:
            snapshot = self._take_hold_snapshot(held)
        for done in wanted:
            done(snapshot)
        self._grant_all()

    def _hold_problem(self, held: list[tuple[Member, HeldStep]]) -> str:
        """Why a run restored from a snapshot now could not propose the held steps again with the same ids."""
        gate = self.gate
        assert gate is not None  # a step is held for a decision only when the run has a gate
        ids = {pid for _, step in held for pid in step.waiting}
        first = min(ids)
        others = sorted({*(int(r["id"]) for r in gate.history), *gate.pending} - ids)
        later = [pid for pid in others if pid > first]
        if later:
            return (f"decision {later[0]} was proposed after decision {first} outside the held steps "
                    "(a snapshot now would not propose it again)")  # fmt: skip
        return ""

    def _take_hold_snapshot(self, held: list[tuple[Member, HeldStep]]) -> HoldSnapshot:
        started = time.perf_counter()
        sched = self.scheduler
        tick = min(sched.gvt(), self.plan.stop)  # at or before every held step's tick; everything before it is final
        self._write_before(tick)
        doing = {m.index: m.doing for m, _ in held}
        states = self._exchange(tick, [protocol.Save(tick) for _ in self.members], "saving its state")
        for member, _ in held:
            member.doing = doing[member.index]
        order = sorted(held, key=lambda pair: min(pair[1].waiting))
        state = self._coordinator_state(tick)
        state["gate"] = min(min(step.waiting) for _, step in order)  # proposed again, with the same ids
        state["held"] = [(m.index, list(step.frame)) for m, step in order]
        saved, taken = self._store(tick, started, state, states)
        answers = tuple((pid, _as_answer(d)) for _, step in order for pid, d in sorted(step.decisions.items()))
        waited = time.perf_counter() - self._hold_asked_at
        log.info("snapshot at the hold: t=%g s, %d federates, %d held step(s), %.1f kB, %.3f s (%.3f s after the "
                 "request)", taken.time, len(self.members), len(order), taken.bytes / 1024,
                 time.perf_counter() - started, waited)  # fmt: skip
        return HoldSnapshot(saved, "", answers, waited)

    # ------------------------------------------------------------------ restart: from-checkpoint
    def _forecasts_need_start(self) -> bool:
        """Forecasts fork from the last checkpoint: without a schedule, the run takes one at its start."""
        return self.host.forecasting and not self._every

    def _rolls_back(self) -> bool:
        return any(self.plan.spec(m.index).restart is RestartPolicy.CHECKPOINT for m in self.members)

    def roll_back(self, restarted: Member) -> None:
        """A federate restarted from its checkpoint has rejoined: the whole federation goes back to it.

        No new step is granted; the steps under way are let finish (their results are dropped
        with everything else after the checkpoint); the store loses its rows from the
        checkpoint's tick on; every federate takes up its saved state; the run goes on.
        """
        saved = self.last_saved
        assert saved is not None  # one is taken at the start of a run with such a federate
        sched = self.scheduler
        sched.barrier = -1  # grant nothing while the others finish their steps
        for member in self.members:
            member.held = None  # a step waiting for a decision is rolled back too
        def busy() -> list[Member]:
            return [m for m in self.members if m is not restarted and sched.slots[m.index].busy
                    and m.identity is not None]  # fmt: skip

        deadline = time.monotonic() + (self.settings.grant_timeout or STATE_TIMEOUT)
        while busy() and time.monotonic() < deadline:
            if not self.host.receive(int(self.settings.liveness * 1000)):
                self.host.check_processes()
        if busy():
            late = busy()[0]
            raise FederateError(late.name, "did not finish its step for the roll-back to the last checkpoint",
                                time=self.plan.base.seconds(saved.tick), doing=late.doing)  # fmt: skip
        self._restore_scheduler(pickle.loads(saved.coordinator))
        assert self.recorder is not None
        with self.recorder._writing():
            self.recorder.db.discard_after(saved.tick)
        self._exchange(saved.tick, [protocol.Restore(saved.tick, saved.states[m.name]) for m in self.members],
                       "restoring its state")  # fmt: skip
        log.warning("federate '%s' restarted: the federation rolled back to its checkpoint at t=%g s",
                    restarted.name, saved.time)  # fmt: skip
        self._arm_barrier(saved.tick)
        self._grant_all()

    def _grant_all(self) -> None:
        grants = self.scheduler.grant_ready(range(len(self.scheduler.slots)))
        if grants:
            self._send(grants)


def _as_answer(decision: Decision) -> str:
    """A decision already taken in a held step, as ``--answer`` gives it to a fork (edit: the final payload)."""
    if decision.verdict is Verdict.EDIT:
        final = decision.payload if isinstance(decision.payload, dict) else {}
        return "edit:" + json.dumps(final, sort_keys=True)
    return str(decision.verdict.value)


def _histories(sched: Any) -> list[Any]:
    """Every signal history of the scheduler once, in the order the plan builds them."""
    seen: dict[int, Any] = {}
    for slot in sched.slots:
        for history in slot.history:
            if history is not None:
                seen.setdefault(id(history), history)
        for binding in slot.bindings:
            seen.setdefault(id(binding.history), binding.history)
    return list(seen.values())
