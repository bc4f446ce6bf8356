"""A federate whose model is a SimPy discrete-event simulation.

The runtime grants time ``t``; :class:`SimPyFederate` then

1. runs the environment through every event *before* ``t`` (``env.now`` becomes ``t``);
2. calls :meth:`react` so the model can take up inputs and messages at ``t``;
3. processes every event scheduled *at* ``t``;
4. calls :meth:`publish` to set outputs;
5. returns the time of the next scheduled event when the federate is event-driven.

The environment's time unit is the second.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, ClassVar, Mapping

import simpy

from .federate import Context, Federate, SavePath
from .interface import Declaration

__all__ = ["SimPyFederate"]


class SimPyFederate(Federate):
    """Subclass, build processes on ``self.env`` in :meth:`setup`, override react/publish."""

    #: A SimPy process (a generator) cannot be pickled: a checkpoint keeps the grants this federate
    #: received, and a restore re-runs them on a new instance (deterministic re-execution, docs/what-if.md).
    checkpoint: ClassVar[SavePath] = SavePath.REPLAY

    def __init__(self, params: Mapping[str, Any], context: Context) -> None:
        super().__init__(params, context)
        self.env = simpy.Environment(initial_time=context.start)

    def react(self, t: float) -> None:
        """Take up inputs (``self.inputs``) and messages (``self.inbox``) at ``t``."""

    def publish(self, t: float) -> None:
        """Set outputs from the model's state at ``t``."""

    def step(self, t: float) -> float | None:
        if t > self.env.now:
            self.env.run(until=t)
        self.react(t)
        while self.env.peek() <= t:
            self.env.step()
        self.publish(t)
        nxt = self.env.peek()
        return None if math.isinf(nxt) else nxt

    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        decl = super().declare(params)
        return replace(decl, extra={**decl.extra, "restartable": False})  # no snapshot of a SimPy model

    def get_state(self) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__}: a SimPy model cannot be snapshot for an iterate group"
        )
