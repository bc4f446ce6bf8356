"""The power-grid federate: a MATPOWER case under floods, breaker commands and load changes.

Every step (default period 60 s) it

1. integrates the unserved energy over the step just ended (the state is held between steps);
2. trips every substation whose flood depth exceeds its threshold (latching);
3. applies the breaker commands received on ``breakers`` in timestamp order;
4. adds the per-bus load inputs to the case demand;
5. if anything changed, solves the power flow island by island and runs the overload
   cascade; otherwise republishes the last solution (a step without change costs
   almost nothing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from pypower.idx_brch import BR_STATUS
from pypower.idx_bus import BUS_TYPE, NONE, PD, QD

from federation import Declaration, Endpoint, Federate, Input, Output, Parameter, ParameterCheck, State

from .breaker import BreakerAction, BreakerCommand
from .case import Case, is_short_name, load_case
from .powerflow import Mode, Options, Solution, solve
from .protection import Substation, branch_loading, branch_ratings, flooded, run_cascade

__all__ = ["GridConfig", "GridFederate"]


@dataclass(frozen=True)
class GridConfig:
    """The grid federate's parameters, validated."""

    case: str
    mode: Mode
    substations: tuple[Substation, ...]
    load_buses: tuple[int, ...]
    load_power_factor: float
    rating_scale: float
    overload_protection: bool
    enforce_q_limits: bool
    measured_loads: tuple[int, ...] = ()

    @classmethod
    def from_params(cls, p: Mapping[str, Any]) -> GridConfig:
        """Parse the full parameter map (defaults merged in) and check it against the case.

        Raises :class:`~federation.errors.ParameterError` naming every bad parameter.
        """
        check = ParameterCheck()
        try:
            mode = Mode(p["mode"])
        except ValueError:
            check.fail("mode", f"expected 'ac' or 'dc', got {p['mode']!r}")
            mode = Mode.DC
        subs = p["substations"]
        if not isinstance(subs, Mapping):
            check.fail("substations", f"expected a mapping name -> {{buses, threshold_m}}, got {subs!r}")
            subs = {}
        parsed = [check.build((), Substation.from_params, str(n), s) for n, s in sorted(subs.items())]
        buses = p["load_inputs"]
        if not isinstance(buses, (list, tuple)) or not all(_is_int(b) for b in buses) or len(set(buses)) != len(buses):
            check.fail("load_inputs", f"expected a list of distinct bus numbers, got {buses!r}")
            buses = []
        measured = p.get("measured_loads", [])
        if not isinstance(measured, (list, tuple)) or not all(_is_int(b) for b in measured) \
                or len(set(measured)) != len(measured):
            check.fail("measured_loads", f"expected a list of distinct bus numbers, got {measured!r}")
            measured = []
        pf = p["load_power_factor"]
        if not _is_number(pf) or not 0 < pf <= 1:
            check.fail("load_power_factor", f"expected 0 < pf <= 1, got {pf!r}")
        if not _is_number(p["rating_scale"]) or not p["rating_scale"] > 0:
            check.fail("rating_scale", f"expected > 0, got {p['rating_scale']!r}")
        config = cls(
            case=_case_spec(p), mode=mode, substations=tuple(s for s in parsed if s is not None),
            load_buses=tuple(int(b) for b in buses), load_power_factor=float(pf) if _is_number(pf) else 1.0,
            rating_scale=float(p["rating_scale"]) if _is_number(p["rating_scale"]) else 1.0,
            overload_protection=bool(p["overload_protection"]), enforce_q_limits=bool(p["enforce_q_limits"]),
            measured_loads=tuple(int(b) for b in measured),
        )  # fmt: skip
        case = check.build("case", load_case, config.case)
        if case is not None:
            config.check_against(case, check)
        check.done()
        return config

    def check_against(self, case: Case, check: ParameterCheck) -> None:
        """Every bus named by the parameters exists in ``case``."""
        known = set(case.bus_numbers)
        for sub in self.substations:
            for bus in sub.buses:
                if bus not in known:
                    check.fail(("substations", sub.name, "buses"), f"bus {bus} is not in {case.name}")
        for bus in self.load_buses:
            if bus not in known:
                check.fail("load_inputs", f"bus {bus} is not in {case.name}")
        for bus in self.measured_loads:
            if bus not in known:
                check.fail("measured_loads", f"bus {bus} is not in {case.name}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _case_spec(p: Mapping[str, Any]) -> str:
    """The ``case`` parameter, a relative file path taken from the scenario's folder (``_base_dir``)."""
    case, base = str(p["case"]), p.get("_base_dir")
    if base and not is_short_name(case) and not Path(case).is_absolute():
        return str(Path(base) / case)
    return case


class GridFederate(Federate):
    """AC/DC power flow of a MATPOWER case with islands, flood trips and overload cascades."""

    default_period = 60.0
    #: The runtime passes the scenario's folder as ``_base_dir``: a relative ``case`` file path starts there.
    resolves_paths: ClassVar[bool] = True

    case: Parameter[str] = Parameter(
        "case39", type=str, doc="shipped case name (case14, case30, case39) or a case file path")
    mode: Parameter[str] = Parameter(
        "dc", type=str, choices=("ac", "dc"), doc="power flow: 'ac' Newton-Raphson or 'dc' B-theta")
    substations: Parameter[dict[str, Any]] = Parameter(
        {}, type=dict, doc="{name: {buses: [bus numbers], threshold_m: 0.5}}")
    load_inputs: Parameter[list[int]] = Parameter(
        [], type=list, doc="bus numbers that get a 'load.<bus>' input (MW added to the bus)")
    measured_loads: Parameter[list[int]] = Parameter(
        [], type=list, doc="bus numbers whose total demand is a correctable state 'demand.<bus>' (MW), "
                           "for measured loads (docs/synchronise.md)")
    load_power_factor: Parameter[float] = Parameter(1.0, doc="power factor of the added loads (lagging)")
    rating_scale: Parameter[float] = Parameter(1.0, doc="factor on every rateA (< 1 tightens the ratings)")
    overload_protection: Parameter[bool] = Parameter(True, doc="trip overloaded branches after each change")
    enforce_q_limits: Parameter[bool] = Parameter(False, doc="AC only: PV buses at a Q limit become PQ")

    breakers = Endpoint(doc="breaker commands: {'action': 'open'|'close', 'branch': row} or {..., 'bus': n}")

    served_mw = Output(unit="MW", default=0.0, doc="total demand served")
    unserved_mw = Output(unit="MW", default=0.0, doc="total demand not served")
    unserved_mwh = Output(unit="MWh", default=0.0, doc="unserved energy integrated since the start")
    islands = Output(type=int, default=1, doc="number of islands of in-service buses")
    cascade_rounds = Output(type=int, default=0, doc="rounds of the last overload cascade")
    branch_flow = Output(unit="MW", type=list, default=[], doc="P at the from end, per branch row")
    branch_loading = Output(
        type=list, default=[],
        doc="per branch row: max(|S_from|, |S_to|) (AC) or |P_from| (DC) over rateA*rating_scale")
    tripped_branches = Output(type=list, default=[], doc="branch rows tripped by overload protection")
    open_branches = Output(type=list, default=[], doc="branch rows out of service for any reason")
    energized_buses = Output(type=list, default=[], doc="1.0/0.0 per bus row")
    bus_voltage = Output(unit="pu", type=list, default=[], doc="|V| per bus row (1.0 in DC, 0 when dead)")

    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        decl = super().declare(params)
        config = GridConfig.from_params({**{p.name: p.default for p in decl.parameters}, **params})
        names = [s.name for s in config.substations]
        return (
            decl.with_inputs(*(Input(name=f"depth.{n}", unit="m", default=0.0) for n in names))
            .with_inputs(*(Input(name=f"load.{b}", unit="MW", default=0.0) for b in config.load_buses))
            .with_outputs(*(Output(name=f"energized.{n}", type=bool, default=True) for n in names))
            .with_outputs(*(Output(name=f"served.{n}", unit="MW", default=0.0) for n in names))
            .with_outputs(*(State(name=f"demand.{b}", unit="MW", default=0.0, doc=f"active demand at bus {b}")
                            for b in config.measured_loads))
        )

    # ------------------------------------------------------------------ life cycle
    def setup(self) -> None:
        self.config = GridConfig.from_params(self.params)
        self.grid = load_case(self.config.case)
        nb, nl = self.grid.n_bus, self.grid.n_branch
        self._sub_rows = {s.name: [self.grid.bus_row(b) for b in s.buses] for s in self.config.substations}
        self._load_rows = {b: self.grid.bus_row(b) for b in self.config.load_buses}
        self._ratings = branch_ratings(self.grid, self.config.rating_scale)
        self._options = Options(enforce_q_limits=self.config.enforce_q_limits)
        self._flooded: set[str] = set()
        self._dry_since: dict[str, float] = {}
        self._bus_open = np.zeros(nb, dtype=bool)
        self._branch_open = np.zeros(nl, dtype=bool)
        self._tripped = np.zeros(nl, dtype=bool)
        self._added_load = np.zeros(nb)
        self._measured_rows = {b: self.grid.bus_row(b) for b in self.config.measured_loads}
        self._load_correction = np.zeros(nb)  # MW: measured demand minus the model's, per bus
        self._solution: Solution | None = None
        self._rounds = 0
        self._last_time: float | None = None
        self._energy_mwh = 0.0

    def step(self, t: float) -> float | None:
        self._integrate(t)
        changed = [self._apply_floods(t), self._apply_breakers(), self._apply_loads()]
        if any(changed) or self._solution is None:
            self._resolve()
        self._publish()
        return None

    # ------------------------------------------------------------------ events
    def _integrate(self, t: float) -> None:
        if self._last_time is not None and self._solution is not None:
            self._energy_mwh += self._solution.unserved_mw * (t - self._last_time) / 3600.0
        self._last_time = t

    def _apply_floods(self, t: float) -> bool:
        depths = {s.name: float(self.inputs[f"depth.{s.name}"]) for s in self.config.substations}
        wet = flooded(self.config.substations, depths)
        new = wet - self._flooded
        for name in sorted(new):
            self.log.info("substation %s flooded (%.3g m): buses %s tripped", name, depths[name],
                          self._sub_rows[name])
        self._flooded |= new
        return bool(new) | self._restore(t, wet)

    def _restore(self, t: float, wet: set[str]) -> bool:
        """Return substations to service ``restore_after_s`` after their water recedes.

        Restoration also re-closes the lines protection tripped; the cascade check that
        follows trips again any that are still overloaded.
        """
        restored = False
        for sub in self.config.substations:
            if sub.name not in self._flooded or sub.restore_after_s is None:
                continue
            if sub.name in wet:
                self._dry_since.pop(sub.name, None)
                continue
            since = self._dry_since.setdefault(sub.name, t)
            if t - since >= sub.restore_after_s:
                self.log.info("substation %s back in service at t=%g s", sub.name, t)
                self._flooded.discard(sub.name)
                del self._dry_since[sub.name]
                self._tripped[:] = False
                restored = True
        return restored

    def _apply_breakers(self) -> bool:
        changed = False
        for message in self.inbox:
            if message.endpoint != "breakers":
                continue
            for payload in self._expand_substation(message.payload):
                command = BreakerCommand.parse(payload, n_branch=self.grid.n_branch, bus_numbers=self.grid.bus_numbers)
                changed |= self._operate(command)
        return changed

    def _expand_substation(self, payload: Any) -> list[Any]:
        """``{"action": a, "substation": name}`` acts on every bus of that substation."""
        if not (isinstance(payload, dict) and "substation" in payload):
            return [payload]
        name = payload["substation"]
        if name not in self._sub_rows:
            raise ValueError(f"breaker command {payload!r}: no substation {name!r} "
                             f"(known: {', '.join(sorted(self._sub_rows))})")  # fmt: skip
        sub = next(s for s in self.config.substations if s.name == name)
        rest = {k: v for k, v in payload.items() if k != "substation"}
        return [{**rest, "bus": bus} for bus in sub.buses]

    def _operate(self, command: BreakerCommand) -> bool:
        """Apply one breaker command; ``True`` if it changed the topology."""
        is_open = command.action is BreakerAction.OPEN
        self.log.info("breaker %s: %s", command.action.value,
                      f"branch {command.branch}" if command.branch is not None else f"bus {command.bus}")
        if command.branch is not None:
            k = command.branch
            changed = bool(self._branch_open[k] != is_open or (not is_open and self._tripped[k]))
            self._branch_open[k] = is_open
            self._tripped[k] &= is_open  # closing a breaker resets its protection trip
            return changed
        assert command.bus is not None
        row = self.grid.bus_row(command.bus)
        changed = bool(self._bus_open[row] != is_open)
        self._bus_open[row] = is_open
        return changed

    def _apply_loads(self) -> bool:
        added = np.zeros(self.grid.n_bus)
        for bus, row in self._load_rows.items():
            added[row] += float(self.inputs[f"load.{bus}"])
        changed = not np.array_equal(added, self._added_load)
        self._added_load = added
        return changed

    def correct(self, state: str, value: float) -> None:
        """A measured load: the bus's demand becomes ``value`` MW until the next correction (docs/synchronise.md).

        The difference from the case demand plus the load inputs is kept, so it holds while those change.
        """
        row = self._measured_rows[int(state.partition(".")[2])]
        model = self.grid.bus[row, PD] + self._added_load[row]
        self._load_correction[row] = value - model
        self._resolve()
        self._publish()

    # ------------------------------------------------------------------ solution
    def bus_on(self) -> NDArray[np.bool_]:
        """Buses in service: in the case, not flooded, breaker closed."""
        on: NDArray[np.bool_] = (self.grid.bus[:, BUS_TYPE] != NONE) & ~self._bus_open
        for name in self._flooded:
            on[self._sub_rows[name]] = False
        return on

    def branch_on(self) -> NDArray[np.bool_]:
        """Branches in service: in the case, breaker closed, not tripped by protection."""
        on: NDArray[np.bool_] = (self.grid.branch[:, BR_STATUS] > 0) & ~self._branch_open & ~self._tripped
        return on

    def _demand(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        tan_phi = math.tan(math.acos(self.config.load_power_factor))
        added = self._added_load + self._load_correction
        return self.grid.bus[:, PD] + added, self.grid.bus[:, QD] + added * tan_phi

    def _resolve(self) -> None:
        pd, qd = self._demand()
        if not self.config.overload_protection:
            self._solution = solve(self.grid, self.config.mode, bus_on=self.bus_on(),
                                   branch_on=self.branch_on(), pd=pd, qd=qd, options=self._options)
            self._rounds = 0
            return
        cascade = run_cascade(self.grid, self.config.mode, bus_on=self.bus_on(), branch_on=self.branch_on(),
                              pd=pd, qd=qd, ratings=self._ratings, options=self._options)
        for number, trips in enumerate(cascade.rounds, start=1):
            self.log.info("overload cascade round %d: branches %s tripped", number, list(trips))
        self._tripped[list(cascade.tripped)] = True
        self._solution, self._rounds = cascade.solution, len(cascade.rounds)

    def _publish(self) -> None:
        sol = self._solution
        assert sol is not None
        self.outputs.update({
            "served_mw": sol.served_mw,
            "unserved_mw": sol.unserved_mw,
            "unserved_mwh": self._energy_mwh,
            "islands": sol.n_islands,
            "cascade_rounds": self._rounds,
            "branch_flow": [float(p) for p in sol.p_from],
            "branch_loading": [float(x) for x in branch_loading(sol, self._ratings)],
            "tripped_branches": [int(k) for k in np.flatnonzero(self._tripped)],
            "open_branches": [int(k) for k in np.flatnonzero(~self.branch_on())],
            "energized_buses": [1.0 if e else 0.0 for e in sol.energized],
            "bus_voltage": [float(v) for v in sol.vm],
        })
        for name, rows in self._sub_rows.items():
            self.outputs[f"energized.{name}"] = bool(sol.energized[rows].all())
            self.outputs[f"served.{name}"] = float(sol.served[rows].sum())
        for bus, row in self._measured_rows.items():
            self.outputs[f"demand.{bus}"] = float(self.grid.bus[row, PD] + self._added_load[row]
                                                  + self._load_correction[row])

    @property
    def solution(self) -> Solution | None:
        """The last power flow solution (``None`` before the first step)."""
        return self._solution
