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
from dataclasses import replace
from typing import Any, Mapping

from ..api.interface import Declaration, Endpoint, Input, Output, SignalType, State
from ..errors import KeyPath, Problem
from .model import Connection, Route, Scenario
from .pairing import SECTION, SyncMethod, SyncPair
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
    "check_pairs",
    "sync_pairs",
    "with_synchronisation",
]

RECORD_OUTPUT = "~sync"
"""Hidden output of a synchronised federate: the correction records of a step (to the recorder)."""
ALARM_ENDPOINT = "~alarms"
"""Hidden endpoint of a synchronised federate: its residual and blind alarms."""


def measured_input(state: str) -> str:
    """The hidden input of the model federate that the measurement of ``state`` flows into."""
    return f"{state}~measured"


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


# ----------------------------------------------------------------------------- parsing
def check_pairs(pairs: tuple[SyncPair, ...], src: Source, declarations: Mapping[str, Declaration],
                scenario: Scenario | None = None) -> tuple[tuple[SyncPair, ...], list[Problem]]:  # fmt: skip
    """The pairs with their states' units, and every problem with their ends.

    ``declarations`` (federate -> its interface, absent when unknown): the measured output
    exists and is numeric, the model end is a :class:`State`, the units agree, the alarm
    endpoint exists; with ``scenario`` the federates' kinds too.
    """
    problems: list[Problem] = []
    checked = []
    for pair in pairs:
        pair, found = _check_ends(pair, src, declarations, scenario)
        problems += found
        checked.append(pair)
    return tuple(checked), problems


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
    pairs, _ = check_pairs(scenario.synchronise, scenario.source(), declarations)
    return pairs


def drawn(scenario: Scenario) -> Scenario:
    """``scenario`` with its pairs' connections, for ``federation graph`` (labelled ``output->STATE~measured``)."""
    return with_synchronisation(scenario, scenario.synchronise)


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
