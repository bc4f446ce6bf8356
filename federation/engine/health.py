"""Keeping a run honest: dead or silent federates, restarts, hangs, stalls and deadlocks.

:class:`Health` is a part the :class:`~federation.engine.coordinator.Coordinator` holds.  It
is given the objects it watches (plan, scheduler, launcher, settings, members) and reaches
the coordinator only through :class:`HealthHost`: its recorder, receiving a frame, sending
grants and rolling the federation back to a checkpoint.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from typing import Protocol

import zmq

from ..errors import FederateError, FederationError
from ..scenario.model import CoordinatorSpec, RestartPolicy
from .launcher import Launcher
from .member import Member
from .plan import Plan
from .recorder import Recorder
from .scheduler import Grant, Scheduler

__all__ = ["Health", "HealthHost"]

log = logging.getLogger("federation.engine.coordinator")


class HealthHost(Protocol):
    """What the health checks need of the coordinator."""

    @property
    def recorder(self) -> Recorder | None: ...

    def receive(self, timeout_ms: int) -> bool:
        """Wait up to ``timeout_ms`` for one frame and handle it; False when none came."""

    def send_grants(self, grants: list[Grant]) -> None:
        """Send grants (paced, batched, as the run does)."""

    def roll_back(self, restarted: Member) -> None:
        """The federation back to its last checkpoint (a federate restarted from it has rejoined)."""


class Health:
    """Process, heartbeat and progress checks of the coordinator loop."""

    STALL_REPORT = 30.0  # seconds without progress between two reports of who waits on whom

    def __init__(self, host: HealthHost, plan: Plan, scheduler: Scheduler, launcher: Launcher,
                 settings: CoordinatorSpec, members: list[Member], by_identity: dict[bytes, Member], *,
                 directory: Path, debug: bool) -> None:  # fmt: skip
        self.host, self.plan, self.scheduler, self.launcher, self.settings = host, plan, scheduler, launcher, settings
        self.members, self.by_identity = members, by_identity
        self.by_name = {m.name: m for m in members}
        self.directory, self.debug = directory, debug
        self.stall_gvt = -1
        self.stall_since = 0.0  # monotonic seconds: since when gvt has not moved (the paced loop resets it)
        self.stall_told = 0.0

    def __repr__(self) -> str:
        return f"<Health {len(self.members)} federates, {len(self.launcher.children)} processes>"

    @property
    def recorder(self) -> Recorder | None:
        return self.host.recorder

    def _send(self, grants: list[Grant]) -> None:
        self.host.send_grants(grants)

    def _receive(self, timeout_ms: int) -> bool:
        return self.host.receive(timeout_ms)

    def unreachable(self, member: Member, exc: zmq.ZMQError) -> None:
        """A send failed: the peer is gone.  Report how its process ended (or restart it) when it is ours."""
        child = self.launcher.children.get(member.name)
        if child is not None:
            try:
                child.process.wait(2.0)
            except subprocess.TimeoutExpired:
                pass
            self.check_processes()  # raises with the exit status, or restarts the federate
            if member.restarts and member.identity is None:
                return
        raise FederateError(member.name, f"cannot reach its process ({exc})", doing=member.doing) from exc

    EXIT_SETTLE = 0.5  # seconds to read what a process sent just before it exited

    def check_processes(self) -> None:
        exited = self.launcher.exited()
        if any(not self.by_name[name].said_bye for name, _ in exited):
            self._settle()  # its last frame (ERROR, BYE) may still be on its way: it says more than the exit code
        for name, code in exited:
            member = self.by_name[name]
            if member.said_bye:
                continue
            slot = self.scheduler.slots[member.index]
            when = self.plan.base.seconds(slot.granted) if slot.granted >= 0 else None
            how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            if self.may_restart(member):
                self._restart(member, f"process {how}")
                continue
            child = self.launcher.children[name]
            if child.group is not None:  # say whose process it was: a crash there ends every member
                others = [c.name for c in self.launcher.children.values() if c.group == child.group and c.name != name]
                how += f" (the worker process of group '{child.group}'" + (f", shared with {', '.join(others)})" if others else ")")
            tail = self.launcher.tail(name)
            detail = f"\n--- last lines of {child.log_path} ---\n{tail}" if tail else ""
            raise FederateError(name, f"process {how}{detail}", time=when, doing=member.doing)

    def _settle(self) -> None:
        """Handle the frames that arrive within EXIT_SETTLE s, stopping at the first quiet 50 ms.

        A federate that fails sends ERROR and exits; ZeroMQ has written the frame before the
        process ends, but the coordinator may notice the exit before its I/O thread has queued
        the frame.  Handling an ERROR frame raises the federate's own error, with its message.
        """
        deadline = time.monotonic() + self.EXIT_SETTLE
        while time.monotonic() < deadline and self._receive(50):
            pass

    def may_restart(self, member: Member) -> bool:
        spec = self.plan.spec(member.index)
        slot = self.scheduler.slots[member.index]
        return (spec.restart in (RestartPolicy.SCRATCH, RestartPolicy.CHECKPOINT) and member.restarts < spec.restart_limit
                and slot.group is None and member.name in self.launcher.children)  # fmt: skip

    def _restart(self, member: Member, why: str) -> None:
        """Start the federate again from scratch; it rejoins and is granted where the old one stopped."""
        member.restarts += 1
        slot = self.scheduler.slots[member.index]
        when = self.plan.base.seconds(max(slot.granted, 0))
        log.warning("federate '%s' %s at t=%g s; restarting %s (%d of %d)", member.name, why, when,
                    "from the last checkpoint" if self.plan.spec(member.index).restart is RestartPolicy.CHECKPOINT
                    else "from scratch",
                    member.restarts, self.plan.spec(member.index).restart_limit)  # fmt: skip
        assert self.recorder is not None
        self.recorder.meta(**{f"restart_{member.name}_{member.restarts}": f"t={when:g} s: {why}"})
        if member.identity is not None:
            self.by_identity.pop(member.identity, None)
        member.identity, member.declared, member.held = None, False, None
        member.doing = "restarting"
        slot.last_sent.clear()  # the new process starts from its defaults: send every input again
        old = self.launcher.children[member.name]
        self.launcher.spawn(member.name, old.argv, old.env, cwd=self.directory)

    def rejoined(self, member: Member) -> None:
        """A restarted federate has declared itself: repeat the grant its predecessor did not finish."""
        slot = self.scheduler.slots[member.index]
        log.info("federate '%s' rejoined after restart %d", member.name, member.restarts)
        if self.plan.spec(member.index).restart is RestartPolicy.CHECKPOINT:
            self.host.roll_back(member)
            return
        if slot.busy and member.last_grant is not None:
            self._send([self.scheduler.regrant(member.index, member.last_grant)])

    def check_hangs(self, now: float) -> None:
        if self.debug:
            return
        beat = self.settings.heartbeat
        for member in self.members:  # an idle federate pings every quarter heartbeat while it waits
            slot = self.scheduler.slots[member.index]
            spawned = member.name in self.launcher.children  # those are watched through their process
            if (not spawned and member.declared and not slot.busy and slot.next <= self.plan.stop
                    and now - member.last_heard > 2 * beat):  # fmt: skip
                raise FederateError(member.name, f"stopped answering: no heartbeat for {now - member.last_heard:.1f} s",
                                    time=self.plan.base.seconds(max(slot.granted, 0)), doing=member.doing)  # fmt: skip
        limit = self.settings.grant_timeout
        if limit is None:
            return
        for member in self.members:
            slot = self.scheduler.slots[member.index]
            if slot.busy and member.held is None and now - member.granted_at > limit:
                raise FederateError(member.name, f"no answer for {limit:g} s (grant timeout)\n"
                                    + self._explain_waits(now), time=self.plan.base.seconds(slot.granted),
                                    doing=member.doing)  # fmt: skip

    def _explain_waits(self, now: float) -> str:
        """Who waits on whom, and since when (wall time)."""
        lines = []
        for member in self.members:
            slot = self.scheduler.slots[member.index]
            if slot.busy:
                stopped = " (its process is stopped: SIGSTOP or a debugger)" if self.launcher.stopped(member.name) else ""
                lines.append(f"  {member.name} has been {member.doing} for {now - member.granted_at:.1f} s{stopped}")
        lines += [f"  {w}" for w in self.scheduler.waits() if " waits " in w]
        return "\n".join(lines)

    def report_stall(self, now: float) -> None:
        """Never wait silently: every STALL_REPORT s without progress, say who waits on whom."""
        gvt = self.scheduler.gvt()
        if gvt != self.stall_gvt:
            self.stall_gvt, self.stall_since, self.stall_told = gvt, now, now
            return
        if now - self.stall_told >= self.STALL_REPORT:
            self.stall_told = now
            limit = self.settings.grant_timeout
            end = (f"a step taking over {limit:g} s ends the run (grant_timeout)" if limit is not None and not self.debug
                   else "no grant timeout: the run waits as long as it takes")  # fmt: skip
            log.warning("no progress for %.0f s at t=%g s; %s:\n%s", now - self.stall_since,
                        self.plan.base.seconds(min(gvt, self.plan.stop)), end, self._explain_waits(now))  # fmt: skip

    def deadlock(self) -> None:
        """No federate is busy and none can be granted: fail the run, saying who waits on whom."""
        waits = self.scheduler.waits()
        raise FederationError("deadlock: no federate can advance\n  " + "\n  ".join(waits or ["(no waiters)"]))
