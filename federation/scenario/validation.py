"""Semantic pass over a parsed scenario: types, parameters, signals, units, cycles.

Every problem is collected (never stop at the first) and located by file, line and
key path.  :func:`declarations` is also what the coordinator uses to know each
federate's interface before it joins.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..address import BindAddress
from ..api.federate import class_parameters
from ..api.interface import Declaration, Endpoint, Input, Output, Parameter, SignalType
from ..errors import KeyPath, ParameterError, Problem, ScenarioError, format_path
from ..keys import keys_problems
from ..protocol import unsendable
from ..units import Conversion, conversion
from .graph import zero_lag_cycles
from .kpis import KpiSpec
from .model import (
    MAX_TICKS,
    Connection,
    ConnectionKind,
    EventAction,
    Extrapolation,
    FederateSpec,
    Interpolation,
    RestartPolicy,
    Scenario,
    signal_matches,
)
from .registry import FederateTypeError, resolve, user_code
from .source import Source, suggest

__all__ = ["validate", "declarations", "effective_period", "Resolved", "connection_units", "check_signal"]


@dataclass(frozen=True)
class Resolved:
    """A federate's declared interface, as the scenario's parameters make it."""

    declaration: Declaration
    problems: tuple[Problem, ...] = ()


def _declared(spec: FederateSpec) -> Declaration:
    """Interface written in the scenario for a federate without a Python class."""
    iface = spec.interface
    if iface is None:
        return Declaration()
    return Declaration(
        inputs=tuple(Input(name=n, type=t, unit=u or None) for n, (t, u) in iface.inputs.items()),
        outputs=tuple(Output(name=n, type=t, unit=u or None) for n, (t, u) in iface.outputs.items()),
        endpoints=tuple(Endpoint(name=e) for e in iface.endpoints),
    )


def resolve_one(scenario: Scenario, spec: FederateSpec, src: Source) -> Resolved:
    path: KeyPath = ("federates", spec.name)
    if spec.type is None:
        return Resolved(_declared(spec))
    try:
        cls = resolve(spec.type, scenario.directory)
    except FederateTypeError as exc:
        return Resolved(Declaration(), (src.problem((*path, "type"), str(exc)),))
    params = dict(spec.params)
    if getattr(cls, "resolves_paths", False):
        params["_base_dir"] = str(scenario.directory)
    try:
        with user_code("declare()", exceptions=False):  # and SystemExit & co. become a UserCodeError
            decl = cls.declare(params)
    except ParameterError as exc:  # every refused value, each at the line of its parameter
        return Resolved(Declaration(), tuple(_refused(spec, class_parameters(cls), exc, src)))
    except ScenarioError as exc:  # problems of a file the parameters name: located in that file
        return Resolved(Declaration(), exc.problems)
    except Exception as exc:  # the class's own code: report, never crash the validator
        msg = f"{spec.type}: {exc}" if str(exc) else f"{spec.type}: {type(exc).__name__}"
        return Resolved(Declaration(), (src.problem((*path, "params"), msg),))
    return Resolved(decl, tuple(_check_params(spec, decl.parameters, src)))


def _refused(spec: FederateSpec, declared: tuple[Parameter[Any], ...], exc: ParameterError, src: Source) -> list[Problem]:
    """The framework's checks (when the class declares its parameters) and the values the federate refused."""
    problems = _check_params(spec, declared, src) if declared else []
    typed = {p.path for p in problems}
    params: KeyPath = ("federates", spec.name, "params")
    for refused in exc.problems:
        where = (*params, *refused.key)
        if not refused.key or format_path(where[: len(params) + 1]) not in typed:  # a wrong type says it first
            problems.append(src.problem(where, refused.message))
    return problems


def _check_params(spec: FederateSpec, parameters: tuple[Parameter[Any], ...], src: Source) -> list[Problem]:
    """The framework's checks of ``params:``: unknown names, wrong types, missing required ones."""
    path: KeyPath = ("federates", spec.name)
    problems = []
    known = {p.name: p for p in parameters}
    for key, value in spec.params.items():
        if key not in known:
            problems.append(src.problem((*path, "params", key), f"federate '{spec.name}' has no parameter '{key}'"
                                                                + suggest(key, known)))  # fmt: skip
            continue
        bad = known[key].check(value)
        if bad:
            problems.append(src.problem((*path, "params", key), f"wrong type: {bad}"))
    for p in parameters:
        if p.required and p.name not in spec.params:
            problems.append(src.problem((*path, "params"), f"missing parameter '{p.name}' ({p.doc or p.unit or 'required'})"))
    return problems


def declarations(scenario: Scenario, src: Source | None = None) -> dict[str, Resolved]:
    """Every federate's interface, resolved once per scenario object (imports and ``declare()`` are not free)."""
    memo: dict[str, Resolved] | None = scenario.__dict__.get(_RESOLVED)
    if memo is not None and src in (None, scenario.source()):
        return memo
    src = src or scenario.source()
    resolved = {name: resolve_one(scenario, spec, src) for name, spec in scenario.federates.items()}
    if src is scenario.source():
        scenario.__dict__[_RESOLVED] = resolved
    return resolved


_RESOLVED, _PROBLEMS = "_resolved", "_problems"  # instance-dict memos, as Scenario.source()'s


def effective_period(spec: FederateSpec, decl: Declaration) -> float | None:
    return spec.period if spec.period is not None else decl.period


def validate(scenario: Scenario, src: Source, resolved: dict[str, Resolved] | None = None) -> list[Problem]:
    """Every problem of ``scenario``; one pass per scenario object when ``src`` is its own source."""
    own = src is scenario.source()
    memo: list[Problem] | None = scenario.__dict__.get(_PROBLEMS) if own else None
    if memo is not None:
        return list(memo)
    problems = _validate(scenario, src, resolved if resolved is not None else declarations(scenario, src))
    if own:
        scenario.__dict__[_PROBLEMS] = tuple(problems)
    return problems


def _validate(scenario: Scenario, src: Source, resolved: dict[str, Resolved]) -> list[Problem]:
    problems: list[Problem] = [p for r in resolved.values() for p in r.problems]
    if len(scenario.federates) > scenario.coordinator.max_federates:
        problems.append(src.problem(("federates",), f"{len(scenario.federates)} federates exceed the limit of "
                                                    f"{scenario.coordinator.max_federates} (coordinator.max_federates)"))  # fmt: skip
    problems += _check_values(scenario, src)
    problems += _check_network(scenario, src)
    problems += _check_timing(scenario, src, resolved)
    problems += _check_connections(scenario, src, resolved)
    problems += _check_routes(scenario, src, resolved)
    problems += _check_events(scenario, src, resolved)
    problems += _check_groups(scenario, src, resolved)
    problems += _check_record(scenario, src, resolved)
    problems += _check_decisions(scenario, src, resolved)
    problems += _check_results(scenario, src, resolved)
    if scenario.synchronise:
        problems += _check_synchronisation(scenario, src, resolved)
    for cycle in zero_lag_cycles(scenario):
        problems.append(src.problem(("connections",), "cycle of direct connections: " + " -> ".join(cycle)
                                    + " (make one of them 'delay: true' or put them in an iterate group)"))  # fmt: skip
    return problems


def _check_synchronisation(scenario: Scenario, src: Source, resolved: dict[str, Resolved]) -> list[Problem]:
    """The ``synchronise:`` section (docs/synchronise.md): both ends, the methods' settings, no new cycle."""
    from .synchronisation import check_pairs, cycle_problems

    decls = {n: r.declaration for n, r in resolved.items()}
    pairs, problems = check_pairs(scenario.synchronise, src, decls, scenario)
    return problems + ([] if problems else cycle_problems(scenario, pairs, src))


def _check_decisions(scenario: Scenario, src: Source, resolved: dict[str, Resolved]) -> list[Problem]:
    """Every class of ``decisions.require_approval`` is an endpoint a federate declares (docs/decisions.md)."""
    endpoints = {n: {e.name for e in r.declaration.endpoints} for n, r in resolved.items()}
    out = []
    for i, cls in enumerate(scenario.decisions.classes):
        fed, _, endpoint = cls.partition(".")
        if fed not in endpoints or endpoint not in endpoints[fed]:
            out.append(src.problem(("decisions", "require_approval", i), f"no endpoint '{cls}' in the scenario"))
    return out


Outputs = Mapping[str, Mapping[str, Output[Any]] | None]
"""Federate -> its outputs by name; None for a federate whose interface could not be resolved."""
_NUMERIC = (SignalType.FLOAT, SignalType.INT, SignalType.BOOL, SignalType.ANY)


def _check_results(scenario: Scenario, src: Source, resolved: dict[str, Resolved]) -> list[Problem]:
    """The signals of ``kpis:`` and ``report:`` are recorded numeric outputs; a KPI's list is in one unit."""
    if not scenario.kpis and not scenario.report.panels:
        return []
    outputs: Outputs = {n: None if r.problems and r.declaration == Declaration() else {o.name: o for o in r.declaration.outputs}
                        for n, r in resolved.items()}  # fmt: skip
    recorded = scenario.record.signals
    out = []
    for kpi in scenario.kpis:
        for i, signal in enumerate(kpi.signals):
            out += check_signal(signal, kpi.signal_path(i), src, outputs, recorded, "a KPI")
        if len(kpi.signals) > 1:
            out += _check_kpi_units(kpi, outputs, ("kpis", kpi.name, "signal"), src)
    for panel in scenario.report.panels:
        for j, signal in enumerate(panel.signals):
            out += check_signal(signal, ("report", "panels", panel.index, "signals", j), src, outputs, recorded, "a plot")
    return out


def check_signal(signal: str, path: KeyPath, src: Source, outputs: Outputs | None, recorded: Sequence[str] | None,
                 user: str) -> list[Problem]:  # fmt: skip
    """Problems with ``signal`` as a recorded numeric output; ``user`` ("a KPI") is who needs it."""
    fed, dot, name = signal.partition(".")
    if not dot or not fed or not name:
        return [src.problem(path, f"expected 'federate.output', got {signal!r}")]
    if outputs is None:
        return []
    if fed not in outputs:
        return [src.problem(path, f"unknown federate '{fed}'" + suggest(fed, outputs))]
    declared = outputs[fed]
    if declared is None:  # the federate's own problems are reported elsewhere
        return []
    out = declared.get(name)
    if out is None:
        return [src.problem(path, f"federate '{fed}' has no output '{name}'" + suggest(name, declared))]
    if out.type not in _NUMERIC:
        return [src.problem(path, f"{signal} is a {out.type.value} signal; {user} needs a number or a bool")]
    if recorded is not None and not any(signal_matches(p, signal) for p in recorded):
        return [src.problem(path, f"{signal} is not recorded (see 'record: signals'), so {user} cannot use it")]
    return []


def _check_kpi_units(spec: KpiSpec, outputs: Outputs, path: KeyPath, src: Source) -> list[Problem]:
    units: dict[str, str] = {}
    for signal in spec.signals:
        fed, _, name = signal.partition(".")
        out = (outputs.get(fed) or {}).get(name)
        if out is not None:
            units.setdefault(out.unit or "", signal)
    if len(units) < 2:
        return []
    mixed = ", ".join(f"{signal} in '{unit or '-'}'" for unit, signal in units.items())
    return [src.problem(path, f"'combine: {spec.combine.value}' mixes units: {mixed}")]


def _check_values(scenario: Scenario, src: Source) -> list[Problem]:
    """What the scenario hands to federates must fit the wire: parameters (in WELCOME) and event values."""
    out = []
    for name, spec in scenario.federates.items():
        for key, value in spec.params.items():
            out += _unsendable(value, ("federates", name, "params", key), src)
    for i, ev in enumerate(scenario.events):
        out += _unsendable(ev.value, ("events", i, "value" if ev.action is EventAction.SET else "payload"), src)
    return out


def _unsendable(value: Any, path: KeyPath, src: Source) -> list[Problem]:
    found = unsendable(value)
    return [] if found is None else [src.problem((*path, *found[0]), found[1])]


def _check_network(scenario: Scenario, src: Source) -> list[Problem]:
    """``coordinator.bind`` is an address the coordinator can listen on; beyond loopback it needs usable keys."""
    spec = scenario.coordinator
    out = []
    address = None
    if spec.bind is not None:
        try:
            address = BindAddress.parse(spec.bind)
        except ValueError as exc:
            out.append(src.problem(("coordinator", "bind"), str(exc)))
    if spec.keys is None:
        if address is not None and not address.loopback:
            out.append(src.problem(("coordinator", "bind"), f"listening on {spec.bind}, beyond loopback, needs "
                                                            "CurveZMQ keys (coordinator.keys, or --keys DIR; make "
                                                            "them with 'federation keys DIR NAME ...')"))  # fmt: skip
        return out
    folder = Path(spec.keys)
    external = [name for name, fed in scenario.federates.items() if fed.external]
    for message in keys_problems(folder if folder.is_absolute() else scenario.directory / folder, external):
        out.append(src.problem(("coordinator", "keys"), message))
    return out


def _check_timing(scenario: Scenario, src: Source, resolved: dict[str, Resolved]) -> list[Problem]:
    base = scenario.time.base
    out = []
    for name, spec in scenario.federates.items():
        period = effective_period(spec, resolved[name].declaration)
        needs_period = resolved[name].declaration.extra.get("needs_period")
        if period is None and needs_period:  # a time-stepped federate whose step nobody gave
            out.append(src.problem(("federates", name, "params"), str(needs_period)))
        for key, value in (("period", period), ("offset", spec.offset)):
            if value is not None and _too_long(value, scenario):
                out.append(src.problem(("federates", name, key),
                                       f"{value:g} s is too many ticks of {scenario.time.resolution:g} s"))  # fmt: skip
                continue
            if value is not None and not base.exact(value):
                out.append(src.problem(("federates", name, key),
                                       f"{value:g} s is not a whole number of ticks of {scenario.time.resolution:g} s"))  # fmt: skip
            if key == "period" and value is not None and base.ticks(value) < 1:
                out.append(src.problem(("federates", name, key), f"{value:g} s is shorter than one tick"))
        known = not resolved[name].problems or resolved[name].declaration != Declaration()
        if period is None and spec.offset > 0 and known:
            out.append(src.problem(("federates", name, "offset"), "an event-driven federate (no period) ignores "
                                                                  "an offset; give it a period or remove the offset"))  # fmt: skip
    return out


def _too_long(seconds: float, scenario: Scenario) -> bool:
    """Whether a duration is not finite or lasts more ticks than the wire can carry."""
    return not math.isfinite(seconds) or abs(seconds) / scenario.time.resolution > MAX_TICKS


def _signal(kind: str, fed: str, name: str, decl: Declaration, spec_ok: bool) -> tuple[Any, str]:
    sig = decl.output(name) if kind == "output" else decl.input(name)
    if sig is not None or not spec_ok:
        return sig, ""
    names = [s.name for s in (decl.outputs if kind == "output" else decl.inputs)]
    return None, f"federate '{fed}' has no {kind} '{name}'" + suggest(name, names)


def _check_connections(scenario: Scenario, src: Source, resolved: dict[str, Resolved]) -> list[Problem]:
    out = []
    fed_by: dict[tuple[str, str], int] = {}
    for i, c in enumerate(scenario.connections):
        path: KeyPath = ("connections", i)
        ok = True
        for fed in (c.source, c.target):
            if fed not in scenario.federates:
                out.append(src.problem(path, f"unknown federate '{fed}'" + suggest(fed, scenario.federates)))
                ok = False
        if not ok:
            continue
        def healthy(f: str) -> bool:
            return not resolved[f].problems or resolved[f].declaration != Declaration()

        outsig, msg1 = _signal("output", c.source, c.output, resolved[c.source].declaration, healthy(c.source))
        insig, msg2 = _signal("input", c.target, c.input, resolved[c.target].declaration, healthy(c.target))
        out += [src.problem(path, m) for m in (msg1, msg2) if m]
        if (c.target, c.input) in fed_by:
            out.append(src.problem(path, f"input {c.target}.{c.input} already has a source (connections[{fed_by[(c.target, c.input)]}])"))
        fed_by[(c.target, c.input)] = i
        if c.group and c.group not in scenario.groups:
            out.append(src.problem((*path, "iterate"), f"no iterate group '{c.group}' under 'iterate:'" + suggest(c.group, scenario.groups)))
        if c.kind is not ConnectionKind.DIRECT and c.interpolate is Interpolation.LINEAR:
            which = "a delayed" if c.kind is ConnectionKind.DELAYED else "an iterated"
            out.append(src.problem(path, f"linear interpolation needs a direct connection, not {which} one"))
        out += _check_extrapolation(c, src, path)
        if outsig is not None and insig is not None:
            out += _check_units(c, src, path, resolved, outsig, insig)
            if not _types_fit(outsig.type, insig.type):
                out.append(src.problem(path, f"type mismatch: {outsig.type.value} output into {insig.type.value} input"))
            if c.interpolate is Interpolation.LINEAR and outsig.type is not SignalType.FLOAT:
                out.append(src.problem(path, f"linear interpolation needs a float signal, not {outsig.type.value}"))
            if c.extrapolate is Extrapolation.LINEAR and outsig.type is not SignalType.FLOAT:
                out.append(src.problem(path, f"linear extrapolation needs a float signal, not {outsig.type.value}"))
    return out


def _check_extrapolation(c: Connection, src: Source, path: KeyPath) -> list[Problem]:
    if c.extrapolate is not Extrapolation.LINEAR:
        return []
    if c.interpolate is Interpolation.LINEAR:
        return [src.problem(path, "a connection interpolates or extrapolates, not both")]
    return []


_CONVERTS_FROM = (SignalType.FLOAT, SignalType.INT, SignalType.ARRAY)
_CONVERTS_INTO = (SignalType.FLOAT, SignalType.ARRAY, SignalType.ANY)  # a converted int is a float


def connection_units(c: Connection, resolved: dict[str, Resolved]) -> Conversion | None:
    """The unit conversion of connection ``c`` (None when its ends have the same unit, or one has none);
    raises ValueError when the units do not convert."""
    outsig = resolved[c.source].declaration.output(c.output)
    insig = resolved[c.target].declaration.input(c.input)
    if outsig is None or insig is None or not outsig.unit or not insig.unit or outsig.unit == insig.unit:
        return None
    found = conversion(outsig.unit, insig.unit, resolved[c.source].declaration.extra.get("units"),
                       resolved[c.target].declaration.extra.get("units"))  # fmt: skip
    return None if found.identity else found


def _check_units(c: Connection, src: Source, path: KeyPath, resolved: dict[str, Resolved], outsig: Output[Any],
                 insig: Input[Any]) -> list[Problem]:  # fmt: skip
    try:
        found = connection_units(c, resolved)
    except ValueError as exc:
        return [src.problem(path, f"units do not convert: {c.source}.{c.output} is in '{outsig.unit}' but "
                                  f"{c.target}.{c.input} expects '{insig.unit}' ({exc})")]  # fmt: skip
    if found is not None and (outsig.type not in _CONVERTS_FROM or insig.type not in _CONVERTS_INTO):
        return [src.problem(path, f"{c.source}.{c.output} in '{outsig.unit}' into {c.target}.{c.input} in "
                                  f"'{insig.unit}': a unit conversion makes floats, from {outsig.type.value} into "
                                  f"{insig.type.value}")]  # fmt: skip
    return []


def _types_fit(a: SignalType, b: SignalType) -> bool:
    if SignalType.ANY in (a, b) or a is b:
        return True
    return (a, b) in {(SignalType.INT, SignalType.FLOAT), (SignalType.BOOL, SignalType.FLOAT)}


def _check_routes(scenario: Scenario, src: Source, resolved: dict[str, Resolved]) -> list[Problem]:
    out = []
    for i, r in enumerate(scenario.routes):
        path: KeyPath = ("messages", i)
        for fed, ep in ((r.source, r.endpoint), (r.target, r.target_endpoint)):
            if fed not in scenario.federates:
                out.append(src.problem(path, f"unknown federate '{fed}'" + suggest(fed, scenario.federates)))
            elif resolved[fed].declaration.endpoint(ep) is None and not resolved[fed].problems:
                names = [e.name for e in resolved[fed].declaration.endpoints]
                out.append(src.problem(path, f"federate '{fed}' has no endpoint '{ep}'" + suggest(ep, names)))
        if r.lookahead < 0:
            out.append(src.problem((*path, "lookahead"), "must not be negative"))
        elif _too_long(r.lookahead, scenario):
            out.append(src.problem((*path, "lookahead"),
                                   f"{r.lookahead:g} s is too many ticks of {scenario.time.resolution:g} s"))  # fmt: skip
    return out


def _check_events(scenario: Scenario, src: Source, resolved: dict[str, Resolved]) -> list[Problem]:
    out = []
    connected = {(c.target, c.input) for c in scenario.connections}
    t = scenario.time
    for i, ev in enumerate(scenario.events):
        path: KeyPath = ("events", i)
        if not t.start <= ev.at <= t.stop:
            out.append(src.problem((*path, "at"), f"{ev.at:g} s is outside the run [{t.start:g}, {t.stop:g}] s"))
        if ev.federate not in scenario.federates:
            out.append(src.problem(path, f"unknown federate '{ev.federate}'" + suggest(ev.federate, scenario.federates)))
            continue
        decl = resolved[ev.federate].declaration
        if ev.action is EventAction.SET:
            sig = decl.input(ev.name)
            if sig is None:
                out.append(src.problem((*path, "set"), f"federate '{ev.federate}' has no input '{ev.name}'"
                                       + suggest(ev.name, [s.name for s in decl.inputs])))  # fmt: skip
            elif (ev.federate, ev.name) in connected:
                out.append(src.problem((*path, "set"), f"input {ev.federate}.{ev.name} is connected; events set only free inputs"))
            elif not sig.type.accepts(ev.value):
                out.append(src.problem((*path, "value"), f"expected {sig.type.value}, got {ev.value!r}"))
        elif decl.endpoint(ev.name) is None:
            out.append(src.problem((*path, "send"), f"federate '{ev.federate}' has no endpoint '{ev.name}'"
                                   + suggest(ev.name, [e.name for e in decl.endpoints])))  # fmt: skip
    return out


def _check_record(scenario: Scenario, src: Source, resolved: dict[str, Resolved]) -> list[Problem]:
    """Each pattern under ``record: signals`` must name at least one output."""
    if any(r.problems and r.declaration == Declaration() for r in resolved.values()):
        return []  # some interface is unknown: a pattern may be meant for it
    outputs = {f"{name}.{o.name}": o for name, r in resolved.items() for o in r.declaration.outputs}
    out = []
    for i, pattern in enumerate(scenario.record.signals):
        if not outputs or any(signal_matches(pattern, name) for name in outputs):
            continue
        whole = re.sub(r"\[\d+\]$", "", pattern)
        if whole != pattern and whole in outputs and outputs[whole].type is SignalType.ARRAY:
            hint = f"; an array signal is recorded whole: record '{whole}'"
        else:
            hint = suggest(pattern, outputs)
        out.append(src.problem(("record", "signals", i), f"'{pattern}' matches no signal{hint}"))
    return out


def _check_groups(scenario: Scenario, src: Source, resolved: dict[str, Resolved]) -> list[Problem]:
    out = []
    group_of: dict[str, str] = {}
    for i, c in enumerate(scenario.connections):
        for fed in (c.source, c.target) if c.group else ():
            if group_of.setdefault(fed, c.group) != c.group:  # type: ignore[arg-type]
                out.append(src.problem(("connections", i), f"federate '{fed}' is in iterate groups "
                                                           f"'{group_of[fed]}' and '{c.group}'; a federate can "
                                                           "be in one group only (merge them)"))  # fmt: skip
    for name in scenario.groups:
        members = sorted({f for c in scenario.connections if c.group == name for f in (c.source, c.target)})
        members = [m for m in members if m in scenario.federates]
        if not members:
            out.append(src.problem(("iterate", name), "no connection uses this group"))
            continue
        for m in members:
            if scenario.federates[m].restart is RestartPolicy.SCRATCH:
                out.append(src.problem(("federates", m, "restart"), f"'{m}' is a member of iterate group '{name}', "
                                                                    "which steps as one and cannot restart a member"))  # fmt: skip
            if resolved[m].declaration.extra.get("restartable") is False:
                out.append(src.problem(("iterate", name), f"member '{m}' cannot save and restore its state "
                                                          "(e.g. an FMU without canGetAndSetFMUstate), so it cannot "
                                                          "be re-stepped in an iterate group; use a delayed connection"))  # fmt: skip
        for i, c in enumerate(scenario.connections):
            if c.group != name and c.source in members and c.target in members:
                out.append(src.problem(("connections", i), f"{c} joins two members of iterate group '{name}'; "
                                                           f"mark it 'iterate: {name}' too"))  # fmt: skip
        timings = {(effective_period(scenario.federates[m], resolved[m].declaration), scenario.federates[m].offset)
                   for m in members}  # fmt: skip
        if len(timings) > 1 or next(iter(timings))[0] is None:
            out.append(src.problem(("iterate", name), f"members {', '.join(members)} must be time-stepped "
                                                      "with the same period and offset"))  # fmt: skip
    return out
