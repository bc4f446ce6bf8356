"""The ``synchronise:`` section: measured signals paired with correctable model states.

Each item pairs a measured signal (any numeric output, e.g. a player's or mqtt-in's) with a
:class:`~federation.State` of a Python federate, names a correction method and its settings,
and the limits that judge the measurement and the residual (docs/synchronise.md)::

    synchronise:
      - pair: gauges.reservoir_level -> flood.reservoir_level
        method: nudge            # insert | nudge | kalman | observe
        tau: 30 min
        acceptable: 0.05         # |model - measurement| beyond it is an alarm
        stale_after: 15 min      # a measurement older than this is not used (and flagged)
        max_jump: 0.5            # a measurement jumping more than this is rejected (and counted)
        blind_after: 1 h         # no measurement for this long: a "blind" alarm
        alarm: ops.alarms        # where the alarm messages go

How a pair runs: the plan turns it into an ordinary direct connection from the measured
output into a hidden input of the model federate (:func:`measured_input`), a hidden output
that carries the correction records to the recorder (:data:`RECORD_OUTPUT`) and a hidden
endpoint routed to ``alarm`` (:data:`ALARM_ENDPOINT`); the federate's runtime corrects the
state after its step (:mod:`federation.engine.synchroniser`).
"""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping

from ..api.interface import Declaration, Endpoint, Input, Output, SignalType, State
from ..errors import KeyPath, Problem
from .model import Connection, Route, Scenario, parse_duration
from .source import Source, suggest

__all__ = [
    "ALARM_ENDPOINT",
    "AlarmKind",
    "SyncStatus",
    "RECORD_OUTPUT",
    "SECTION",
    "SyncMethod",
    "SyncPair",
    "augment",
    "drawn",
    "measured_input",
    "parse_synchronisation",
    "sync_pairs",
    "with_synchronisation",
]

SECTION = "synchronise"
RECORD_OUTPUT = "~sync"
"""Hidden output of a synchronised federate: the correction records of a step (to the recorder)."""
ALARM_ENDPOINT = "~alarms"
"""Hidden endpoint of a synchronised federate: its residual and blind alarms."""


def measured_input(state: str) -> str:
    """The hidden input of the model federate that the measurement of ``state`` flows into."""
    return f"{state}~measured"


class SyncMethod(str, enum.Enum):
    INSERT = "insert"  # the state takes the measured value
    NUDGE = "nudge"  # x += (1 - exp(-dt/tau)) (m - x) over the step
    KALMAN = "kalman"  # scalar Kalman update with model and measurement variances
    OBSERVE = "observe"  # residuals and alarms only, no correction


class SyncStatus(str, enum.Enum):
    CORRECTED = "corrected"  # a new measurement, accepted and applied
    OBSERVED = "observed"  # a new measurement, accepted; method observe: no correction
    HELD = "held"  # nudging towards the last accepted measurement, no new one this step
    IMPLAUSIBLE = "implausible"  # a new measurement rejected: it jumped more than max_jump
    STALE = "stale"  # the last accepted measurement became older than stale_after: no longer used
    BLIND = "blind"  # no new measurement for blind_after


class AlarmKind(str, enum.Enum):
    RESIDUAL = "residual"  # |model - measurement| beyond the acceptable difference
    CLEARED = "cleared"  # back within it
    BLIND = "blind"  # no measurement for blind_after
    SIGHTED = "sighted"  # measurements again after a blind alarm


_COMMON = ("pair", "from", "to", "method", "acceptable", "stale_after", "max_jump", "blind_after", "alarm")
_SETTINGS = {
    SyncMethod.INSERT: (),
    SyncMethod.NUDGE: ("tau",),
    SyncMethod.KALMAN: ("model_variance", "measurement_variance", "initial_variance"),
    SyncMethod.OBSERVE: (),
}
_REQUIRED = {SyncMethod.NUDGE: ("tau",), SyncMethod.KALMAN: ("model_variance", "measurement_variance")}


@dataclass(frozen=True)
class SyncPair:
    """One measured signal paired with one correctable state (times in seconds, values in the state's unit)."""

    id: int
    source: str  # federate of the measurement
    output: str
    target: str  # federate of the state
    state: str
    method: SyncMethod = SyncMethod.INSERT
    tau: float | None = None  # nudge: seconds
    model_variance: float | None = None  # kalman: the model's error variance gained per second (unit^2/s)
    measurement_variance: float | None = None  # kalman: unit^2
    initial_variance: float | None = None  # kalman: unit^2 at the start (default: measurement_variance)
    acceptable: float | None = None  # |residual| beyond it raises an alarm
    stale_after: float | None = None  # seconds
    max_jump: float | None = None  # unit
    blind_after: float | None = None  # seconds
    alarm: str | None = None  # "federate.endpoint"
    unit: str = ""
    line: int = 0

    @property
    def measured(self) -> str:
        return f"{self.source}.{self.output}"

    @property
    def model(self) -> str:
        return f"{self.target}.{self.state}"

    def __str__(self) -> str:
        return f"{self.measured} -> {self.model}"

    def to_wire(self) -> dict[str, Any]:
        """The pair as the WELCOME frame carries it to the model federate."""
        out = asdict(self)
        out["method"] = self.method.value
        return out

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> SyncPair:
        return cls(**{**data, "method": SyncMethod(data["method"])})


# ----------------------------------------------------------------------------- parsing
def parse_synchronisation(data: Any, src: Source, declarations: Mapping[str, Declaration] | None = None,
                          scenario: Scenario | None = None) -> tuple[tuple[SyncPair, ...], list[Problem]]:  # fmt: skip
    """The pairs of a ``synchronise:`` section and every problem with it.

    With ``declarations`` (federate -> its interface, absent when unknown) both ends are
    checked: the measured output exists and is numeric, the model end is a :class:`State`,
    the units agree, the alarm endpoint exists; with ``scenario`` the federates' kinds too.
    """
    problems: list[Problem] = []
    if data is None:
        return (), problems
    if not isinstance(data, list):
        return (), [src.problem((SECTION,), "expected a list of pairs such as "
                                            "{pair: 'gauges.level -> flood.reservoir_level', method: nudge, tau: 1 h}")]  # fmt: skip
    pairs: list[SyncPair] = []
    for i, item in enumerate(data):
        pair = _parse_one(i, item, src, problems)
        if pair is not None:
            pairs.append(pair)
    seen: dict[str, int] = {}
    for pair in pairs:
        if pair.model in seen:
            problems.append(src.problem((SECTION, pair.id), f"state {pair.model} is already synchronised "
                                                            f"({SECTION}[{seen[pair.model]}]); a state takes one measurement"))  # fmt: skip
        seen.setdefault(pair.model, pair.id)
    if declarations is not None:
        checked = []
        for pair in pairs:
            pair, found = _check_ends(pair, src, declarations, scenario)
            problems += found
            checked.append(pair)
        pairs = checked
    return tuple(pairs), problems


def _parse_one(i: int, item: Any, src: Source, problems: list[Problem]) -> SyncPair | None:
    path: KeyPath = (SECTION, i)
    if isinstance(item, str):
        item = {"pair": item}
    if not isinstance(item, dict):
        problems.append(src.problem(path, "expected a mapping {pair: 'sensor.output -> federate.state', method: ...}"))
        return None
    text = item.get("pair")
    if text is None and "from" in item and "to" in item:
        text = f"{item['from']} -> {item['to']}"
    ends = _arrow(text)
    if ends is None:
        problems.append(src.problem(path if text is None else (*path, "pair"),
                                    f"expected pair: 'sensor.output -> federate.state', got {text!r:.60}"))  # fmt: skip
        return None
    try:
        method = SyncMethod(item.get("method", SyncMethod.INSERT.value))
    except (ValueError, TypeError):  # TypeError: an unhashable value (a list, a mapping)
        known = [m.value for m in SyncMethod]
        problems.append(src.problem((*path, "method"), f"unknown method {item.get('method')!r:.40}"
                                                       + suggest(str(item.get("method")), known)))  # fmt: skip
        return None
    allowed = (*_COMMON, *_SETTINGS[method])
    everything = sorted({*_COMMON, *(k for keys in _SETTINGS.values() for k in keys)})
    for key in item:
        if key not in allowed:
            why = (f"'{key}' is a setting of another method, not of '{method.value}'" if key in everything
                   else f"unknown key{suggest(str(key), everything)}")  # fmt: skip
            problems.append(src.problem((*path, key), why))
    for key in _REQUIRED.get(method, ()):
        if key not in item:
            problems.append(src.problem(path, f"method '{method.value}' needs '{key}'"))
    values: dict[str, float | None] = {}
    for key in ("tau", "stale_after", "blind_after"):
        values[key] = _duration(item.get(key), (*path, key), src, problems)
    for key in ("model_variance", "measurement_variance", "initial_variance", "acceptable", "max_jump"):
        values[key] = _positive(item.get(key), (*path, key), src, problems, zero=key == "model_variance")
    alarm = item.get("alarm")
    if alarm is not None and (not isinstance(alarm, str) or alarm.count(".") < 1 or alarm.startswith(".")):
        problems.append(src.problem((*path, "alarm"), f"expected 'federate.endpoint', got {alarm!r:.40}"))
        alarm = None
    return SyncPair(i, *ends, method=method, alarm=alarm, line=src.line(path), **values)  # type: ignore[arg-type]


def _arrow(text: Any) -> tuple[str, str, str, str] | None:
    if not isinstance(text, str) or text.count("->") != 1:
        return None
    left, right = (side.strip() for side in text.split("->"))
    a, dot1, b = left.partition(".")
    c, dot2, d = right.partition(".")
    if not (dot1 and dot2 and a and b and c and d) or any(" " in x for x in (a, b, c, d)):
        return None
    return a, b, c, d


def _duration(value: Any, path: KeyPath, src: Source, problems: list[Problem]) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        problems.append(src.problem(path, str(exc)))
        return None
    if not seconds > 0:
        problems.append(src.problem(path, f"must be positive, got {value!r}"))
        return None
    return seconds


def _positive(value: Any, path: KeyPath, src: Source, problems: list[Problem], *, zero: bool = False) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.append(src.problem(path, f"expected a finite number, got {value!r:.40}"))
        return None
    if not (value >= 0 if zero else value > 0):
        problems.append(src.problem(path, f"must be {'non-negative' if zero else 'positive'}, got {value!r}"))
        return None
    return float(value)


def _check_ends(pair: SyncPair, src: Source, declarations: Mapping[str, Declaration],
                scenario: Scenario | None) -> tuple[SyncPair, list[Problem]]:  # fmt: skip
    path: KeyPath = (SECTION, pair.id)
    out: list[Problem] = []
    measured: Output[Any] | None = None
    state: Output[Any] | None = None
    for fed in (pair.source, pair.target):
        if fed not in declarations:
            out.append(src.problem((*path, "pair"), f"unknown federate '{fed}'" + suggest(fed, declarations)))
    if pair.source == pair.target:
        out.append(src.problem((*path, "pair"), f"'{pair.source}' cannot measure itself; the measurement comes "
                                                "from another federate (a player, mqtt-in, a sensor model)"))  # fmt: skip
    decl = declarations.get(pair.source)
    if decl is not None and decl != Declaration():
        measured = decl.output(pair.output)
        if measured is None:
            out.append(src.problem((*path, "pair"), f"federate '{pair.source}' has no output '{pair.output}'"
                                                    + suggest(pair.output, [o.name for o in decl.outputs])))  # fmt: skip
        elif measured.type not in (SignalType.FLOAT, SignalType.INT, SignalType.ANY):
            out.append(src.problem((*path, "pair"), f"the measurement {pair.measured} is {measured.type.value}; "
                                                    "it must be a number"))  # fmt: skip
    decl = declarations.get(pair.target)
    if decl is not None and decl != Declaration():
        state = decl.output(pair.state)
        correctable = [o.name for o in decl.outputs if isinstance(o, State)]
        if state is None or not isinstance(state, State):
            what = "no output" if state is None else "an output that is not a correctable state:"
            hint = suggest(pair.state, correctable) if correctable else " (it declares no correctable State)"
            note = decl.extra.get("correctable_note")
            hint += f"; {note}" if note and state is not None else ""
            out.append(src.problem((*path, "pair"), f"federate '{pair.target}' has {what} '{pair.state}'{hint}"))
            state = None
    if measured is not None and state is not None and measured.unit and state.unit and measured.unit != state.unit:
        out.append(src.problem((*path, "pair"), f"unit mismatch: {pair.measured} is in '{measured.unit}' but "
                                                f"{pair.model} is in '{state.unit}' (convert it at the source, "
                                                "e.g. the player's source_unit)"))  # fmt: skip
    if pair.alarm is not None:
        fed, _, endpoint = pair.alarm.partition(".")
        decl = declarations.get(fed)
        if decl is None:
            out.append(src.problem((*path, "alarm"), f"unknown federate '{fed}'" + suggest(fed, declarations)))
        elif decl != Declaration() and decl.endpoint(endpoint) is None:
            out.append(src.problem((*path, "alarm"), f"federate '{fed}' has no endpoint '{endpoint}'"
                                                     + suggest(endpoint, [e.name for e in decl.endpoints])))  # fmt: skip
    if scenario is not None and pair.target in scenario.federates:
        spec = scenario.federates[pair.target]
        if spec.type is None:
            out.append(src.problem((*path, "pair"), f"'{pair.target}' is not a Python federate; only the federate "
                                                    "runtime applies corrections"))  # fmt: skip
        if any(c.group and pair.target in (c.source, c.target) for c in scenario.connections):
            out.append(src.problem((*path, "pair"), f"'{pair.target}' is in an iterate group, whose members are "
                                                    "re-stepped; it cannot be synchronised"))  # fmt: skip
    unit = (state.unit if state is not None else None) or ""
    return replace(pair, unit=unit), out


# ----------------------------------------------------------------------------- the plan's view
def sync_pairs(scenario: Scenario, declarations: Mapping[str, Declaration]) -> tuple[SyncPair, ...]:
    """The pairs of a validated scenario, with their states' units."""
    if SECTION not in scenario.options:
        return ()
    pairs, _ = parse_synchronisation(scenario.options[SECTION], scenario.source(), declarations)
    return pairs


def drawn(scenario: Scenario) -> Scenario:
    """``scenario`` with its pairs' connections, for ``federation graph`` (labelled ``output->STATE~measured``)."""
    if SECTION not in scenario.options:
        return scenario
    pairs, _ = parse_synchronisation(scenario.options[SECTION], scenario.source())
    return with_synchronisation(scenario, pairs)


def augment(declaration: Declaration, pairs: tuple[SyncPair, ...]) -> Declaration:
    """The model federate's interface with the hidden input, output and endpoint of its ``pairs``."""
    if not pairs:
        return declaration
    units = {o.name: o.unit for o in declaration.outputs}
    inputs = tuple(Input(name=measured_input(p.state), unit=units.get(p.state), default=None, type=object)
                   for p in pairs)  # fmt: skip
    return replace(declaration, inputs=declaration.inputs + inputs,
                   outputs=(*declaration.outputs, Output(name=RECORD_OUTPUT, default=None, type=object)),
                   endpoints=(*declaration.endpoints, Endpoint(name=ALARM_ENDPOINT)))  # fmt: skip


def with_synchronisation(scenario: Scenario, pairs: tuple[SyncPair, ...]) -> Scenario:
    """``scenario`` with each pair's connection (measurement -> hidden input) and alarm route."""
    if not pairs:
        return scenario
    connections = tuple(Connection(p.source, p.output, p.target, measured_input(p.state), line=p.line) for p in pairs)
    routes = {(p.target, p.alarm): _alarm_route(p, p.alarm) for p in pairs if p.alarm is not None}
    return replace(scenario, connections=scenario.connections + connections,
                   routes=scenario.routes + tuple(routes.values()))  # fmt: skip


def _alarm_route(pair: SyncPair, alarm: str) -> Route:
    fed, _, endpoint = alarm.partition(".")
    return Route(pair.target, ALARM_ENDPOINT, fed, endpoint, line=pair.line)


def cycle_problems(scenario: Scenario, pairs: tuple[SyncPair, ...], src: Source) -> list[Problem]:
    """Cycles of direct dependencies that only the pairs' connections close."""
    from .graph import zero_lag_cycles  # networkx: not in a federate's runtime, which imports this module

    if not pairs:
        return []
    before = {tuple(c) for c in zero_lag_cycles(scenario)}
    found = [c for c in zero_lag_cycles(with_synchronisation(scenario, pairs)) if tuple(c) not in before]
    return [src.problem((SECTION,), "a measurement that depends on its own model without delay: " + " -> ".join(c)
                        + " (delay a connection between them)") for c in found]  # fmt: skip
