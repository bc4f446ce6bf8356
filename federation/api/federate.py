"""The base class a user subclasses to write a federate in Python.

A federate declares its interface with :mod:`federation.api.interface` descriptors and
implements :meth:`Federate.step`.  The runtime (:mod:`federation.engine.runtime`) calls::

    setup()                    once, after parameters are set, before the first step
    step(t) -> next | None     at every granted time t (seconds), inputs already updated
    finalize()                 once, at the end of the run

Time-stepped federates are granted ``start + offset + k*period``; event-driven ones
(no period) return the time of their next internal event from ``step`` (or ``None`` to
sleep until an input changes or a message arrives).
"""

from __future__ import annotations

import copy
import enum
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from .interface import Declaration, Endpoint, Input, Output, Parameter
from .live import DecisionRecord, LiveFeed

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Federate", "Message", "Context", "SavePath", "derivative_key"]


def derivative_key(name: str) -> str:
    """The key of ``Federate.inputs`` under which the runtime keeps input ``name``'s time derivative."""
    return f"der({name})"


class SavePath(str, enum.Enum):
    """How a checkpoint saves a federate (docs/what-if.md)."""

    STATE = "state"  # save_state() / restore_state(): the instance state, pickled (FMUs: the serialized FMU state)
    REPLAY = "replay"  # deterministic re-execution: the grants received so far, re-run on a new instance


@dataclass(frozen=True)
class Message:
    """A timestamped message delivered to one of this federate's endpoints."""

    time: float  # seconds
    sender: str  # "federate.endpoint" of the sender ("scenario" for scheduled events)
    endpoint: str  # the receiving endpoint of this federate
    payload: Any
    decision: DecisionRecord | None = None  # the decision it passed, when its class needs approval


@dataclass(frozen=True)
class Context:
    """What the runtime tells a federate about its place in the federation."""

    name: str
    seed: int
    start: float
    stop: float
    resolution: float
    period: float | None
    offset: float = 0.0
    routes: frozenset[str] = frozenset()  # this federate's endpoints that have a route: sending elsewhere is refused
    #: UTC POSIX seconds of t = 0 when the run is tied to the wall clock (``time: {start: now | ISO}``),
    #: else ``None``: a wall-clock timestamp maps to simulated seconds as ``posix - epoch`` (docs/live.md).
    epoch: float | None = None
    #: The run's identity (12 hex digits), as output bridges publish it; ``None`` outside a run.
    run_id: str | None = None
    #: Simulated seconds per wall second of a paced run (``time.pace``), else ``None``.
    pace: float | None = None
    #: ``federation replay`` of a recorded live run: output bridges must not act on the real world again.
    replay: bool = False
    #: Inputs whose connection makes them continuous in time (``interpolate: linear``, ``extrapolate: linear``):
    #: a change from one step to the next is not a jump (a Model Exchange FMU takes it without an event).
    continuous: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Outgoing:
    endpoint: str
    payload: Any
    time: float | None
    to: str | None


class Federate:
    """Base class of Python federates.  See the module docstring for the life cycle."""

    #: Default period in seconds when the scenario gives none; ``None`` = event-driven.
    default_period: ClassVar[float | None] = None
    #: A live source: its data comes from outside the federation, through ``self.feed`` (docs/live.md).
    #: A scenario with a live source must be paced to the wall clock.
    live: ClassVar[bool] = False

    def __init__(self, params: Mapping[str, Any], context: Context) -> None:
        decl = self.declare(params)
        defaults = {p.name: p.default for p in decl.parameters if not p.required}
        self.params: dict[str, Any] = {**defaults, **params}
        for attribute, name in _parameter_attributes(type(self)):  # plain reads in step(): no descriptor call
            if name in self.params:
                self.__dict__[attribute] = self.params[name]
        self.context = context
        self.name = context.name
        self.declaration = decl
        self.inputs: dict[str, Any] = {s.name: s.default for s in decl.inputs}
        self.outputs: dict[str, Any] = {s.name: s.default for s in decl.outputs}
        self.inbox: list[Message] = []
        self._outbox: list[_Outgoing] = []
        self.time: float = context.start
        self.log = logging.getLogger(f"federation.federate.{context.name}")
        self.random = random.Random(context.seed)
        self._rng: np.random.Generator | None = None
        #: A live source's buffer of external samples (set in ``setup``); the runtime wakes on it.
        self.feed: LiveFeed | None = None

    # ------------------------------------------------------------------ interface
    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        """Return the interface for ``params``.  Override to add signals that depend on them.

        Must be cheap and side-effect free: ``federation validate`` calls it without
        starting the federate.
        """
        found = _descriptors(cls)
        return Declaration(
            parameters=tuple(v for v in found.values() if isinstance(v, Parameter)),
            inputs=tuple(v for v in found.values() if isinstance(v, Input)),
            outputs=tuple(v for v in found.values() if isinstance(v, Output)),
            endpoints=tuple(v for v in found.values() if isinstance(v, Endpoint)),
            period=cls.default_period,
        )

    # ------------------------------------------------------------------ life cycle
    def setup(self) -> None:
        """Called once before the first step; parameters and inputs' defaults are set."""

    def step(self, t: float) -> float | None:
        """Advance to time ``t`` (seconds) and publish outputs.

        Return the next time this federate wants to be granted (event-driven federates),
        or ``None``.  Time-stepped federates' return value is ignored.
        """
        raise NotImplementedError(f"{type(self).__name__}.step")

    def finalize(self) -> None:
        """Called once at the end of the run (normal stop or failure of another federate)."""

    # ------------------------------------------------------------------ synchronisation
    def correct(self, state: str, value: float) -> None:
        """Set the correctable state ``state`` (a :class:`~federation.State`) to ``value``.

        The runtime calls it after ``step(t)`` when a ``synchronise:`` pair corrects the state
        at ``t`` (docs/synchronise.md); the output's value after the call is what is published
        and recorded as the value after the correction.  The default assigns the output, which
        is right when ``step`` advances the output itself; a federate whose output is computed
        from an internal state (a volume behind a level) overrides it to change that state too.
        """
        self.outputs[state] = value
    def derivative(self, name: str) -> float:
        """The time derivative (per second) of input ``name`` over this step: the slope of the line its
        connection extrapolates (``extrapolate: linear``), so that the input over ``[t, t+H)`` is
        ``inputs[name] + derivative(name) * (s - t)``; 0.0 for an input held over the step."""
        return float(self.inputs.get(derivative_key(name), 0.0))

    # ------------------------------------------------------------------ messages
    def send(self, endpoint: str, payload: Any, *, at: float | None = None, to: str | None = None) -> None:
        """Send ``payload`` from ``endpoint`` with timestamp ``at`` (seconds).

        The scenario routes the endpoint to its receivers; ``to`` ("federate.endpoint")
        picks one of those routes.  Without ``at`` the message is stamped as early as each
        route allows (now plus its lookahead); an explicit ``at`` earlier than that is refused.
        """
        self._outbox.append(_Outgoing(endpoint, payload, at, to))

    # ------------------------------------------------------------------ helpers
    @property
    def rng(self) -> np.random.Generator:
        """A NumPy generator seeded from the scenario seed and this federate's name."""
        if self._rng is None:
            import numpy as np

            self._rng = np.random.default_rng(self.context.seed)
        return self._rng

    def get_state(self) -> Any:
        """Snapshot for ``iterate`` groups (re-stepping one instant).  Default: deep copy."""
        skip = {"context", "log", "declaration", "_outbox", "inbox", "inputs", "feed"}
        return copy.deepcopy({k: v for k, v in self.__dict__.items() if k not in skip})

    def set_state(self, state: Any) -> None:
        """Restore a snapshot taken by :meth:`get_state`."""
        self.__dict__.update(copy.deepcopy(state))

    # ------------------------------------------------------------------ checkpoints (docs/what-if.md)
    #: How a checkpoint saves this federate: its state (:meth:`save_state`), or nothing but the grants it
    #: received (``SavePath.REPLAY``: a restore re-runs them from the start on a new instance).
    checkpoint: ClassVar[SavePath] = SavePath.STATE

    def save_state(self) -> Any:
        """This federate's state for a checkpoint, as a picklable value (docs/what-if.md).

        Called between steps, after setup().  The default is the instance dictionary without
        what the runtime owns or rebuilds (context, logger, declaration, inputs, inbox,
        outbox, live feed).  Override it (with :meth:`restore_state`) when an attribute
        cannot be pickled (an open file, a socket, a handle into a library) or is large and
        cheap to rebuild.
        """
        skip = _NOT_SAVED
        return {k: v for k, v in self.__dict__.items() if k not in skip}

    def restore_state(self, state: Any) -> None:
        """Take up ``state`` from :meth:`save_state`; called on a new instance, after setup()."""
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} t={self.time:g}>"


_NOT_SAVED = frozenset({"context", "log", "declaration", "_outbox", "inbox", "inputs", "feed"})


def _descriptors(cls: type) -> dict[str, Any]:
    """The interface descriptors declared as class attributes of ``cls`` and its bases, by attribute."""
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for key, value in vars(klass).items():
            if isinstance(value, (Parameter, Input, Output, Endpoint)):
                found[key] = value
    return found


def class_parameters(cls: type) -> tuple[Parameter[Any], ...]:
    """The :class:`Parameter` attributes of a federate class: what it accepts when ``declare()`` cannot say."""
    return tuple(v for v in _descriptors(cls).values() if isinstance(v, Parameter))


def _parameter_attributes(cls: type) -> list[tuple[str, str]]:
    """(attribute, parameter name) of every :class:`Parameter` declared on ``cls``'s classes.

    Parameters do not change during a run, so their values are copied into the instance
    dictionary, where attribute reads find them first (a Parameter has no ``__set__``).
    """
    cached = cls.__dict__.get("_parameter_attributes_cache")
    if cached is None:
        found: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            for key, value in vars(klass).items():
                if isinstance(value, Parameter):
                    found[key] = value.name
                elif key in found:
                    del found[key]  # shadowed by something else in a subclass
        cached = list(found.items())
        type.__setattr__(cls, "_parameter_attributes_cache", cached)
    return cached
