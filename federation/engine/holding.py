"""Holding a federate's step while its gated messages wait for decisions (level 4).

A mixin of :class:`federation.engine.coordinator.Coordinator`: a DONE carrying messages of a
class that needs approval becomes proposals; the step stays open (the sender stays busy,
so everything depending on it waits at that instant) until every proposal is decided.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import zmq

from ..decisions.gate import Decision, Verdict

__all__ = ["DecisionHolds", "HeldStep"]

log = logging.getLogger("federation.engine.coordinator")


@dataclass
class HeldStep:
    """A DONE whose gated messages wait for decisions."""

    frame: list[Any]
    waiting: dict[int, int]  # proposal id -> index in the frame's message list
    decisions: dict[int, Decision] = field(default_factory=dict)


class DecisionHolds:
    """Proposals out of DONE frames, decisions back into the scheduler."""

    gate: Any
    scheduler: Any
    plan: Any
    members: Any
    recorder: Any
    sock: Any
    options: Any
    settings: Any
    decisions: int
    forecasts: Any  # federation.engine.forecast.Forecasts, or None
    _wait_ms: int
    _send: Any  # the coordinator's methods this mixin calls
    _report_rejections: Any
    _drain: Any
    _hold_snapshot_due: Any

    def _hold(self, member: Any, frame: list[Any]) -> bool:
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

    def _release(self, member: Any) -> None:
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
            self._report_rejections()
        if grants:
            self._send(grants)

    def _record_decision(self, member: Any, tick: int, message: list[Any], decision: Decision) -> dict[str, Any]:
        """Record the decision; return the record a delivered message carries (DecisionRecord.to_json)."""
        assert self.recorder is not None and self.gate is not None
        self.decisions += 1
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

    def _pump_gate(self) -> None:
        gate = self.gate
        assert gate is not None
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        for extra in gate.sockets:
            poller.register(extra, zmq.POLLIN)
        ready = dict(poller.poll(self._wait_ms))  # the liveness interval, or less when a paced tick is due
        if self.sock in ready:
            self._drain()
        if gate.control is not None and gate.control in ready:
            gate.serve_control()
        gate.expire()
        if self.forecasts is not None:
            self._hold_snapshot_due()
            self.forecasts.poll()
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
