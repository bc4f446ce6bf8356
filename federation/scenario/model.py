"""Scenario files: parsed at the boundary into frozen dataclasses.

``load(path)`` reads a YAML scenario, checks its structure (every problem at once, each
with file, line and key path), resolves federate types and checks the interfaces
(:mod:`federation.validation`), and returns a :class:`Scenario`.  See docs/scenarios.md.
"""

from __future__ import annotations

import difflib
import enum
import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from .errors import Problem, ScenarioError
from .interface import SignalType
from .source import KeyPath, Source, load_source
from .timebase import TimeBase

if TYPE_CHECKING:
    from .overrides import Override

__all__ = [
    "ConnectionKind",
    "CoordinatorSpec",
    "Interpolation",
    "RestartPolicy",
    "EventAction",
    "TimeSpec",
    "FederateSpec",
    "Connection",
    "Route",
    "IterateGroup",
    "ScheduledEvent",
    "RecordSpec",
    "Scenario",
    "signal_matches",
    "load",
    "parse",
    "parse_duration",
    "MAX_TICKS",
    "MIN_RESOLUTION",
]


class ConnectionKind(str, enum.Enum):
    DIRECT = "direct"  # consumer at t sees the producer's value for t
    DELAYED = "delayed"  # consumer at t sees the producer's value from before t
    ITERATE = "iterate"  # solved as a fixed point at each instant with its group


class Interpolation(str, enum.Enum):
    HOLD = "hold"  # sample-and-hold (zero order)
    LINEAR = "linear"  # linear between the samples around t (waits for the later one)


class RestartPolicy(str, enum.Enum):
    FAIL = "fail"  # a crash of this federate ends the run (default)
    SCRATCH = "scratch"  # start a new process that sets up from scratch and rejoins at the current time


class EventAction(str, enum.Enum):
    SET = "set"  # set a federate's input from time t on
    SEND = "send"  # deliver a message to a federate's endpoint at time t


_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0}
MAX_TICKS = 2**60
"""Latest tick a scenario may reach (the wire carries ticks as unsigned 64-bit integers)."""
MIN_RESOLUTION = 1e-12
"""Finest time resolution, in seconds."""
_DURATION = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-z]*)\s*$")


def parse_duration(value: Any, unit: str = "s") -> float:
    """Seconds from ``3600``, ``"1 h"``, ``"10 min"``, ``"0.5 s"``; numbers are in ``unit``."""
    try:
        seconds = _seconds(value, unit)
    except OverflowError:  # an integer too large for a float
        seconds = math.inf
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, got {value!r:.40}")
    return seconds


def is_no_limit(value: Any) -> bool:
    """Whether a limit in a scenario or on the command line says "no limit" (``none``, or YAML null)."""
    return value is None or (isinstance(value, str) and value.strip().lower() == "none")


def _seconds(value: Any, unit: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value) * _UNITS[unit]
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            number, suffix = match.groups()
            scale = _UNITS.get(suffix or unit)
            if scale is not None:
                return float(number) * scale
    raise ValueError(f"expected a duration such as 3600, '60 min' or '1 h', got {value!r:.40}")


@dataclass(frozen=True)
class TimeSpec:
    start: float = 0.0  # seconds
    stop: float = 0.0  # seconds; steps run at start <= t <= stop (stop included)
    resolution: float = 1e-3  # seconds per tick

    @property
    def base(self) -> TimeBase:
        return TimeBase(self.resolution)


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
    line: int = 0


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

    def __str__(self) -> str:
        return f"{self.source}.{self.output} -> {self.target}.{self.input}"


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
    options: Mapping[str, Any] = field(default_factory=dict)  # sections owned by other modules
    blame: Mapping[KeyPath, str] = field(default_factory=dict)  # key path -> the argument that set it (--set ...)

    @property
    def directory(self) -> Path:
        return Path(self.file).resolve().parent

    def with_overrides(self, assignments: Mapping[str, Any] | Iterable[Override], *, origin: str = "--set") -> Scenario:
        """A copy with parameters (and coordinator settings) replaced: ``--set``, ``--bind``, sweeps.

        ``assignments`` is ``{"fed.param": value}`` or :class:`~federation.overrides.Override` objects; the rules
        for the key paths are in :mod:`federation.overrides`.  Raise :class:`ScenarioError` blamed on
        ``origin`` (the mapping form) or on each override's argument.
        """
        from .overrides import apply_overrides, overrides_of

        scenario, problems = apply_overrides(self, overrides_of(assignments, origin))
        if problems:
            raise ScenarioError(problems)
        return scenario

    def source(self) -> Source:
        """The scenario's text parsed again, for the lines of its keys; values set on the command line
        are blamed on their arguments (see :attr:`blame`)."""
        src = load_source(self.file, self.text)
        src.blame.update(self.blame)
        return src


# ----------------------------------------------------------------------------- parsing
_TOP_KEYS = {
    "name", "description", "time", "seed", "federates", "connections", "messages",
    "iterate", "events", "record", "decisions", "coordinator", "kpis", "report",
}  # fmt: skip
_SIGNAL_TYPES = tuple(t.value for t in SignalType)
_FED_KEYS = {"type", "params", "period", "offset", "external", "command", "interface", "doc", "description",
             "restart"}  # fmt: skip
_ARROW = re.compile(r"^\s*([A-Za-z_][\w-]*)\.([^\s]+)\s*->\s*([A-Za-z_][\w-]*)\.([^\s]+)\s*$")


class _Parser:
    """Structure pass: builds dataclasses, collects problems instead of stopping at the first."""

    def __init__(self, source: Source) -> None:
        self.src = source
        self.problems: list[Problem] = list(source.problems)
        self.unit = "s"

    def fail(self, path: KeyPath, message: str) -> None:
        self.problems.append(self.src.problem(path, message))

    def unknown_keys(self, spec: Mapping[Any, Any], path: KeyPath, known: Iterable[str]) -> None:
        """A problem for each key of ``spec`` that is not ``known``, with the closest known key."""
        names = sorted(known)
        for key in spec:
            if key not in names:
                close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                self.fail((*path, key), f"unknown key{hint} (expected one of: {', '.join(names)})")

    def mapping(self, value: Any, path: KeyPath) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping, got {_kind(value)}")
            return {}
        return value

    def sequence(self, value: Any, path: KeyPath) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, f"expected a list, got {_kind(value)}")
            return []
        return value

    def duration(self, value: Any, path: KeyPath, default: float | None = None) -> float | None:
        if value is None:
            return default
        try:
            return parse_duration(value, self.unit)
        except ValueError as exc:
            self.fail(path, str(exc))
            return default

    def number(self, value: Any, path: KeyPath, default: float, *, positive: bool = False) -> float:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(path, f"expected a number, got {_kind(value)} {value!r}")
            return default
        if positive and not value > 0:
            self.fail(path, f"must be positive, got {value!r}")
            return default
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(path, f"expected a finite number, got {value!r}")
            return default
        try:
            return float(value)
        except OverflowError:
            self.fail(path, f"too large: {value!r:.40}")
            return default

    def boolean(self, value: Any, path: KeyPath, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {value!r}")
            return default
        return value

    # ------------------------------------------------------------------ sections
    def parse(self) -> Scenario | None:
        data = self.src.data
        if not isinstance(data, dict):
            if data is not None or not self.problems:
                self.fail((), f"a scenario must be a mapping at the top level, got {_kind(data)}")
            return None
        self.unknown_keys(data, (), _TOP_KEYS)
        time = self.time(data.get("time"))
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            self.fail(("seed",), f"expected a non-negative integer, got {seed!r}")
            seed = 0
        name = data.get("name", Path(self.src.file).stem)
        if not isinstance(name, str):
            self.fail(("name",), f"expected a string, got {_kind(name)}")
            name = Path(self.src.file).stem
        federates = self.federates(data.get("federates"))
        groups = self.groups(data.get("iterate"))
        return Scenario(
            name=name,
            file=self.src.file,
            text=self.src.text,
            time=time,
            seed=seed,
            federates=federates,
            connections=self.connections(data.get("connections")),
            routes=self.routes(data.get("messages")),
            groups=groups,
            events=self.events(data.get("events")),
            record=self.record(data.get("record")),
            coordinator=self.coordinator(data.get("coordinator")),
            options={k: data[k] for k in ("decisions", "kpis", "report") if k in data},
        )

    def time(self, value: Any) -> TimeSpec:
        path: KeyPath = ("time",)
        if value is None:
            self.fail(path, "missing: the scenario needs time.stop")
            return TimeSpec(0.0, 1.0)
        spec = self.mapping(value, path)
        self.unknown_keys(spec, path, ("start", "stop", "resolution", "unit"))
        unit = spec.get("unit", "s")
        if not isinstance(unit, str) or unit not in _UNITS:
            self.fail((*path, "unit"), f"unknown time unit {unit!r} (expected one of {', '.join(_UNITS)})")
            unit = "s"
        self.unit = unit
        start = self.duration(spec.get("start"), (*path, "start"), 0.0) or 0.0
        if start < 0:
            self.fail((*path, "start"), f"must not be negative, got {spec.get('start')!r}")
            start = 0.0
        stop = self.duration(spec.get("stop"), (*path, "stop"))
        if stop is None:
            if spec.get("stop") is None:
                self.fail((*path, "stop"), "missing: when the run ends")
            stop = start + 1.0
        res_raw = spec.get("resolution", 1e-3)
        try:
            resolution = parse_duration(res_raw, "s")
        except ValueError as exc:
            self.fail((*path, "resolution"), str(exc))
            resolution = 1e-3
        if not resolution > 0:
            self.fail((*path, "resolution"), f"must be positive, got {res_raw!r}")
            resolution = 1e-3
        elif resolution < MIN_RESOLUTION:
            self.fail((*path, "resolution"), f"must be at least {MIN_RESOLUTION:g} s, got {res_raw!r}")
            resolution = 1e-3
        if stop <= start:
            self.fail((*path, "stop"), f"must be after start ({start:g} s), got {stop:g} s")
            stop = start + 1.0
        elif stop / resolution > MAX_TICKS:
            self.fail((*path, "stop"), f"{stop:g} s is too many ticks of {resolution:g} s")
            stop = start + 1.0
        return TimeSpec(start, stop, resolution)

    def federates(self, value: Any) -> dict[str, FederateSpec]:
        if value is None:
            self.fail(("federates",), "missing: a scenario needs at least one federate")
        out: dict[str, FederateSpec] = {}
        for name, spec in self.mapping(value, ("federates",)).items():
            path: KeyPath = ("federates", name)
            if not re.match(r"^[A-Za-z_][\w-]*$", str(name)):
                self.fail(path, "a federate name is letters, digits, '_' or '-', starting with a letter")
                continue
            fed = self.federate(str(name), self.mapping(spec, path), path)
            if fed is not None:
                out[str(name)] = fed
        return out

    def federate(self, name: str, spec: dict[str, Any], path: KeyPath) -> FederateSpec | None:
        self.unknown_keys(spec, path, _FED_KEYS)
        ftype = spec.get("type")
        command = spec.get("command", ())
        if isinstance(command, str):
            command = command.split()
        if not isinstance(command, (list, tuple)) or not all(isinstance(c, str) for c in command):
            self.fail((*path, "command"), "expected a list of strings")
            command = ()
        if ftype is None and not command and not spec.get("external"):
            self.fail((*path, "type"), "missing: a federate needs a type (or a command, or external: true)")
        elif ftype is not None and not isinstance(ftype, str):
            self.fail((*path, "type"), f"expected a string, got {_kind(ftype)}")
            ftype = None
        period = self.duration(spec.get("period"), (*path, "period"))
        if period is not None and period <= 0:
            self.fail((*path, "period"), f"must be positive, got {spec.get('period')!r}")
            period = None
        offset = self.duration(spec.get("offset"), (*path, "offset"), 0.0) or 0.0
        if offset < 0:
            self.fail((*path, "offset"), f"must not be negative, got {spec.get('offset')!r}")
            offset = 0.0
        policy, limit = self.restart(spec.get("restart"), (*path, "restart"))
        external = self.boolean(spec.get("external"), (*path, "external"), False)
        self.conflicts(spec, path, external, policy)
        return FederateSpec(
            name=name,
            type=ftype,
            restart=policy,
            restart_limit=limit,
            params=self.params(spec.get("params"), (*path, "params")),
            period=period,
            offset=offset,
            external=external,
            command=tuple(command),
            interface=self.interface(spec.get("interface"), (*path, "interface")),
            line=self.src.line(path),
        )

    def conflicts(self, spec: dict[str, Any], path: KeyPath, external: bool, policy: RestartPolicy) -> None:
        """Keys that exclude each other: the one that would be ignored is an error, not a surprise."""
        if external and spec.get("command"):
            self.fail((*path, "command"), "an external federate is started by hand, so the coordinator would "
                                          "never run this command (keep 'external: true' or 'command')")  # fmt: skip
        if spec.get("type") is not None and spec.get("interface") is not None:
            self.fail((*path, "interface"), "a federate with a type has the interface its class declares; "
                                            "'interface' is for federates without one")  # fmt: skip
        if external and policy is RestartPolicy.SCRATCH:
            self.fail((*path, "restart"), "an external federate is started by hand, so the coordinator cannot "
                                          "restart it")  # fmt: skip

    def params(self, value: Any, path: KeyPath) -> dict[str, Any]:
        params = self.mapping(value, path)
        for key in params:
            if not isinstance(key, str):
                self.fail((*path, key), f"a parameter name must be a string, got {_kind(key)} {key!r}")
        return {k: v for k, v in params.items() if isinstance(k, str)}

    def restart(self, value: Any, path: KeyPath) -> tuple[RestartPolicy, int]:
        if value is None:
            return RestartPolicy.FAIL, 0
        if isinstance(value, str):
            value = {"policy": value}
        spec = self.mapping(value, path)
        self.unknown_keys(spec, path, ("policy", "limit"))
        try:
            policy = RestartPolicy(spec.get("policy", "fail"))
        except ValueError:
            self.fail((*path, "policy"), f"expected fail or scratch, got {spec.get('policy')!r}")
            return RestartPolicy.FAIL, 0
        limit = spec.get("limit", 3 if policy is RestartPolicy.SCRATCH else 0)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 1000:
            self.fail((*path, "limit"), f"expected an integer from 0 to 1000, got {limit!r}")
            limit = 0
        return policy, limit

    def coordinator(self, value: Any) -> CoordinatorSpec:
        path: KeyPath = ("coordinator",)
        spec = self.mapping(value, path)
        self.unknown_keys(spec, path, CoordinatorSpec.__dataclass_fields__)
        out: dict[str, Any] = {}
        for key in ("grant_timeout", "heartbeat", "liveness", "join_timeout"):
            if key == "grant_timeout" and key in spec and is_no_limit(spec[key]):
                out[key] = None  # `grant_timeout: none`: a step may take forever
            elif spec.get(key) is not None:
                try:
                    seconds = parse_duration(spec[key], "s")
                except ValueError as exc:
                    self.fail((*path, key), f"{exc}, or none" if key == "grant_timeout" else str(exc))
                    continue
                if not 0 < seconds < 1e9:
                    self.fail((*path, key), f"must be a positive time, got {spec[key]!r}")
                    continue
                out[key] = seconds
        for key, top in (("frame_limit", 2**31), ("max_messages_per_step", 10**9), ("max_federates", 100_000)):
            if key in spec:
                value = spec[key]
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                    self.fail((*path, key), f"expected an integer from 1 to {top}, got {value!r}")
                else:
                    out[key] = value
        for key in ("bind", "keys"):
            if key in spec:
                if isinstance(spec[key], str) and spec[key]:
                    out[key] = spec[key]
                else:
                    self.fail((*path, key), f"expected a string, got {spec[key]!r}")
        return CoordinatorSpec(**out)

    def interface(self, value: Any, path: KeyPath) -> InterfaceSpec | None:
        if value is None:
            return None
        spec = self.mapping(value, path)
        self.unknown_keys(spec, path, ("inputs", "outputs", "endpoints"))
        sides: dict[str, dict[str, tuple[str, str]]] = {}
        for side in ("inputs", "outputs"):
            sides[side] = {}
            for sig, info in self.mapping(spec.get(side), (*path, side)).items():
                info = self.mapping(info, (*path, side, sig)) if info is not None else {}
                self.unknown_keys(info, (*path, side, sig), ("type", "unit"))
                stype = str(info.get("type", "float"))
                if stype not in _SIGNAL_TYPES:
                    known = ", ".join(_SIGNAL_TYPES)
                    self.fail((*path, side, sig, "type"), f"unknown signal type {stype!r:.40} (expected one of: {known})")
                    stype = SignalType.ANY.value
                sides[side][str(sig)] = (stype, str(info.get("unit", "") or ""))
        endpoints = self.sequence(spec.get("endpoints"), (*path, "endpoints"))
        return InterfaceSpec(sides["inputs"], sides["outputs"], tuple(str(e) for e in endpoints))

    def arrow(self, text: Any, path: KeyPath) -> tuple[str, str, str, str] | None:
        match = _ARROW.match(text) if isinstance(text, str) else None
        if match is None:
            self.fail(path, f"expected 'federate.name -> federate.name', got {text!r}")
            return None
        a, b, c, d = match.groups()
        return a, b, c, d

    def ends(self, item: dict[str, Any], path: KeyPath, key: str) -> str | None:
        """The ``"a.x -> b.y"`` of a mapping item: in ``key`` (connect, route) or in from/to, never both."""
        if key in item:
            if "from" in item or "to" in item:
                self.fail(path, f"give the ends either in '{key}' or in 'from' and 'to', not both")
                return None
            return item[key]  # type: ignore[no-any-return]
        if "from" in item and "to" in item:
            return f"{item['from']} -> {item['to']}"
        missing = "to" if "from" in item else "from" if "to" in item else f"{key} (or from and to)"
        self.fail(path, f"missing: {missing}")
        return None

    def connections(self, value: Any) -> tuple[Connection, ...]:
        out = []
        for i, item in enumerate(self.sequence(value, ("connections",))):
            path: KeyPath = ("connections", i)
            opts: dict[str, Any] = {}
            if isinstance(item, dict):
                opts = item
                self.unknown_keys(item, path, ("connect", "from", "to", "delay", "iterate", "interpolate"))
                text = self.ends(item, path, "connect")
            else:
                text = item
            ends = self.arrow(text, path) if text is not None else None
            if ends is None:
                continue
            delay = self.boolean(opts.get("delay"), (*path, "delay"), False)
            group = opts.get("iterate")
            if group is not None and not isinstance(group, str):
                self.fail((*path, "iterate"), f"expected the name of an iterate group, got {group!r}")
                group = None
            if delay and group:
                self.fail(path, "a connection cannot be both delayed and iterated")
            try:
                interp = Interpolation(opts.get("interpolate", "hold"))
            except ValueError:
                self.fail((*path, "interpolate"), f"expected hold or linear, got {opts.get('interpolate')!r}")
                interp = Interpolation.HOLD
            kind = ConnectionKind.ITERATE if group else ConnectionKind.DELAYED if delay else ConnectionKind.DIRECT
            out.append(Connection(*ends, kind=kind, interpolate=interp, group=group, line=self.src.line(path)))
        return tuple(out)

    def routes(self, value: Any) -> tuple[Route, ...]:
        out = []
        for i, item in enumerate(self.sequence(value, ("messages",))):
            path: KeyPath = ("messages", i)
            lookahead = 0.0
            text = item
            if isinstance(item, dict):
                lookahead = self.duration(item.get("lookahead"), (*path, "lookahead"), 0.0) or 0.0
                self.unknown_keys(item, path, ("route", "from", "to", "lookahead"))
                text = self.ends(item, path, "route")
            ends = self.arrow(text, path) if text is not None else None
            if ends is not None:
                out.append(Route(*ends, lookahead=lookahead, line=self.src.line(path)))
        return tuple(out)

    def groups(self, value: Any) -> dict[str, IterateGroup]:
        out = {}
        for name, spec in self.mapping(value, ("iterate",)).items():
            path: KeyPath = ("iterate", name)
            spec = self.mapping(spec, path)
            self.unknown_keys(spec, path, ("tolerance", "max_iterations"))
            tol = self.number(spec.get("tolerance"), (*path, "tolerance"), 1e-8, positive=True)
            its = spec.get("max_iterations", 50)
            if isinstance(its, bool) or not isinstance(its, int) or not 1 <= its <= 10_000:
                self.fail((*path, "max_iterations"), f"expected an integer from 1 to 10000, got {its!r}")
                its = 50
            out[str(name)] = IterateGroup(str(name), tol, its, self.src.line(path))
        return out

    def events(self, value: Any) -> tuple[ScheduledEvent, ...]:
        out = []
        for i, item in enumerate(self.sequence(value, ("events",))):
            path: KeyPath = ("events", i)
            spec = self.mapping(item, path)
            at = self.duration(spec.get("at"), (*path, "at"))
            if at is None:
                self.fail((*path, "at"), "missing: when the event happens")
                continue
            actions = [a for a in EventAction if a.value in spec]
            if len(actions) != 1:
                self.fail(path, "an event needs exactly one of 'set' or 'send'")
                continue
            action = actions[0]
            target = spec[action.value]
            self.unknown_keys(spec, path, ("at", "set", "send", "value", "payload"))
            fed, dot, name = str(target).partition(".")
            if not dot or not fed or not name:
                self.fail((*path, action.value), f"expected 'federate.name', got {target!r}")
                continue
            if action is EventAction.SET and "value" not in spec:
                self.fail((*path, "value"), "missing: the value to set")
            wrong, right = ("payload", "value") if action is EventAction.SET else ("value", "payload")
            if wrong in spec:
                self.fail((*path, wrong), f"a '{action.value}' event takes '{right}', not '{wrong}'")
            payload = spec.get("value") if action is EventAction.SET else spec.get("payload")
            out.append(ScheduledEvent(at, action, fed, name, payload, self.src.line(path)))
        return tuple(out)

    def record(self, value: Any) -> RecordSpec:
        path: KeyPath = ("record",)
        spec = self.mapping(value, path)
        self.unknown_keys(spec, path, ("signals", "messages"))
        signals = spec.get("signals", "all")
        patterns: tuple[str, ...]
        if isinstance(signals, str) and signals in ("all", "none"):
            patterns = ("*",) if signals == "all" else ()
        elif signals is False:
            patterns = ()
        elif isinstance(signals, list):
            patterns = self.patterns(signals, (*path, "signals"))
        else:
            self.fail((*path, "signals"), f"expected all, none, false or a list of patterns, got {_kind(signals)} "
                                          f"{signals!r:.40}")  # fmt: skip
            patterns = ("*",)
        return RecordSpec(patterns, self.boolean(spec.get("messages"), (*path, "messages"), True))

    def patterns(self, items: list[Any], path: KeyPath) -> tuple[str, ...]:
        out = []
        for i, item in enumerate(items):
            if isinstance(item, str) and item.strip():
                out.append(item.strip())
            else:
                self.fail((*path, i), f"expected a pattern such as 'tank.*' or 'tank.level', got {_kind(item)} {item!r:.40}")
        return tuple(out)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def parse(source: Source) -> tuple[Scenario | None, list[Problem]]:
    """Structure pass only: the scenario (when it could be built) and the problems found."""
    parser = _Parser(source)
    scenario = parser.parse()
    return scenario, parser.problems


def load(file: str | Path, *, text: str | None = None, check: bool = True,
         overrides: Sequence[Override] = ()) -> Scenario:  # fmt: skip
    """Read, parse, apply the command line's ``overrides`` and (with ``check``) validate a scenario.

    Raise :class:`ScenarioError` with every problem, those of the overrides blamed on their arguments.
    """
    source = load_source(file, text)
    scenario, problems = parse(source)
    if scenario is not None and overrides:
        from .overrides import apply_overrides

        scenario, unapplied = apply_overrides(scenario, overrides)
        problems += unapplied
        source.blame.update(scenario.blame)
    if scenario is not None and check:
        from .validation import validate

        problems += validate(scenario, source)
    if problems or scenario is None:
        raise ScenarioError(sorted(set(problems), key=lambda p: (p.line, p.file, p.path, p.message)))
    return scenario
