"""Holding a federate's step while its gated messages wait for decisions (level 4).

:class:`DecisionHolds` is a part the :class:`~federation.engine.coordinator.Coordinator` holds
when the scenario has a ``decisions:`` section: a DONE carrying messages of a class that needs
approval becomes proposals; the step stays open (the sender stays busy, so everything
depending on it waits at that instant) until every proposal is decided.  It reaches the
coordinator only through :class:`HoldsHost`.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import zmq

from ..decisions.gate import Decision, DecisionGate, Verdict
from .forecast import Forecasts
from .member import HeldStep, Member
from .plan import Plan
from .recorder import Recorder
from .scheduler import Grant, Scheduler

__all__ = ["DecisionHolds", "HeldStep", "HoldsHost"]

log = logging.getLogger("federation.engine.coordinator")


class HoldsHost(Protocol):
    """What the decision holds need of the coordinator."""

    decisions: int  # decisions recorded in this run
    wait_ms: int  # how long the loop may wait for a frame now (the paced loop lowers it)

    @property
    def recorder(self) -> Recorder | None: ...

    @property
    def forecasts(self) -> Forecasts | None: ...

    def send_grants(self, grants: list[Grant]) -> None:
        """Send grants (paced, batched, as the run does)."""

    def report_rejections(self) -> None:
        """Refuse what the scheduler rejected from the last DONE."""

    def drain(self) -> None:
        """Handle the frames already queued, without waiting."""

    def hold_snapshot_due(self) -> None:
        """Take the snapshot the forecasts asked for at a hold, once only held steps are open."""


class DecisionHolds:
    """Proposals out of DONE frames, decisions back into the scheduler."""

    def __init__(self, host: HoldsHost, gate: DecisionGate, plan: Plan, scheduler: Scheduler, members: list[Member],
                 sock: zmq.Socket[bytes]) -> None:  # fmt: skip
        self.host, self.gate, self.plan, self.scheduler, self.members, self.sock = host, gate, plan, scheduler, members, sock

    def __repr__(self) -> str:
        return f"<DecisionHolds {sum(m.held is not None for m in self.members)} held, {self.host.decisions} decided>"

    @property
    def recorder(self) -> Recorder | None:
        return self.host.recorder

    def _send(self, grants: list[Grant]) -> None:
        self.host.send_grants(grants)

    def hold(self, member: Member, frame: list[Any]) -> bool:
        """Turn gated messages into proposals; hold the step if any is undecided."""
        assert self.gate is not None
        slot = self.scheduler.slots[member.index]
        tick, messages = frame[1], frame[4]
        held = HeldStep(frame, {})
        for i, (endpoint, payload, at, _to) in enumerate(messages):
            message_class = f"{member.name}.{endpoint}"
            if not self.gate.spec.gated(message_class):
                continue
            targets = tuple(f"{self.members[r].name}.{ep}" for r, ep, _ in slot.routes.get(endpoint, ()))
            when = self.plan.base.seconds(tick if at is None else at)
            pid, decision = self.gate.propose(tick, when, message_class, payload, targets)
            held.waiting[pid] = i
            if decision is not None:
                held.decisions[pid] = decision
        if not held.waiting:
            return False
        member.held = held
        member.doing = f"waiting for a decision at t={self.plan.base.seconds(tick):g} s"
        log.info("federate '%s' at t=%g s: step held for proposal(s) %s", member.name, self.plan.base.seconds(tick),
                 ", ".join(str(pid) for pid in held.waiting))  # fmt: skip
        self._release(member)
        return True

    def _release(self, member: Member) -> None:
        """Finish a held step once every proposal in it is decided."""
        held = member.held
        if held is None or len(held.decisions) < len(held.waiting):
            return
        member.held = None
        _, tick, iteration, outputs, messages, next_tick = held.frame
        final = list(messages)
        for pid, index in held.waiting.items():
            decision = held.decisions[pid]
            record = self._record_decision(member, tick, messages[index], decision)
            final[index] = None if decision.verdict is Verdict.REJECT else [messages[index][0], decision.payload,
                                                                            *messages[index][2:4], record]  # fmt: skip
        member.doing = "waiting for a grant"
        grants = self.scheduler.done(member.index, tick, iteration, outputs, [m for m in final if m is not None], next_tick)
        if self.scheduler.rejected:
            self.host.report_rejections()
        if grants:
            self._send(grants)

    def _record_decision(self, member: Member, tick: int, message: list[Any], decision: Decision) -> dict[str, Any]:
        """Record the decision; return the record a delivered message carries (DecisionRecord.to_json)."""
        assert self.recorder is not None and self.gate is not None
        self.host.decisions += 1
        slot = self.scheduler.slots[member.index]
        targets = ", ".join(f"{self.members[r].name}.{ep}" for r, ep, _ in slot.routes.get(message[0], ()))
        verdict = {Verdict.APPROVE: "approved", Verdict.EDIT: "edited", Verdict.REJECT: "rejected"}[decision.verdict]
        decided_at = decision.decided_at or _utc_now()
        source = f"{member.name}.{message[0]}"
        rowid = self.recorder.decision({"tick": tick, "time": self.plan.base.seconds(tick), "source": source,
                                        "target": targets, "proposal": message[1], "verdict": verdict,
                                        "decided_by": decision.decided_by, "final": decision.payload,
                                        "note": decision.note, "decided_at": decided_at})  # fmt: skip
        log.info("decision %d at t=%g s: %s.%s %s by %s", decision.proposal, self.plan.base.seconds(tick), member.name,
                 message[0], verdict, decision.decided_by)  # fmt: skip
        return {"id": rowid, "verdict": decision.verdict.value, "decided_by": decision.decided_by,
                "decided_at": decided_at, "class": source}

    def pump(self) -> None:
        """One turn of the loop of a run with decisions: frames, the control endpoint, answers."""
        gate = self.gate
        assert gate is not None
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        for extra in gate.sockets:
            poller.register(extra, zmq.POLLIN)
        ready = dict(poller.poll(self.host.wait_ms))  # the liveness interval, or less when a paced tick is due
        if self.sock in ready:
            self.host.drain()
        if gate.control is not None and gate.control in ready:
            gate.serve_control()
        gate.expire()
        forecasts = self.host.forecasts
        if forecasts is not None:
            self.host.hold_snapshot_due()
            forecasts.poll()
        while not gate.decided.empty():
            decision = gate.decided.get()
            for member in self.members:
                if member.held is not None and decision.proposal in member.held.waiting:
                    member.held.decisions[decision.proposal] = decision
                    self._release(member)
                    break


def _utc_now() -> str:
    """Now, ISO-8601 in UTC with milliseconds (``2026-12-02T14:03:11.250Z``): when a decision was recorded."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
