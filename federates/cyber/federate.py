"""The network-attack federate: an attack spreading over the ICT/SCADA graph.

Event-driven (``default_period = None``).  ``step(t)``

1. simulates the spread exactly up to ``t`` (:class:`~federates.cyber.epidemic.Epidemic`),
   applying on the way, at their own times, the attack start (entry points compromised)
   and the scheduled defender actions;
2. takes up the power inputs (``power.<site>``) and the defender messages received at ``t``;
3. finds the blind substations and lets the attacker strike (see :meth:`CyberFederate._strike`);
4. publishes the outputs and returns the time of the next transition or scheduled
   event, so the federate is granted exactly at each of them, and also whenever an
   input changes or a message arrives.

A scenario may still give it a period; it then simulates the same process and samples
the outputs at the period.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import scipy.sparse as sp

from federation import (
    Declaration,
    Endpoint,
    Federate,
    Input,
    Output,
    Parameter,
    ParameterCheck,
    ParameterError,
    ParameterProblem,
    SignalType,
)

from .defender import ActionKind, DefenderAction, parse_action, parse_schedule
from .epidemic import Epidemic, SpreadModel, Transition
from .graph import IctGraph, generate_topology, load_graph

__all__ = ["BreakerRule", "CyberFederate", "CyberSettings", "build_graph", "cyber_config"]


class BreakerRule(str, enum.Enum):
    """When a compromised RTU opens its substation's breakers."""

    BLIND = "blind"  # only while the substation is blind: the operator cannot see or reclose
    ALWAYS = "always"  # as soon as the RTU is compromised


def build_graph(params: Mapping[str, Any]) -> IctGraph:
    """The ICT graph the parameters describe: ``graph`` (spec or file) or generated from ``substations``.

    A relative file path is taken from ``_base_dir`` (the scenario's directory) when set, else the cwd.
    """
    spec, substations = params.get("graph"), params.get("substations") or ()
    if spec is not None and substations:
        raise _refused((), "set either parameter 'graph' or 'substations' (to generate one), not both")
    if spec is not None:
        if not isinstance(spec, (Mapping, str)):
            raise _refused(("graph",), f"expected a mapping or a file path, got {spec!r}")
        base = params.get("_base_dir")  # the scenario's directory, set by the runtime
        if isinstance(spec, str) and base and not Path(spec).is_absolute():
            spec = str(Path(base) / spec)
        return load_graph(spec)
    if substations:
        hospitals = params.get("hospitals") or ()
        return generate_topology(
            substations, hospitals, control_centre_site=params.get("control_centre_site")
        )
    raise _refused((), "no ICT graph; set parameter 'graph' (nodes and edges, or a YAML/JSON file) "
                       "or 'substations' (and 'hospitals') to generate one")  # fmt: skip


def _refused(key: tuple[str, ...], message: str) -> ParameterError:
    return ParameterError([ParameterProblem(key, message)])


@dataclass(frozen=True)
class CyberSettings:
    """The attack and defence parameters, checked against the graph's node names."""

    rule: BreakerRule
    start_at: float  # s
    beta: float  # 1/s
    delta: float  # 1/s
    model: SpreadModel
    entries: tuple[str, ...]
    schedule: tuple[DefenderAction, ...]


def cyber_config(params: Mapping[str, Any]) -> tuple[IctGraph, CyberSettings]:
    """Check every parameter (defaults merged in); a :class:`ParameterError` names each bad one."""
    check = ParameterCheck()
    net = check.build((), build_graph, params)
    names = net.index if net is not None else None  # without a graph, node names cannot be checked
    settings = CyberSettings(
        rule=_choice(BreakerRule, params["breaker_rule"], "breaker_rule", check),
        start_at=_time(params["attack_start"], "attack_start", check),
        beta=_rate(params["beta"], "beta", check),
        delta=_rate(params["delta"], "delta", check),
        model=_choice(SpreadModel, params["model"], "model", check),
        entries=_entry_points(params["entry_points"], names, check),
        schedule=check.build((), parse_schedule, params["defender_schedule"], names) or (),
    )
    check.done()
    assert net is not None
    return net, settings


class CyberFederate(Federate):
    """SI/SIS attack spread on an ICT/SCADA graph, coupled to the grid by power and breakers."""

    default_period = None
    #: The runtime passes the scenario's directory as ``_base_dir``: a relative ``graph`` path starts there.
    resolves_paths: ClassVar[bool] = True

    graph: Parameter[Any] = Parameter(
        None, type=object, doc="ICT graph: {nodes, edges} or the path of a YAML/JSON file"
    )
    substations: Parameter[Sequence[str]] = Parameter(
        (), type=(list, tuple), doc="substations of a generated topology"
    )
    hospitals: Parameter[Sequence[str]] = Parameter(
        (), type=(list, tuple), doc="hospitals of a generated topology"
    )
    control_centre_site: Parameter[str] = Parameter(
        "", type=str, doc="power site of the generated control centre ('' = none)"
    )
    model: Parameter[str] = Parameter(
        "sis", type=str, choices=tuple(m.value for m in SpreadModel), doc="si or sis"
    )
    beta: Parameter[float] = Parameter(1.0 / 3600.0, unit="1/s", type=float, doc="per-edge compromise rate")
    delta: Parameter[float] = Parameter(
        1.0 / 14400.0, unit="1/s", type=float, doc="per-node cleaning rate (sis)"
    )
    entry_points: Parameter[Sequence[str]] = Parameter(
        (), type=(list, tuple), doc="nodes compromised at attack_start"
    )
    attack_start: Parameter[float] = Parameter(
        0.0, unit="s", type=float, doc="time the entry points are compromised"
    )
    defender_schedule: Parameter[Sequence[Any]] = Parameter(
        (), type=(list, tuple), doc="[{time, action, nodes}] defender actions"
    )
    breaker_rule: Parameter[str] = Parameter(
        "blind",
        type=str,
        choices=tuple(r.value for r in BreakerRule),
        doc="when compromised RTUs open breakers",
    )

    defender = Endpoint(doc="receives defender actions {action: patch|clean|isolate|reconnect, nodes: [...]}")
    breakers = Endpoint(doc="sends breaker commands {action: open, substation: name} to the grid")

    compromised = Output(type=SignalType.ANY, default=[], doc="names of the compromised nodes, sorted")
    compromised_count = Output(type=int, default=0, doc="number of compromised nodes")
    visible = Output(type=SignalType.ANY, default=[], doc="substations the control centre sees, sorted")
    visible_count = Output(type=int, default=0)
    blind = Output(type=SignalType.ANY, default=[], doc="substations the control centre cannot see, sorted")
    blind_count = Output(type=int, default=0)
    actions = Output(type=int, default=0, doc="defender actions applied so far")
    breaker_commands = Output(type=int, default=0, doc="breaker-open commands sent so far")

    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        """The interface (one power input per site of the graph); checks every parameter for ``validate``."""
        decl = super().declare(params)
        net, _ = cyber_config({p.name: p.default for p in decl.parameters} | dict(params))
        return decl.with_inputs(*(Input(name=f"power.{s}", type=bool, default=True) for s in net.power_sites))

    # ------------------------------------------------------------------ life cycle
    def setup(self) -> None:
        self.net, settings = cyber_config(self.params)
        names = self.net.index
        self.rule = settings.rule
        self.start_at = settings.start_at
        self.epidemic = self._build_epidemic(settings)
        self.entries = [names[n] for n in settings.entries]
        self.schedule = list(settings.schedule)
        self.attack_pending = True
        n, sites = len(self.net.nodes), self.net.power_sites
        self.site_of = np.array(
            [-1 if v.site is None else sites.index(v.site) for v in self.net.nodes], dtype=int
        )
        self.powered = np.ones(len(sites) + 1, dtype=bool)  # the last entry stands for "no site"
        self.isolated = np.zeros(n, dtype=bool)
        self.up = np.ones(n, dtype=bool)
        self.struck = np.zeros(n, dtype=bool)  # RTUs that opened breakers during their current compromise
        self.rtus = np.array([self.net.index[r.name] for r in self.net.rtus], dtype=int)
        self.sighted = self.net.visible_substations([v.name for v in self.net.nodes])
        self.action_count = 0
        self.command_count = 0
        self._publish()

    def step(self, t: float) -> float | None:
        self._run_until(t)
        self._take_power()
        for message in self.inbox:
            if message.endpoint == self.defender:
                where = f"defender message from {message.sender}"
                self._apply(parse_action(message.payload, self.net.index, where=where))
            else:
                self.log.warning("ignored a message on endpoint %r from %s", message.endpoint, message.sender)
        self._strike()
        self._publish()
        self.time = t
        return self._next_wake(t)

    # ------------------------------------------------------------------ the timeline
    def _run_until(self, t: float) -> None:
        while (due := self._next_scheduled()) <= t:
            self._absorb(self.epidemic.advance(max(due, self.epidemic.now)))
            if self.attack_pending and self.start_at <= due:
                self._start_attack()
            else:
                self._apply(self.schedule.pop(0))
        self._absorb(self.epidemic.advance(t))

    def _next_scheduled(self) -> float:
        attack = self.start_at if self.attack_pending else math.inf
        action = self.schedule[0].time if self.schedule else None
        return min(attack, math.inf if action is None else action)

    def _next_wake(self, t: float) -> float | None:
        """The next transition or scheduled event, rounded up to the time grid and after ``t``."""
        wake = min(self.epidemic.next_time, self._next_scheduled())
        if math.isinf(wake):
            return None
        tick = self.context.resolution
        return max(math.ceil(wake / tick - 1e-9) * tick, t + tick)

    def _start_attack(self) -> None:
        self.attack_pending = False
        for i in self.entries:
            self.epidemic.infect(i)
        self.log.info(
            "attack started at %g s on %s", self.start_at, [self.net.nodes[i].name for i in self.entries]
        )

    def _absorb(self, transitions: list[Transition]) -> None:
        for tr in transitions:
            if not tr.infected:
                self.struck[tr.node] = False

    # ------------------------------------------------------------------ defender and power
    def _apply(self, action: DefenderAction) -> None:
        for name in action.nodes:
            i = self.net.index[name]
            if action.kind is ActionKind.PATCH:
                self.epidemic.patch(i)
                self.struck[i] = False
            elif action.kind is ActionKind.CLEAN:
                self.epidemic.clean(i)
                self.struck[i] = False
            else:
                self.isolated[i] = action.kind is ActionKind.ISOLATE
        self.action_count += 1
        self._update_up()

    def _take_power(self) -> None:
        for k, site in enumerate(self.net.power_sites):
            self.powered[k] = bool(self.inputs[f"power.{site}"])
        self._update_up()

    def _update_up(self) -> None:
        """Switch nodes on/off after a power or isolation change; the visibility follows."""
        up = self.powered[self.site_of] & ~self.isolated
        changed = np.flatnonzero(up != self.up)
        if len(changed) == 0:
            return
        for i in changed:
            self.epidemic.set_active(int(i), bool(up[i]))
        self.up = up
        self.sighted = self.net.visible_substations([self.net.nodes[i].name for i in np.flatnonzero(up)])

    # ------------------------------------------------------------------ effects
    def _strike(self) -> None:
        """Open breakers from compromised RTUs.

        Rule: an RTU that is compromised, up (powered, not isolated) and has not struck
        yet during this compromise sends ``{"action": "open", "substation": s}`` when its
        substation ``s`` is blind (``breaker_rule: blind``; with ``always``, at once).
        Cleaning or patching the RTU re-arms it.
        """
        armed = self.rtus[
            self.epidemic.infected_mask()[self.rtus] & self.up[self.rtus] & ~self.struck[self.rtus]
        ]
        for i in armed:
            substation = self.net.nodes[i].substation
            if self.rule is BreakerRule.BLIND and substation in self.sighted:
                continue
            self.send("breakers", {"action": "open", "substation": substation})
            self.struck[i] = True
            self.command_count += 1
            self.log.info("compromised %s opened the breakers of %s", self.net.nodes[i].name, substation)

    def _publish(self) -> None:
        compromised = sorted(self.net.nodes[i].name for i in self.epidemic.infected_nodes())
        blind = sorted(set(self.net.substations) - self.sighted)
        self.outputs.update(
            compromised=compromised,
            compromised_count=len(compromised),
            visible=sorted(self.sighted),
            visible_count=len(self.sighted),
            blind=blind,
            blind_count=len(blind),
            actions=self.action_count,
            breaker_commands=self.command_count,
        )

    # ------------------------------------------------------------------ construction
    def _build_epidemic(self, settings: CyberSettings) -> Epidemic:
        beta, delta = settings.beta, settings.delta
        index, n = self.net.index, len(self.net.nodes)
        rows = [index[e.source] for e in self.net.edges] + [index[e.target] for e in self.net.edges]
        cols = rows[len(self.net.edges) :] + rows[: len(self.net.edges)]
        rates = [beta if e.beta is None else e.beta for e in self.net.edges] * 2
        matrix = sp.coo_array((rates, (rows, cols)), shape=(n, n)).tocsr()  # duplicate links add up
        deltas = [delta if node.delta is None else node.delta for node in self.net.nodes]
        return Epidemic(matrix, deltas, settings.model, self.rng, start=self.context.start)


E = TypeVar("E", bound=enum.Enum)


# Each check below records a bad value and returns a stand-in, so that every parameter is
# checked; check.done() then refuses the whole configuration.


def _choice(kind: type[E], value: Any, name: str, check: ParameterCheck) -> E:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(k.value) for k in kind)
        check.fail(name, f"expected one of {choices}, got {value!r}")
        return next(iter(kind))


def _time(value: Any, name: str, check: ParameterCheck) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        check.fail(name, f"expected a time in seconds, got {value!r}")
        return 0.0
    return float(value)


def _rate(value: Any, name: str, check: ParameterCheck) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or math.isinf(value):
        check.fail(name, f"expected a finite rate >= 0 (1/s), got {value!r}")
        return 0.0
    return float(value)


def _entry_points(names: Any, known: Mapping[str, int] | None, check: ParameterCheck) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        check.fail("entry_points", f"expected a list of node names, got {names!r}")
        return ()
    unknown = [n for n in names if known is not None and n not in known]
    if unknown:
        check.fail("entry_points", f"unknown node {unknown[0]!r}")
    return tuple(names)
