"""The scenario model: the frozen dataclasses a scenario file is parsed into, one per section.

:mod:`federation.scenario.loader` builds a :class:`Scenario` from a YAML file; nothing here
reads YAML.  See docs/scenarios.md.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from ..errors import KeyPath
from ..timebase import TimeBase
from .decisions import DecisionSpec
from .durations import DURATION_UNITS, is_no_limit, parse_duration
from .kpis import KpiSpec
from .pairing import SyncPair
from .report import ReportSpec
from .source import Source, load_source

__all__ = [
    "ConnectionKind",
    "CoordinatorSpec",
    "Interpolation",
    "Extrapolation",
    "RestartPolicy",
    "EventAction",
    "TimeSpec",
    "PaceSpec",
    "REALTIME_PRIORITY",
    "FederateSpec",
    "Connection",
    "Route",
    "IterateGroup",
    "ScheduledEvent",
    "RecordSpec",
    "Scenario",
    "signal_matches",
    "parse_duration",
    "is_no_limit",
    "MAX_TICKS",
    "MIN_RESOLUTION",
    "DURATION_UNITS",
]


class ConnectionKind(str, enum.Enum):
    DIRECT = "direct"  # consumer at t sees the producer's value for t
    DELAYED = "delayed"  # consumer at t sees the producer's value from before t
    ITERATE = "iterate"  # solved as a fixed point at each instant with its group


class Interpolation(str, enum.Enum):
    HOLD = "hold"  # sample-and-hold (zero order)
    LINEAR = "linear"  # linear between the samples around t (waits for the later one)


class Extrapolation(str, enum.Enum):
    """What the consumer sees over its step ``[t, t+H)`` from the producer's samples at or before ``t``
    (before ``t`` on a delayed connection), as an FMI master extrapolates inputs."""

    CONSTANT = "constant"  # the latest sample, held (zero order; the default)
    LINEAR = "linear"  # the line through the latest two samples: its value at t, and its slope over the step


class RestartPolicy(str, enum.Enum):
    FAIL = "fail"  # a crash of this federate ends the run (default)
    SCRATCH = "scratch"  # start a new process that sets up from scratch and rejoins at the current time
    CHECKPOINT = "from-checkpoint"  # roll the federation back to its last checkpoint and go on from there


class EventAction(str, enum.Enum):
    SET = "set"  # set a federate's input from time t on
    SEND = "send"  # deliver a message to a federate's endpoint at time t


MAX_TICKS = 2**60
"""Latest tick a scenario may reach (the wire carries ticks as unsigned 64-bit integers)."""
MIN_RESOLUTION = 1e-12
"""Finest time resolution, in seconds."""

REALTIME_PRIORITY = 10  # ``realtime: true``: above every ordinary process, below the kernel's own threads (50)


@dataclass(frozen=True)
class PaceSpec:
    """``time.pace``: the run paced to the wall clock (docs/live.md, "Pacing")."""

    factor: float  # simulated seconds per wall second (1: real time)
    max_lag: float | None = None  # wall seconds behind the schedule that fail the run; None: catch up
    realtime: int | None = None  # SCHED_FIFO priority (1-99) of the coordinator's threads; None: the usual scheduling


@dataclass(frozen=True)
class TimeSpec:
    start: float = 0.0  # seconds
    stop: float = 0.0  # seconds; steps run at start <= t <= stop (stop included)
    resolution: float = 1e-3  # seconds per tick
    pace: PaceSpec | None = None  # None: as fast as possible
    hold_back: float = 0.0  # wall seconds the paced schedule runs behind the wall clock
    epoch: float | None = None  # UTC POSIX seconds of t = 0 (``start: ISO``, or ``now`` once the run starts)
    start_now: bool = False  # ``start: now``: the epoch is the wall clock when the run starts

    @property
    def base(self) -> TimeBase:
        return TimeBase(self.resolution)

    def tied(self, now: float) -> TimeSpec:
        """This time section with ``start: now`` resolved to the epoch ``now`` (POSIX seconds)."""
        return replace(self, epoch=now, start_now=False) if self.start_now else self


@dataclass(frozen=True)
class InterfaceSpec:
    """Interface given in the scenario for a federate without a Python class (other language)."""

    inputs: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # name -> (type, unit)
    outputs: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    endpoints: tuple[str, ...] = ()


@dataclass(frozen=True)
class FederateSpec:
    name: str
    type: str | None  # short name, "module:Class" or "file.py:Class"; None with `command`
    params: Mapping[str, Any] = field(default_factory=dict)
    period: float | None = None  # seconds; None = class default or event-driven
    offset: float = 0.0
    external: bool = False  # started by hand (`federation join`), not by the coordinator
    command: tuple[str, ...] = ()  # a program in any language speaking the wire protocol
    interface: InterfaceSpec | None = None
    restart: RestartPolicy = RestartPolicy.FAIL
    restart_limit: int = 0  # restarts allowed before a crash fails the run
    process: str = "own"  # "own" (a process of its own), "shared" (a worker of the pool) or a worker group's name
    line: int = 0


PROCESS_OWN = "own"
PROCESS_SHARED = "shared"
"""``process:`` of a federate: ``own`` (default), ``shared`` (the pool of ``coordinator.workers``) or a group name."""

DEFAULT_GRANT_TIMEOUT = 600.0
"""Wall seconds one step may take before the run fails (``grant_timeout``): long enough for a
slow power flow or FMU step, short enough that a frozen federate does not hold a run for hours."""


@dataclass(frozen=True)
class CoordinatorSpec:
    """The scenario's ``coordinator:`` section: liveness, limits and network settings."""

    grant_timeout: float | None = DEFAULT_GRANT_TIMEOUT  # wall seconds one step may take; None = no limit
    heartbeat: float = 2.0  # wall seconds: federates and coordinator notice each other's loss within this
    liveness: float = 0.2  # wall seconds between checks of the federate processes
    join_timeout: float = 60.0
    frame_limit: int = 16 * 1024 * 1024  # bytes
    max_messages_per_step: int = 10_000  # per federate and step; the rest are refused
    max_federates: int = 1024
    bind: str | None = None  # e.g. tcp://0.0.0.0:5555 (needs keys)
    keys: str | None = None  # folder with the coordinator's key pair and authorized client keys
    workers: int | None = None  # worker processes for the federates with `process: shared`; None = one per core
    console: str | None = None  # [HOST:]PORT of the web console (docs/console.md)
    users: str | None = None  # users file (NAME ROLE TOKEN lines) for the console and the control endpoint
    checkpoint: float | None = None  # simulated seconds between checkpoints (``checkpoint: {every: 6 h}``); None: none
    steps_per_grant: int = 64  # most steps one STEPS frame grants a federate (docs/protocol.md §5.3); 1: off


@dataclass(frozen=True)
class Connection:
    source: str  # federate
    output: str
    target: str  # federate
    input: str
    kind: ConnectionKind = ConnectionKind.DIRECT
    interpolate: Interpolation = Interpolation.HOLD
    group: str | None = None  # iterate group
    line: int = 0
    extrapolate: Extrapolation = Extrapolation.CONSTANT

    def __str__(self) -> str:
        return f"{self.source}.{self.output} -> {self.target}.{self.input}"

    @property
    def continuous(self) -> bool:
        """Whether the consumer sees a continuous signal: a change between its steps is not a jump
        (a Model Exchange FMU takes it without an event)."""
        return self.interpolate is Interpolation.LINEAR or self.extrapolate is Extrapolation.LINEAR


@dataclass(frozen=True)
class Route:
    """Messages sent from ``source.endpoint`` are delivered to ``target.endpoint``."""

    source: str
    endpoint: str
    target: str
    target_endpoint: str
    lookahead: float = 0.0  # seconds: timestamps are at least the send time plus this
    line: int = 0

    def __str__(self) -> str:
        return f"{self.source}.{self.endpoint} -> {self.target}.{self.target_endpoint}"


@dataclass(frozen=True)
class IterateGroup:
    name: str
    tolerance: float = 1e-8
    max_iterations: int = 50
    line: int = 0


@dataclass(frozen=True)
class ScheduledEvent:
    at: float  # seconds
    action: EventAction
    federate: str
    name: str  # input or endpoint
    value: Any = None
    line: int = 0


@dataclass(frozen=True)
class RecordSpec:
    signals: tuple[str, ...] = ("*",)  # patterns on "federate.output" (see signal_matches)
    messages: bool = True

    def records(self, signal: str) -> bool:
        """Whether the output ``federate.output`` is recorded."""
        return any(signal_matches(pattern, signal) for pattern in self.signals)


def signal_matches(pattern: str, signal: str) -> bool:
    """Whether ``pattern`` names ``signal`` (``federate.output``): ``*`` is any run of characters,
    ``?`` any one character, and every other character stands for itself -- brackets too, so
    ``fmu.x[1]`` names the output called ``x[1]``."""
    return pattern == signal or _pattern_regex(pattern).fullmatch(signal) is not None


@functools.lru_cache(maxsize=1024)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


@dataclass(frozen=True)
class Scenario:
    name: str
    file: str
    text: str
    time: TimeSpec
    seed: int
    federates: Mapping[str, FederateSpec]
    connections: tuple[Connection, ...] = ()
    routes: tuple[Route, ...] = ()
    groups: Mapping[str, IterateGroup] = field(default_factory=dict)
    events: tuple[ScheduledEvent, ...] = ()
    record: RecordSpec = RecordSpec()
    coordinator: CoordinatorSpec = CoordinatorSpec()
    decisions: DecisionSpec = DecisionSpec()  # docs/decisions.md
    kpis: tuple[KpiSpec, ...] = ()  # docs/kpis-and-report.md
    report: ReportSpec = ReportSpec()
    synchronise: tuple[SyncPair, ...] = ()  # docs/synchronise.md; units filled in by synchronisation.sync_pairs
    blame: Mapping[KeyPath, str] = field(default_factory=dict)  # key path -> the argument that set it (--set ...)

    @property
    def directory(self) -> Path:
        return Path(self.file).resolve().parent

    def source(self) -> Source:
        """The scenario's text parsed for the lines of its keys; values set on the command line
        are blamed on their arguments (see :attr:`blame`).

        Parsed once per scenario: the loader hands over the :class:`Source` it read the
        scenario from, and a scenario made with ``dataclasses.replace`` (a new object) parses
        its text again only if asked.  The memo lives in the instance's ``__dict__``, outside
        the dataclass fields, so ``replace`` never carries it to a changed scenario.
        """
        src: Source | None = self.__dict__.get(_SOURCE)
        if src is None:
            src = load_source(self.file, self.text)
            src.blame.update(self.blame)
            self.__dict__[_SOURCE] = src
        return src

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (a checkpoint keeps the scenario) without the memos: they are made again on use."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def adopt(self, src: Source) -> Scenario:
        """Keep ``src`` (the parse this scenario was read from) as :meth:`source`; return the scenario."""
        self.__dict__[_SOURCE] = src
        return self


_SOURCE = "_source"  # the instance-dict key of Scenario.source()'s memo
