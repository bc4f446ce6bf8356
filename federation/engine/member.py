"""A federate as the coordinator sees it from its socket: identity, what it is doing, its grants.

The :class:`~federation.engine.coordinator.Coordinator` holds one per federate; its parts
(health checks, decision holds, pacing, live sources, checkpoints) read and change them.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..decisions.gate import Decision
from ..timebase import TimeBase
from .scheduler import Grant

__all__ = ["HeldStep", "Member", "STEP_WINDOW", "step_figures"]

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
    step_total: float = 0.0  # of every duration taken (wall s)
    step_longest: float = 0.0

    def timed(self, seconds: float) -> None:
        """A step's duration as the coordinator sees it: from its grant to its DONE (the console shows them)."""
        self.step_times.append(seconds)
        self.steps_timed += 1
        self.step_total += seconds
        if seconds > self.step_longest:
            self.step_longest = seconds

    def step_summary(self) -> dict[str, Any]:
        """The run's step times, kept in the store when it ends (the ``step_times`` metadata, docs/console.md):
        ``steps`` timed, their ``mean`` and the ``longest`` over the whole run; ``p50``, ``p99`` and ``max``
        over the latest ``window`` steps (the figures the console showed last); the federate's ``restarts``."""
        n = self.steps_timed
        figures = step_figures(self.step_times, n)
        return {"steps": n, "mean": self.step_total / n if n else None, "longest": self.step_longest if n else None,
                "p50": figures["p50"], "p99": figures["p99"], "max": figures["max"], "window": figures["n"],
                "restarts": self.restarts}  # fmt: skip


def step_figures(window: deque[float] | list[float], count: int) -> dict[str, Any]:
    """p50, p99 and max of ``window`` (nearest rank), how many (``n``) and ``count``, the steps timed in all."""
    ordered = sorted(window)
    n = len(ordered)
    return {"p50": ordered[math.ceil(0.5 * n) - 1] if n else None, "p99": ordered[math.ceil(0.99 * n) - 1] if n else None,
            "max": ordered[-1] if n else None, "n": n, "count": count}  # fmt: skip
