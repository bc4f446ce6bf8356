"""A validated scenario turned into numbers: federate indices, ticks, signals, bindings.

The plan is what the coordinator needs at run time; it is built once from the scenario
and the federates' declarations, and it builds the :class:`~federation.engine.scheduler.Scheduler`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ..api.interface import Declaration
from ..errors import ScenarioError
from ..scenario.model import (
    Connection,
    ConnectionKind,
    EventAction,
    Extrapolation,
    FederateSpec,
    Interpolation,
    Scenario,
)
from ..scenario.synchronisation import RECORD_OUTPUT, SyncPair, augment, sync_pairs, with_synchronisation
from ..scenario.validation import connection_units, declarations, effective_period, validate
from ..timebase import TimeBase
from ..units import Conversion
from .history import History
from .scheduler import Binding, FederateSlot, GroupSlot, Scheduler, Shape

__all__ = ["Plan", "SignalInfo", "federate_seed"]


def federate_seed(seed: int, name: str) -> int:
    """The seed a federate gets: stable across runs, hosts and Python versions."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclass(frozen=True)
class SignalInfo:
    id: int
    federate: str
    name: str
    unit: str
    type: str
    record: bool


@dataclass(frozen=True)
class Plan:
    scenario: Scenario
    names: tuple[str, ...]
    declarations: tuple[Declaration, ...]
    periods: tuple[int | None, ...]  # ticks
    offsets: tuple[int, ...]
    signals: tuple[SignalInfo, ...]
    signal_ids: tuple[tuple[int, ...], ...]  # per federate, per output -> signal id
    base: TimeBase
    start: int
    stop: int
    sync: tuple[SyncPair, ...] = ()  # the synchronise: section's pairs (docs/synchronise.md)
    conversions: tuple[Conversion | None, ...] = ()  # per connection: its unit conversion, worked out once

    @classmethod
    def build(cls, scenario: Scenario) -> Plan:
        src = scenario.source()
        resolved = declarations(scenario, src)
        problems = validate(scenario, src, resolved)
        if problems:
            raise ScenarioError(sorted(set(problems), key=lambda p: p.order))
        base = scenario.time.base
        names = tuple(scenario.federates)
        decls = tuple(resolved[n].declaration for n in names)
        declared = scenario.connections  # before synchronise: adds its hidden ones (plain, never converted)
        scenario, decls, pairs = _synchronised(scenario, names, decls)
        periods, offsets = [], []
        for name, decl in zip(names, decls):
            spec = scenario.federates[name]
            period = effective_period(spec, decl)
            periods.append(base.ticks(period) if period is not None else None)
            offsets.append(base.ticks(spec.offset))
        signals: list[SignalInfo] = []
        ids: list[tuple[int, ...]] = []
        for name, decl in zip(names, decls):
            row = []
            for out in decl.outputs:
                full = f"{name}.{out.name}"
                rec = scenario.record.records(full) or out.name == RECORD_OUTPUT
                row.append(len(signals))
                signals.append(SignalInfo(len(signals), name, out.name, out.unit or "", out.type.value, rec))
            ids.append(tuple(row))
        conversions = tuple(connection_units(c, resolved) for c in declared)  # validated: they convert
        conversions += (None,) * (len(scenario.connections) - len(declared))
        return cls(scenario, names, decls, tuple(periods), tuple(offsets), tuple(signals), tuple(ids), base,
                   base.ticks(scenario.time.start), base.ticks(scenario.time.stop), pairs, conversions)  # fmt: skip

    def index(self, name: str) -> int:
        return self.names.index(name)

    def spec(self, index: int) -> FederateSpec:
        return self.scenario.federates[self.names[index]]

    def in_group(self, index: int) -> bool:
        name = self.names[index]
        return any(c.group and name in (c.source, c.target) for c in self.scenario.connections)

    def welcome(self, index: int) -> dict[str, Any]:
        """The WELCOME payload for federate ``index`` (see docs/protocol.md)."""
        spec = self.spec(index)
        period = self.periods[index]
        return {
            "name": spec.name,
            "type": spec.type,
            "params": dict(spec.params),
            "base_dir": str(self.scenario.directory),
            "seed": federate_seed(self.scenario.seed, spec.name),
            "start": self.scenario.time.start,
            "stop": self.scenario.time.stop,
            "resolution": self.base.resolution,
            "start_tick": self.start,
            "stop_tick": self.stop,
            "period": self.base.seconds(period) if period is not None else None,
            "offset": spec.offset,
            "iterate": self.in_group(index),
            "routes": sorted({r.endpoint for r in self.scenario.routes if r.source == spec.name}),
            "continuous": sorted(c.input for c in self.scenario.connections if c.target == spec.name and c.continuous),
            "target": _target(spec.type),
            "epoch": self.scenario.time.epoch,
            **self._synchronise(spec.name),
        }

    def _synchronise(self, name: str) -> dict[str, Any]:
        """The WELCOME entry of a synchronised federate: its pairs (docs/synchronise.md); none for the others."""
        pairs = [p.to_wire() for p in self.sync if p.target == name]
        return {"synchronise": pairs} if pairs else {}

    # ------------------------------------------------------------------ scheduler
    def scheduler(self, kind: type[Scheduler] = Scheduler) -> Scheduler:
        """The scheduler of this plan (``kind``: a paced run's :class:`~federation.engine.pacer.PacedScheduler`)."""
        sc = self.scenario
        slots = [FederateSlot(n, i, self.periods[i], self.offsets[i]) for i, n in enumerate(self.names)]
        index = {n: i for i, n in enumerate(self.names)}
        for slot, decl in zip(slots, self.declarations):
            slot.outputs = [o.default for o in decl.outputs]
            slot.output_names = [o.name for o in decl.outputs]
            slot.history = [None] * len(decl.outputs)
            slot.record = [self.signals[sid].record for sid in self.signal_ids[slot.index]]
            slot.endpoints = {e.name for e in decl.endpoints}
        for c, units in zip(sc.connections, self.conversions or (None,) * len(sc.connections)):
            src, dst = slots[index[c.source]], slots[index[c.target]]
            out_i = [o.name for o in self.declarations[src.index].outputs].index(c.output)
            in_decl = self.declarations[dst.index]
            in_i = [s.name for s in in_decl.inputs].index(c.input)
            if src.history[out_i] is None:
                src.history[out_i] = History()
            lag = 1 if c.kind is ConnectionKind.DELAYED else 0
            linear = c.interpolate is Interpolation.LINEAR
            shape = _shape(c, units, in_i, len(in_decl.inputs))
            dst.bindings.append(Binding(in_i, src.history[out_i], lag, linear, in_decl.inputs[in_i].default,  # type: ignore[arg-type]
                                        src.index, out_i, shape))  # fmt: skip
            if (linear or c.extrapolate is Extrapolation.LINEAR) and out_i not in src.sampled:
                src.sampled.append(out_i)  # every step is a sample to interpolate or extrapolate from
            if c.extrapolate is Extrapolation.LINEAR:
                src.history[out_i].keep = 2  # type: ignore[union-attr]  # the line needs the two latest samples
            dst.upstream.append((src.index, lag, linear))
        for r in sc.routes:
            src, dst = slots[index[r.source]], slots[index[r.target]]
            look = self.base.ticks(r.lookahead)
            src.routes.setdefault(r.endpoint, []).append((dst.index, r.target_endpoint, look))
            dst.upstream.append((src.index, look, False))
        self._bind_events(slots, index)
        groups = self._groups(slots, index)
        _link_affects(slots, groups)
        sched = kind(slots, groups, self.base, self.start, self.stop)
        for i, ev in enumerate(sc.events):
            if ev.action is EventAction.SEND:
                sched.deliver(slots[index[ev.federate]], self.base.ticks(ev.at), -1, i, "scenario", ev.name,
                              ev.value, self.base.ticks(ev.at))  # fmt: skip
        return sched

    def _bind_events(self, slots: list[FederateSlot], index: dict[str, int]) -> None:
        by_input: dict[tuple[str, str], History] = {}
        for ev in sorted(self.scenario.events, key=lambda e: e.at):
            if ev.action is not EventAction.SET:
                continue
            slot = slots[index[ev.federate]]
            tick = self.base.ticks(ev.at)
            key = (ev.federate, ev.name)
            if key not in by_input:
                decl = self.declarations[slot.index]
                in_i = [s.name for s in decl.inputs].index(ev.name)
                by_input[key] = History()
                slot.bindings.append(Binding(in_i, by_input[key], 0, False, decl.inputs[in_i].default, -1, -1))
            by_input[key].append(tick, ev.value)

    def _groups(self, slots: list[FederateSlot], index: dict[str, int]) -> list[GroupSlot]:
        out = []
        for name, spec in self.scenario.groups.items():
            conns = [c for c in self.scenario.connections if c.group == name]
            members = sorted({index[f] for c in conns for f in (c.source, c.target)})
            sigs = sorted({(index[c.source], [o.name for o in self.declarations[index[c.source]].outputs].index(c.output))
                           for c in conns})  # fmt: skip
            group = GroupSlot(name, members, spec.tolerance, spec.max_iterations, sigs)
            for m in members:
                slots[m].group = group
            out.append(group)
        return out


def _synchronised(scenario: Scenario, names: tuple[str, ...], decls: tuple[Declaration, ...]
                  ) -> tuple[Scenario, tuple[Declaration, ...], tuple[SyncPair, ...]]:  # fmt: skip
    """The scenario and interfaces with the hidden connections, outputs and routes of ``synchronise:``."""
    pairs = sync_pairs(scenario, dict(zip(names, decls)))
    if not pairs:
        return scenario, decls, pairs
    decls = tuple(augment(d, tuple(p for p in pairs if p.target == n)) for n, d in zip(names, decls))
    return with_synchronisation(scenario, pairs), decls, pairs


def _shape(c: Connection, units: Conversion | None, input_index: int, inputs: int) -> Shape | None:
    """How connection ``c`` shapes its values (None: a plain sample-and-hold).  A linearly extrapolated
    or interpolated input's derivative travels under the input key ``inputs + input_index`` (docs/protocol.md)."""
    extrapolate = c.extrapolate is Extrapolation.LINEAR
    interpolate = c.interpolate is Interpolation.LINEAR
    if not (extrapolate or interpolate or units is not None):
        return None
    scale, offset = (units.scale, units.offset) if units is not None else (1.0, 0.0)
    return Shape(interpolate=interpolate, extrapolate=extrapolate, scale=scale, offset=offset,
                 derivative=inputs + input_index if extrapolate or interpolate else None)  # fmt: skip


def _link_affects(slots: list[FederateSlot], groups: list[GroupSlot]) -> None:
    direct: list[set[int]] = [set() for _ in slots]
    for slot in slots:
        for producer, _, _ in slot.upstream:
            direct[producer].add(slot.index)
    for group in groups:
        for m in group.members:
            direct[m].update(group.members)
    for slot in slots:
        seen: set[int] = set()
        todo = list(direct[slot.index])
        while todo:
            j = todo.pop()
            if j in seen:
                continue
            seen.add(j)
            if slots[j].wakeable or slots[j].group is not None:
                todo.extend(direct[j])
        seen.discard(slot.index)
        slot.affects = sorted(seen)


def _target(type_name: str | None) -> str | None:
    """``module:Class`` of an installed short name (the runtime then needs no entry-point scan, ~25 ms)."""
    if type_name is None or ":" in type_name:
        return type_name
    from ..scenario.registry import registered

    return registered().get(type_name, type_name)
