"""Loading a scenario file: the structure pass, the command line's overrides and validation.

``load(path)`` reads a YAML scenario, checks its structure (every problem at once, each
with file, line and key path), applies overrides, resolves federate types and checks the
interfaces (:mod:`federation.scenario.validation`), and returns a
:class:`~federation.scenario.model.Scenario`.  See docs/scenarios.md.
"""

from __future__ import annotations

import difflib
import math
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..api.interface import SignalType
from ..errors import KeyPath, Problem, ScenarioError
from .decisions import parse_decisions
from .kpis import parse_kpis
from .model import (
    DURATION_UNITS,
    MAX_TICKS,
    MIN_RESOLUTION,
    PROCESS_OWN,
    REALTIME_PRIORITY,
    Connection,
    ConnectionKind,
    CoordinatorSpec,
    EventAction,
    Extrapolation,
    FederateSpec,
    InterfaceSpec,
    Interpolation,
    IterateGroup,
    PaceSpec,
    RecordSpec,
    RestartPolicy,
    Route,
    Scenario,
    ScheduledEvent,
    TimeSpec,
    is_no_limit,
    parse_duration,
)
from .overrides import Override, apply_overrides, set_time
from .pairing import parse_pairs
from .reader import Reader, kind
from .report import parse_report
from .source import Source, load_source
from .systems import expand_systems
from .validation import validate

__all__ = ["load", "parse"]

_TOP_KEYS = {
    "name", "description", "time", "seed", "federates", "connections", "messages",
    "iterate", "events", "record", "decisions", "coordinator", "kpis", "report",
    "synchronise",
}  # fmt: skip
_SIGNAL_TYPES = tuple(t.value for t in SignalType)
_FED_KEYS = {"type", "params", "period", "offset", "external", "command", "interface", "doc", "description",
             "restart", "process"}  # fmt: skip
_INSTANT = re.compile(r"^\s*\d{4}-\d\d-\d\d")  # an ISO-8601 date and time, not a duration
_ARROW = re.compile(r"^\s*([A-Za-z_][\w-]*)\.([^\s]+)\s*->\s*([A-Za-z_][\w-]*)\.([^\s]+)\s*$")


class _Parser(Reader):
    """Structure pass: builds dataclasses, collects problems instead of stopping at the first."""

    def __init__(self, source: Source) -> None:
        super().__init__(source, list(source.problems))

    # ------------------------------------------------------------------ sections
    def parse(self) -> Scenario | None:
        data = self.src.data
        if not isinstance(data, dict):
            if data is not None or not self.problems:
                self.fail((), f"a scenario must be a mapping at the top level, got {kind(data)}")
            return None
        self.unknown_keys(data, (), _TOP_KEYS)
        time = self.time(data.get("time"))
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            self.fail(("seed",), f"expected a non-negative integer, got {seed!r}")
            seed = 0
        name = data.get("name", Path(self.src.file).stem)
        if not isinstance(name, str):
            self.fail(("name",), f"expected a string, got {kind(name)}")
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
            decisions=parse_decisions(data.get("decisions"), self),
            kpis=parse_kpis(data.get("kpis"), self),
            report=parse_report(data.get("report"), self),
            synchronise=parse_pairs(data.get("synchronise"), self),
        )

    def time(self, value: Any) -> TimeSpec:
        path: KeyPath = ("time",)
        if value is None:
            self.fail(path, "missing: the scenario needs time.stop")
            return TimeSpec(0.0, 1.0)
        spec = self.mapping(value, path)
        self.unknown_keys(spec, path, ("start", "stop", "resolution", "unit", "pace", "hold_back"))
        unit = spec.get("unit", "s")
        if not isinstance(unit, str) or unit not in DURATION_UNITS:
            self.fail((*path, "unit"), f"unknown time unit {unit!r} (expected one of {', '.join(DURATION_UNITS)})")
            unit = "s"
        self.unit = unit
        instant = self.epoch(spec.get("start"), (*path, "start"))
        epoch, start_now = instant or (None, False)
        start = self.duration(spec.get("start"), (*path, "start"), 0.0) or 0.0 if instant is None else 0.0
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
        pace, hold_back = self.pace(spec, path)
        return TimeSpec(start, stop, resolution, pace, hold_back, epoch, start_now)

    def epoch(self, value: Any, path: KeyPath) -> tuple[float | None, bool] | None:
        """``time.start`` as a wall-clock instant: (epoch, start_now); None when it is a duration."""
        if isinstance(value, datetime):  # YAML reads an unquoted 2026-12-02T14:00:00Z as a timestamp
            return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp(), False
        if isinstance(value, date):
            self.fail(path, f"a date alone is not an instant: give the time too ({value.isoformat()}T00:00:00Z)")
            return None, False
        if not isinstance(value, str):
            return None
        text = value.strip()
        if text == "now":
            return None, True
        if not _INSTANT.match(text):
            try:
                parse_duration(text, self.unit)
            except ValueError:
                hint = "; did you mean 'now'?" if difflib.get_close_matches(text.lower(), ["now"], cutoff=0.6) else ""
                self.fail(path, f"expected a duration, now, or an ISO-8601 instant such as 2026-12-02T14:00:00Z; "
                                f"got {value!r:.60}{hint}")  # fmt: skip
                return None, False
            return None
        try:
            if len(text) <= 10:
                raise ValueError("a date alone")
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
        except ValueError:
            self.fail(path, f"expected an ISO-8601 instant such as 2026-12-02T14:00:00Z, got {value!r:.60}")
            return None, False
        return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp(), False

    def pace(self, spec: Mapping[str, Any], path: KeyPath) -> tuple[PaceSpec | None, float]:
        """``time.pace`` (a factor, or ``{factor, max_lag, realtime}``) and ``time.hold_back``: wall-clock seconds."""
        value, pace = spec.get("pace"), None
        where = (*path, "pace")
        realtime: int | None = None
        if isinstance(value, dict):
            self.unknown_keys(value, where, ("factor", "max_lag", "realtime"))
            if "factor" not in value:
                self.fail((*where, "factor"), "missing: simulated seconds per wall second (1: real time)")
            factor = value.get("factor")
            max_lag = self.wall_seconds(value.get("max_lag"), (*where, "max_lag"))
            realtime = self.realtime(value.get("realtime"), (*where, "realtime"))
            where = (*where, "factor")
        else:
            factor, max_lag = value, None
        if factor is not None:
            number = self.number(factor, where, math.nan, positive=True)
            if math.isfinite(number):
                pace = PaceSpec(number, max_lag, realtime)
        hold_back = self.wall_seconds(spec.get("hold_back"), (*path, "hold_back"), zero=True) or 0.0
        if hold_back and value is None:
            self.fail((*path, "hold_back"), "has no effect on a run that is not paced: add time.pace "
                                            "(or run with --pace F)")  # fmt: skip
        return pace, hold_back

    def realtime(self, value: Any, path: KeyPath) -> int | None:
        """``time.pace.realtime``: true (priority 10), false, or a SCHED_FIFO priority 1..99."""
        if value is None or value is False:
            return None
        if value is True:
            return REALTIME_PRIORITY
        if isinstance(value, int) and 1 <= value <= 99:
            return value
        self.fail(path, f"must be true, false or a real-time priority from 1 to 99, not {value!r}")
        return None

    def wall_seconds(self, value: Any, path: KeyPath, *, zero: bool = False) -> float | None:
        """A wall-clock duration (a plain number is always seconds), positive or -- with ``zero`` -- not negative."""
        if value is None:
            return None
        try:
            seconds = parse_duration(value, "s")
        except ValueError as exc:
            self.fail(path, str(exc))
            return None
        if seconds < 0 or (seconds == 0 and not zero):
            self.fail(path, f"must be {'at least 0' if zero else 'positive'}, got {value!r}")
            return None
        return seconds

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
            self.fail((*path, "type"), f"expected a string, got {kind(ftype)}")
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
        process = self.process(spec, path, external, policy)
        return FederateSpec(
            process=process,
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

    def process(self, spec: dict[str, Any], path: KeyPath, external: bool, policy: RestartPolicy) -> str:
        """``process: own | shared | GROUP``: where a Python federate the coordinator starts runs."""
        value = spec.get("process", PROCESS_OWN)
        where = (*path, "process")
        if not isinstance(value, str) or not re.match(r"^[A-Za-z_][\w-]*$", value):
            self.fail(where, f"expected own, shared or the name of a worker group, got {value!r}")
            return PROCESS_OWN
        if value == PROCESS_OWN:
            return value
        if external or spec.get("command"):
            self.fail(where, "only Python federates the coordinator starts (a 'type', no 'command', not external) "
                             "can share a worker process")  # fmt: skip
        elif policy is not RestartPolicy.FAIL:  # scratch, and from-checkpoint: a worker restarts no member alone
            self.fail(where, f"a federate in a worker process cannot be restarted on its own (restart: "
                             f"{policy.value}); use 'process: own' with 'restart'")  # fmt: skip
        return value

    def params(self, value: Any, path: KeyPath) -> dict[str, Any]:
        params = self.mapping(value, path)
        for key in params:
            if not isinstance(key, str):
                self.fail((*path, key), f"a parameter name must be a string, got {kind(key)} {key!r}")
        return {k: v for k, v in params.items() if isinstance(k, str)}

    def restart(self, value: Any, path: KeyPath) -> tuple[RestartPolicy, int]:
        if value is None:
            return RestartPolicy.FAIL, 0
        if isinstance(value, str):
            value = {"policy": value}
        spec = self.mapping(value, path)
        self.unknown_keys(spec, path, ("policy", "limit"))
        policy = self.choice(RestartPolicy, spec.get("policy", "fail"), (*path, "policy"), None)
        if policy is None:
            return RestartPolicy.FAIL, 0
        limit = self.integer(spec.get("limit"), (*path, "limit"), 0 if policy is RestartPolicy.FAIL else 3, 0, 1000)
        return policy, limit

    def checkpoint(self, value: Any, path: KeyPath) -> float | None:
        """``checkpoint: {every: 6 h}``: the simulated time between checkpoints (docs/what-if.md)."""
        spec = self.mapping(value, path)
        self.unknown_keys(spec, path, ("every",))
        if "every" not in spec:
            self.fail(path, "expected {every: DURATION}, e.g. {every: 6 h}")
            return None
        try:
            seconds = parse_duration(spec["every"], "s")
        except ValueError as exc:
            self.fail((*path, "every"), str(exc))
            return None
        if not 0 < seconds < 1e12:
            self.fail((*path, "every"), f"must be a positive time, got {spec['every']!r}")
            return None
        return seconds

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
        for key, top in (("frame_limit", 2**31), ("max_messages_per_step", 10**9), ("max_federates", 100_000),
                         ("workers", 1024), ("steps_per_grant", 100_000)):  # fmt: skip
            if spec.get(key) is not None:
                value = self.integer(spec[key], (*path, key), 0, 1, top)
                if value:
                    out[key] = value
        if "checkpoint" in spec:
            out["checkpoint"] = self.checkpoint(spec["checkpoint"], (*path, "checkpoint"))
        if isinstance(spec.get("console"), int) and not isinstance(spec["console"], bool):
            spec = {**spec, "console": str(spec["console"])}  # a bare port
        for key in ("bind", "keys", "console", "users"):
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
                self.unknown_keys(item, path, ("connect", "from", "to", "delay", "iterate", "interpolate", "extrapolate"))
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
            interp = self.choice(Interpolation, opts.get("interpolate"), (*path, "interpolate"), Interpolation.HOLD)
            extrap = self.choice(Extrapolation, opts.get("extrapolate"), (*path, "extrapolate"), Extrapolation.CONSTANT)
            kind = ConnectionKind.ITERATE if group else ConnectionKind.DELAYED if delay else ConnectionKind.DIRECT
            out.append(Connection(*ends, kind=kind, interpolate=interp, group=group, line=self.src.line(path),
                                  extrapolate=extrap))  # fmt: skip
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
            its = self.integer(spec.get("max_iterations"), (*path, "max_iterations"), 50, 1, 10_000)
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
            self.fail((*path, "signals"), f"expected all, none, false or a list of patterns, got {kind(signals)} "
                                          f"{signals!r:.40}")  # fmt: skip
            patterns = ("*",)
        return RecordSpec(patterns, self.boolean(spec.get("messages"), (*path, "messages"), True))

    def patterns(self, items: list[Any], path: KeyPath) -> tuple[str, ...]:
        out = []
        for i, item in enumerate(items):
            if isinstance(item, str) and item.strip():
                out.append(item.strip())
            else:
                self.fail((*path, i), f"expected a pattern such as 'tank.*' or 'tank.level', got {kind(item)} {item!r:.40}")
        return tuple(out)


def parse(source: Source) -> tuple[Scenario | None, list[Problem]]:
    """Structure pass only: the scenario (when it could be built) and the problems found."""
    expand_systems(source)  # type: ssp and other system types stand for several federates
    parser = _Parser(source)
    scenario = parser.parse()
    return scenario, parser.problems


def load(file: str | Path, *, text: str | None = None, check: bool = True,
         overrides: Sequence[Override] = (), edit: Callable[[Scenario], Scenario] | None = None) -> Scenario:  # fmt: skip
    """Read, parse, apply the command line's ``overrides`` and ``edit`` and (with ``check``) validate a scenario.

    The text is parsed once and the scenario validated once: the scenario returned keeps its
    source and its federates' resolved interfaces, so the run that follows reuses them.
    ``edit`` makes the scenario that is validated from the parsed one (``--until``, ``--seed``).
    Raise :class:`ScenarioError` with every problem, those of the overrides blamed on their arguments.
    """
    source = load_source(file, text)
    set_time(source, overrides)
    scenario, problems = parse(source)
    if scenario is not None and overrides:
        scenario, unapplied = apply_overrides(scenario, overrides)
        problems += unapplied
        source.blame.update(scenario.blame)
    if scenario is not None and edit is not None and not problems:
        scenario = edit(scenario)
    if scenario is not None:
        scenario.adopt(source)
    if scenario is not None and check:
        problems += validate(scenario, source)
    if problems or scenario is None:
        raise ScenarioError(sorted(set(problems), key=lambda p: p.order))
    return scenario
