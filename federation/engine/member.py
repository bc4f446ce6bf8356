"""A federate as the coordinator sees it from its socket: identity, what it is doing, its grants.

The :class:`~federation.engine.coordinator.Coordinator` holds one per federate; its parts
(health checks, decision holds, pacing, live sources, checkpoints) read and change them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..decisions.gate import Decision
from ..timebase import TimeBase
from .scheduler import Grant

__all__ = ["HeldStep", "Member", "STEP_WINDOW"]

STEP_WINDOW = 100  # steps whose durations a member keeps (the console's step-time figures)


@dataclass
class HeldStep:
    """A DONE whose gated messages wait for decisions."""

    frame: list[Any]
    waiting: dict[int, int]  # proposal id -> index in the frame's message list
    decisions: dict[int, Decision] = field(default_factory=dict)


@dataclass
class Member:
    """A federate seen from the socket side."""

    index: int
    name: str
    base: TimeBase  # to say a grant's time in seconds
    identity: bytes | None = None
    declared: bool = False
    said_bye: bool = False
    granted_at: float = 0.0  # monotonic time of the last grant
    activity: str = "starting"
    stepping: Grant | None = None  # the grant out while it steps; formatted lazily

    @property
    def doing(self) -> str:
        """What the federate is doing, for messages (built only when someone asks)."""
        grant = self.stepping
        if grant is None:
            return self.activity
        t = self.base.seconds(grant.tick)
        if self.steps:
            last = self.base.seconds(self.steps[-1])
            return f"stepping to t={t:g}..{last:g} s"  # the steps of one STEPS frame
        return f"stepping to t={t:g} s" + (f" (iteration {grant.iteration})" if grant.iteration else "")

    @doing.setter
    def doing(self, text: str) -> None:
        self.activity, self.stepping = text, None

    held: HeldStep | None = None  # a step held for decisions
    last_heard: float = 0.0  # monotonic time of the last frame from it
    pid: int = 0  # as the federate reported it
    restarts: int = 0
    last_grant: Grant | None = None
    batch: str | None = None  # its worker group, when the worker asked for batched steps (GRANTS/DONES)
    steps_ok: bool = False  # its HELLO said it answers STEPS frames, and it may be sent them
    steps: list[int] = field(default_factory=list)  # the ticks of the STEPS frame out; empty: none
    step_cost: float = 0.0  # wall seconds per step, measured (0: not yet)
    plain: int = 0  # plain grants sent while STEPS frames were possible (the first ones measure the step)
    batches: int = 0  # STEPS frames sent
    last_count: int = 1  # steps in the last grant sent (1: a plain GRANT)
    step_times: deque[float] = field(default_factory=lambda: deque(maxlen=STEP_WINDOW))  # grant -> DONE, wall s
    steps_timed: int = 0  # durations taken so far (step_times keeps the latest STEP_WINDOW)

    def timed(self, seconds: float) -> None:
        """A step's duration as the coordinator sees it: from its grant to its DONE (the console shows them)."""
        self.step_times.append(seconds)
        self.steps_timed += 1
