"""FmuFederate: any FMI 2.0 / 3.0 FMU (Co-Simulation or Model Exchange) as a federate.

Scenario usage (``type: fmu``)::

    federates:
      gate:
        type: fmu
        params:
          fmu: ../fmus/dist/SpillwayGate.fmu      # relative to the scenario file
          inputs: {level: reservoir_level, stage: downstream_stage}
          outputs: [gate_opening, mode]
          parameters: {kp: 0.8, gate_name: main-spillway}
          step: 10                                 # default: the FMU's default experiment

At each granted time ``t`` the FMU is advanced from its previous time to ``t`` with the
inputs it holds (zero-order hold), then the inputs at ``t`` are written and the outputs
read.  The first step initializes the FMU with the inputs at the start time.

An FMI 3 FMU with clocks is event-driven: it asks to be stepped at the next activation of
its time-based input clocks (and at its communication step, if it has one).  Each of its
clocks is a message endpoint named after the clock: an output clock's activation is a
message with the values of its partition's outputs; a message to a triggered input clock
activates it (its payload may set the clock's inputs).  See docs/fmu.md, "Clocks".
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from ..api.federate import Context, Federate, derivative_key
from ..api.interface import REQUIRED, Declaration, Endpoint, Input, Output, Parameter, SignalType, State
from .activation import ClockActivation, ClockSetting
from .clocks import ClockCausality, ClockKind, FmuClock
from .cosim import CoSimulation
from .errors import FMUError
from .instance import FmuSnapshot
from .loader import FmuArchive, InterfaceKind, read_fmu
from .modelexchange import ModelExchange, SolverSpec
from .variables import Binding, BoundIO, FmuVariable, Role, ValueIO, bind, check_value, suggest

__all__ = ["PARAMETERS", "FmuFederate", "FmuSpec"]

log = logging.getLogger(__name__)

_OPTIONAL_MAP = (list, dict, type(None))


@dataclass(frozen=True)
class FmuSpec:
    """The federate's params, parsed and checked."""

    path: Path
    inputs: Any = None
    outputs: Any = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    start: Mapping[str, Any] = field(default_factory=dict)
    step: float | None = None
    solver: SolverSpec = field(default_factory=SolverSpec)
    tolerance: float | None = None
    interface: InterfaceKind | None = None
    validate: bool = True
    clocks: Mapping[str, ClockSetting] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> FmuSpec:
        raw = params.get("fmu")
        if not isinstance(raw, (str, os.PathLike)) or not str(raw):
            raise FMUError(f"params.fmu: the path of the .fmu file is required, got {raw!r}")
        path = Path(raw).expanduser()
        base = params.get("_base_dir")
        if not path.is_absolute() and base:
            path = Path(base) / path
        step = params.get("step")
        if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0):
            raise FMUError(f"params.step: expected a positive number of seconds, got {step!r}")
        interface = params.get("interface")
        return cls(
            path=path, inputs=params.get("inputs"), outputs=params.get("outputs"),
            parameters=_mapping(params, "parameters"), start=_mapping(params, "start"),
            step=None if step is None else float(step), solver=SolverSpec.parse(params.get("solver")),
            tolerance=_tolerance(params.get("tolerance")),
            interface=None if interface is None else InterfaceKind.parse(str(interface)),
            validate=bool(params.get("validate", True)), clocks=_clock_settings(params.get("clocks")),
        )  # fmt: skip

    def archive(self) -> FmuArchive:
        return read_fmu(self.path, validate=self.validate)


def _mapping(params: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = params.get(key) or {}
    if not isinstance(value, Mapping):
        raise FMUError(f"params.{key}: expected a mapping {{variable: value}}, got {type(value).__name__}")
    return dict(value)


def _clock_settings(value: Any) -> dict[str, ClockSetting]:
    """``clocks: {name: {interval: s, shift: s}}``, checked for form (the clock names are checked against the FMU)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise FMUError(f"params.clocks: expected a mapping {{clock: {{interval: s, shift: s}}}}, got {type(value).__name__}")
    out = {}
    for name, setting in value.items():
        if not isinstance(setting, Mapping) or set(setting) - {"interval", "shift"}:
            raise FMUError(f"params.clocks.{name}: expected {{interval: seconds, shift: seconds}}, got {setting!r}")
        numbers = {}
        for key in ("interval", "shift"):
            x = setting.get(key)
            if x is not None and (isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x)
                                  or x < 0 or (key == "interval" and x == 0)):  # fmt: skip
                raise FMUError(f"params.clocks.{name}.{key}: expected a {'positive' if key == 'interval' else 'non-negative'} "
                               f"number of seconds, got {x!r}")  # fmt: skip
            numbers[key] = None if x is None else float(x)
        out[str(name)] = ClockSetting(**numbers)
    return out


def _tolerance(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):  # YAML 1.1 reads 1e-6 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise FMUError(f"params.tolerance: expected a relative tolerance in (0, 1), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class _Plan:
    """What declare() worked out, kept in Declaration.extra for the instance."""

    archive: FmuArchive
    kind: InterfaceKind
    inputs: tuple[Binding, ...]
    outputs: tuple[Binding, ...]
    start: Mapping[str, Any]
    clocks: Mapping[str, ClockSetting] = field(default_factory=dict)

    @property
    def clocked(self) -> bool:
        return bool(self.archive.model.clocks)


def _check_clocks(spec: FmuSpec, archive: FmuArchive, kind: InterfaceKind) -> None:
    """The FMU can run its clocks with ``kind``, and ``params.clocks`` names clocks whose interval may be set."""
    clocks = {c.name: c for c in archive.model.clocks}
    if clocks and kind is InterfaceKind.CO_SIMULATION and not archive.interface(kind).has("hasEventMode"):
        other = " (use interface: model-exchange)" if InterfaceKind.MODEL_EXCHANGE in archive.kinds else ""
        raise FMUError(f"{archive.label} has clocks but its Co-Simulation interface has no event mode "
                       f"(hasEventMode), which FMI 3.0 requires to activate clocks{other}")  # fmt: skip
    problems = []
    for name in spec.clocks:
        clock = clocks.get(name)
        if clock is None:
            problems.append(f"clocks.{name}: no such clock in the FMU{suggest(name, clocks)}")
        elif not clock.settable_interval:
            problems.append(f"clocks.{name}: {_why_fixed(clock)}")
    if problems:
        raise FMUError(f"{archive.label}: " + "; ".join(problems))


def _endpoint_doc(clock: FmuClock) -> str:
    if clock.is_input:
        return f"a message here activates the triggered input clock '{clock.name}'" if not clock.kind.time_based \
            else f"time-based input clock '{clock.name}' ({clock.kind.value}); activated on its own, takes no messages"
    return f"a message from here at each activation of the output clock '{clock.name}', with its partition's outputs"


def _why_fixed(clock: FmuClock) -> str:
    if not clock.is_input:
        return f"an {clock.causality} clock is activated by the FMU; its interval cannot be set"
    if clock.kind is ClockKind.CONSTANT:
        return f"a constant clock keeps the interval of the model description ({clock.interval:g} s)"
    if clock.kind.periodic:
        return (f"a {clock.kind.value} clock without intervalDecimal takes its interval from the FMU "
                "(set the parameters it depends on instead)")  # fmt: skip
    return f"a {clock.kind.value} clock has no interval the importer sets"


def _check_settings(spec: FmuSpec, archive: FmuArchive, variables: Mapping[str, FmuVariable]) -> dict[str, Any]:
    """Check ``parameters`` and ``start`` against the FMU; return them merged (name -> value)."""
    problems: list[str] = []
    merged: dict[str, Any] = {}
    for key, entries in (("parameters", spec.parameters), ("start", spec.start)):
        for name, value in entries.items():
            variable = variables.get(name)
            if variable is None:
                pool = [n for n, v in variables.items() if _settable(v, key)]
                problems.append(f"{key}.{name}: no such variable in the FMU{suggest(name, pool)}")
                continue
            if not _settable(variable, key):
                hint = " (use 'start' for non-parameters)" if key == "parameters" else ""
                problems.append(f"{key}.{name}: a {variable.causality} with initial={variable.initial} "
                                f"cannot be set{hint}")  # fmt: skip
                continue
            bad = check_value(variable, value)
            if bad:
                problems.append(f"{key}.{name}: wrong type: {bad}")
            merged[name] = value
    if problems:
        raise FMUError(f"{archive.label}: " + "; ".join(problems))
    return merged


def _settable(variable: FmuVariable, key: str) -> bool:
    if key == "parameters":
        return variable.causality in {"parameter", "structuralParameter"}
    return variable.causality == "input" or (variable.variability != "constant"
                                             and variable.initial in {"exact", "approx"})  # fmt: skip


PARAMETERS: tuple[Parameter[Any], ...] = (
    Parameter(REQUIRED, name="fmu", type=(str, os.PathLike), doc="path of the .fmu file (relative to the scenario)"),
    Parameter(None, name="inputs", type=_OPTIONAL_MAP, doc="input variables: a list, or {signal: fmu_variable}"),
    Parameter(None, name="outputs", type=_OPTIONAL_MAP, doc="output variables: a list, or {signal: fmu_variable}"),
    Parameter(None, name="parameters", type=(dict, type(None)), doc="parameter values {variable: value}"),
    Parameter(None, name="start", type=(dict, type(None)), doc="start values {variable: value}"),
    Parameter(None, name="step", type=(int, float, type(None)), unit="s",
              doc="communication step (default: the FMU's default experiment stepSize)"),
    Parameter(None, name="solver", type=(str, type(None)), doc="Model Exchange solver: cvode, scipy, scipy:<method>"),
    Parameter(None, name="tolerance", type=(float, str, type(None)), doc="relative tolerance (ME solver, FMU)"),
    Parameter(None, name="interface", type=(str, type(None)), doc="co-simulation or model-exchange (default: CS)"),
    Parameter(True, name="validate", doc="validate modelDescription.xml (false: load anyway, with a warning)"),
    Parameter(None, name="clocks", type=(dict, type(None)),
              doc="intervals of fixed/tunable clocks: {clock: {interval: s, shift: s}}"),
)


def _state_indices(archive: FmuArchive, kind: InterfaceKind) -> dict[str, int]:
    """Scalar float continuous states of a Model Exchange FMU -> their index in the state vector."""
    if kind is not InterfaceKind.MODEL_EXCHANGE:
        return {}
    variables, out, index = archive.model.variable_map(), {}, 0
    for name in archive.model.states:
        variable = variables[name]
        if not variable.shape and variable.signal_type is SignalType.FLOAT:
            out[name] = index
        index += variable.size
    return out


def _correctable_note(archive: FmuArchive, kind: InterfaceKind) -> str:
    """Why an output of this FMU is not correctable (for the synchronise: section's message)."""
    if kind is InterfaceKind.MODEL_EXCHANGE:
        return (f"{archive.label} is run as Model Exchange: only its scalar continuous states are correctable "
                f"({', '.join(archive.model.states) or 'it has none'})")  # fmt: skip
    me = archive.model.interface(InterfaceKind.MODEL_EXCHANGE) is not None
    return (f"{archive.label} is run as Co-Simulation, whose states FMI lets no one set from outside"
            + ("; it offers Model Exchange too: run it with 'interface: model-exchange'" if me else ""))


def _no_step(archive: FmuArchive, kind: InterfaceKind) -> str:
    """What to say when the scenario gives the FMU no communication step (and the FMU has no default)."""
    why = ("its outputs are published and its inputs read at each communication point, and the solver never "
           "steps further" if kind is InterfaceKind.MODEL_EXCHANGE
           else "doStep advances it from one communication point to the next")  # fmt: skip
    return (f"{archive.label} has no default step size (DefaultExperiment stepSize): set 'step:' under params "
            f"(or 'period:' on the federate) to its communication step in seconds; {why}")


class FmuFederate(Federate):
    """Wraps an FMU; see the module docstring and docs/fmu.md."""

    #: The runtime passes the scenario's folder as ``_base_dir``: a relative ``fmu`` path starts there,
    #: whatever the spelling of the type (``fmu``, ``federation.fmu:FmuFederate``, a subclass).
    resolves_paths: ClassVar[bool] = True

    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        """Read the model description (cached) and declare the mapped inputs and outputs."""
        decl = super().declare(params)
        spec = FmuSpec.from_params(params)
        archive = spec.archive()
        archive.require_supported()  # fail at validation time, not half-way into a run
        archive.require_binary()
        kind = archive.pick_kind(spec.interface)
        _check_clocks(spec, archive, kind)
        variables = archive.model.variable_map()
        ins = bind(spec.inputs, variables, Role.INPUT, archive.label)
        outs = bind(spec.outputs, variables, Role.OUTPUT, archive.label)
        start = _check_settings(spec, archive, variables)
        plan = _Plan(archive, kind, ins, outs, start, dict(spec.clocks))
        extra = {**decl.extra, "fmu": plan, "restartable": archive.interface(kind).can_get_and_set_state,
                 "correctable_note": _correctable_note(archive, kind),
                 "units": {u.name: u for u in archive.model.units}}  # connections convert with these (docs/fmu.md)
        states = _state_indices(archive, kind)
        if not plan.clocked:  # a clocked FMU is event-driven: it names its next activation
            extra["needs_period"] = _no_step(archive, kind)
        return replace(
            decl,
            parameters=decl.parameters + PARAMETERS,
            inputs=tuple(Input(name=b.signal, unit=b.variable.unit, default=start.get(b.variable.name, b.variable.default()),
                               type=b.variable.signal_type, doc=b.variable.description) for b in ins),  # a start value
                                                                                                      # is the default
            outputs=tuple((State if b.variable.name in states else Output)(
                name=b.signal, unit=b.variable.unit, default=b.variable.default(), type=b.variable.signal_type,
                doc=b.variable.description) for b in outs),  # a continuous state of an ME FMU is correctable
            endpoints=decl.endpoints + tuple(Endpoint(name=c.name, doc=_endpoint_doc(c)) for c in archive.model.clocks
                                             if c.role is not ClockCausality.LOCAL),
            period=None if plan.clocked else spec.step or archive.default_step,
            extra=extra,
        )  # fmt: skip

    def __init__(self, params: Mapping[str, Any], context: Context) -> None:
        super().__init__(params, context)
        self.spec = FmuSpec.from_params(self.params)
        self.plan: _Plan = self.declaration.extra["fmu"]
        fmi3 = self.plan.archive.fmi3
        plain_in = [b for b in self.plan.inputs if not b.variable.clocks]  # clocked ones: at their clock's activation
        self._in_signals = [b.signal for b in plain_in]
        self._in_io = ValueIO([b.variable for b in plain_in], fmi3)
        plain_out = [b for b in self.plan.outputs if not b.variable.clocks]
        self._out_signals = [b.signal for b in plain_out]
        self._out_io = ValueIO([b.variable for b in plain_out], fmi3)
        self._held_outputs = [(b.signal, b.variable.name) for b in self.plan.outputs if b.variable.clocks]
        # An input jumps when its value changes, unless its connection makes it continuous (it then ramps).
        self._jumps = [b.variable.discrete or b.signal not in context.continuous for b in plain_in]
        self._ramps = [derivative_key(b.signal) for b in plain_in] if any(not j for j in self._jumps) else None
        # the Real scalars among them, by value reference: a CS FMU that interpolates inputs takes their slopes
        self._ramped_reals = [(b.variable.value_reference, derivative_key(b.signal)) for b, j in zip(plain_in, self._jumps)
                              if not j and b.variable.fmi_type == "Real" and not b.variable.shape]  # fmt: skip
        self._written: list[Any] | None = None
        self._ins: BoundIO | None = None
        self._outs: BoundIO | None = None
        self.step_size = self.spec.step or context.period or self.plan.archive.default_step
        self.instance: CoSimulation | ModelExchange | None = None

    # ------------------------------------------------------------------ life cycle
    def setup(self) -> None:
        """Extract and instantiate the FMU (initialization waits for the first step's inputs)."""
        self.instance = self._instantiate()

    def _instantiate(self) -> CoSimulation | ModelExchange:
        plan = self.plan
        instance: CoSimulation | ModelExchange
        if plan.kind is InterfaceKind.CO_SIMULATION:
            instance = CoSimulation(plan.archive, self.name, tolerance=self.spec.tolerance)
        else:
            instance = ModelExchange(plan.archive, self.name, solver=self.spec.solver, tolerance=self.spec.tolerance,
                                     max_step=self.step_size)  # fmt: skip
        self._ins, self._outs = self._in_io.attach(instance.api), self._out_io.attach(instance.api)
        if plan.clocked:
            clocks = ClockActivation(instance, plan.archive.model.clocks, plan.archive.model.variable_map(),
                                     plan.inputs, plan.clocks)  # fmt: skip
            clocks.attach()
            clocks.signal_values = lambda: self.inputs
            instance.clocks = clocks
        return instance

    def step(self, t: float) -> float | None:
        inst, ins, outs = self.instance, self._ins, self._outs
        if inst is None or ins is None or outs is None:
            raise FMUError(f"{self.plan.archive.label}: step() before setup()")
        inputs = self.inputs
        values = [inputs[s] for s in self._in_signals]
        if inst.clocks is not None:
            return self._clocked_step(inst, t, values, ins, outs)
        if not inst.initialized:
            inst.initialize(t, self.plan.start, ins, values)
        else:
            if t < inst.time and not math.isclose(t, inst.time, rel_tol=1e-12, abs_tol=1e-12):
                raise FMUError(f"{self.plan.archive.label}: asked to step back from t={inst.time:g} to {t:g} s")
            inst.advance(t)
            if values != self._written:
                inst.set_inputs(ins, values, self._jumped(values))
        if self._ramps is not None and isinstance(inst, ModelExchange):
            inst.ramp(ins, values, [float(inputs.get(key, 0.0)) for key in self._ramps])
        elif self._ramped_reals and isinstance(inst, CoSimulation):
            inst.ramp([vr for vr, _ in self._ramped_reals], [float(inputs.get(key, 0.0)) for _, key in self._ramped_reals])
        self._written = values
        outputs = self.outputs
        for signal, value in zip(self._out_signals, outs.read()):
            outputs[signal] = value
        return None

    def correct(self, state: str, value: float) -> None:
        """Set a continuous state of a Model Exchange FMU (a synchronise: correction, docs/synchronise.md)."""
        inst = self.instance
        binding = next(b for b in self.plan.outputs if b.signal == state)
        index = _state_indices(self.plan.archive, self.plan.kind).get(binding.variable.name)
        if not isinstance(inst, ModelExchange) or index is None:
            raise FMUError(f"{self.plan.archive.label}: output '{state}' is not a continuous state of a Model "
                           "Exchange FMU and cannot be corrected")  # fmt: skip
        inst.set_continuous_state(index, value)
        outputs = self.outputs
        for signal, read in zip(self._out_signals, self._outs.read() if self._outs is not None else ()):
            outputs[signal] = read

    def _clocked_step(self, inst: CoSimulation | ModelExchange, t: float, values: list[Any], ins: BoundIO,
                      outs: BoundIO) -> float | None:  # fmt: skip
        """A step of an FMU with clocks: advance through the activations before ``t``, then the instant ``t``."""
        clocks = inst.clocks
        assert clocks is not None
        triggered = self._triggers(clocks, t)
        if not inst.initialized:
            inst.initialize(t, self.plan.start, ins, values, triggered)
        else:
            if t < inst.time and not math.isclose(t, inst.time, rel_tol=1e-12, abs_tol=1e-12):
                raise FMUError(f"{self.plan.archive.label}: asked to step back from t={inst.time:g} to {t:g} s")
            inst.advance(t)
            inst.instant(ins, values if values != self._written else None, triggered)
        self._written = values
        outputs = self.outputs
        for signal, value in zip(self._out_signals, outs.read()):
            outputs[signal] = value
        for signal, name in self._held_outputs:
            outputs[signal] = clocks.held[name]
        for tick in clocks.ticks:  # an output clock's activation is a message, when the scenario routes it
            if tick.clock in self.context.routes:
                self.send(tick.clock, tick.values)
        clocks.ticks = []
        return self._next_time(t, clocks.next_time())

    def _triggers(self, clocks: ClockActivation, t: float) -> dict[str, dict[str, Any]]:
        """The triggered input clocks the messages of this step activate, with their payloads."""
        triggered: dict[str, dict[str, Any]] = {}
        for message in self.inbox:
            clock = clocks.clocks.get(message.endpoint)
            if clock is None or not clock.is_input or clock.kind.time_based:
                what = "not a clock" if clock is None else f"an {clock.causality} {clock.kind.value} clock"
                raise FMUError(f"{self.plan.archive.label}: message from {message.sender} at t={t:g} s to endpoint "
                               f"'{message.endpoint}', which is {what}: only triggered input clocks take "
                               "messages")  # fmt: skip
            triggered.setdefault(clock.name, {}).update(clocks.payload(clock.name, message.payload, message.sender, t))
        return triggered

    def _next_time(self, t: float, tick: float | None) -> float | None:
        """When to be stepped next: the next clock activation or communication point, at least one tick on."""
        candidates = [x for x in (tick, None if self.step_size is None else t + self.step_size) if x is not None]
        if not candidates:
            return None
        return max(min(candidates), t + self.context.resolution)

    def _jumped(self, values: list[Any]) -> bool:
        """Whether an input jumped: a discrete one, or one whose connection holds its value, changed."""
        old = self._written or [None] * len(values)
        return any(j and a != b for j, a, b in zip(self._jumps, values, old))

    def finalize(self) -> None:
        """Terminate and free the FMU, remove its extracted files."""
        if self.instance is not None:
            instance, self.instance = self.instance, None
            instance.close()

    # ------------------------------------------------------------------ iterate groups
    def get_state(self) -> Any:
        """FMU state (serialized when the FMU can, with the clock timetable), outputs and held inputs."""
        inst = self.instance
        if inst is None or not inst.initialized:
            return {"initialized": False, "outputs": dict(self.outputs)}
        return {"initialized": True, "fmu": inst.save(), "outputs": dict(self.outputs),
                "written": list(self._written or [])}  # fmt: skip

    def set_state(self, state: Any) -> None:
        """Restore a :meth:`get_state` snapshot (re-instantiating if it predates initialization)."""
        self.outputs.update(state["outputs"])
        if not state["initialized"]:
            if self.instance is not None and self.instance.initialized:
                self.instance.close()
                self.instance = self._instantiate()
            self._written = None
            return
        assert self.instance is not None
        snapshot: FmuSnapshot = state["fmu"]
        self.instance.restore(snapshot)
        self._written = list(state["written"])

    # ------------------------------------------------------------------ checkpoints (docs/what-if.md)
    def save_state(self) -> Any:
        """The serialized FMU state (fmi2SerializeFMUstate / fmi3SerializeFMUState) with the wrapper's own.

        An FMU that cannot serialize its state (canGetAndSetFMUstate or canSerializeFMUstate
        false) cannot be part of a checkpoint: the error names it.
        """
        inst = self.instance
        interface = self.plan.archive.interface(self.plan.kind)
        if not (interface.can_get_and_set_state and interface.can_serialize_state):
            flag = "canGetAndSetFMUstate" if not interface.can_get_and_set_state else "canSerializeFMUstate"
            raise FMUError(f"{self.plan.archive.label} (federate '{self.name}') cannot be checkpointed: its model "
                           f"description says {flag}=\"false\", so its state cannot be saved to the run store")  # fmt: skip
        own = {"time": self.time, "outputs": dict(self.outputs)}
        if inst is None or not inst.initialized:
            return {**own, "initialized": False}
        snapshot = inst.save()
        return {**own, "initialized": True, "fmu": snapshot, "written": list(self._written or [])}

    def restore_state(self, state: Any) -> None:
        """Initialize the new instance at the saved time, then set the deserialized FMU state."""
        self.time = state["time"]
        self.outputs.update(state["outputs"])
        if not state["initialized"]:
            return
        inst, ins = self.instance, self._ins
        assert inst is not None and ins is not None
        snapshot: FmuSnapshot = state["fmu"]
        written = list(state["written"])
        inst.initialize(snapshot.time, self.plan.start, ins, written)
        inst.restore(snapshot)
        self._written = written

    def __repr__(self) -> str:
        t = self.instance.time if self.instance is not None else self.time
        return f"<FmuFederate {self.name!r} {self.plan.archive.name} {self.plan.kind.short} t={t:g}>"
