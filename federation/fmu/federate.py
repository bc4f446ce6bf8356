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
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from ..api.federate import Context, Federate
from ..api.interface import REQUIRED, Declaration, Input, Output, Parameter
from .cosim import CoSimulation
from .errors import FMUError
from .instance import FmuSnapshot
from .loader import FmuArchive, InterfaceKind, read_fmu
from .modelexchange import ModelExchange, SolverSpec
from .variables import Binding, FmuVariable, Role, ValueIO, bind, check_value, suggest, variables_of

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
            validate=bool(params.get("validate", True)),
        )  # fmt: skip

    def archive(self) -> FmuArchive:
        return read_fmu(self.path, validate=self.validate)


def _mapping(params: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = params.get(key) or {}
    if not isinstance(value, Mapping):
        raise FMUError(f"params.{key}: expected a mapping {{variable: value}}, got {type(value).__name__}")
    return dict(value)


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
)


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
        variables = variables_of(archive.model)
        ins = bind(spec.inputs, variables, Role.INPUT, archive.label)
        outs = bind(spec.outputs, variables, Role.OUTPUT, archive.label)
        start = _check_settings(spec, archive, variables)
        plan = _Plan(archive, kind, ins, outs, start)
        return replace(
            decl,
            parameters=decl.parameters + PARAMETERS,
            inputs=tuple(Input(name=b.signal, unit=b.variable.unit, default=b.variable.default(),
                               type=b.variable.signal_type, doc=b.variable.description) for b in ins),
            outputs=tuple(Output(name=b.signal, unit=b.variable.unit, default=b.variable.default(),
                                 type=b.variable.signal_type, doc=b.variable.description) for b in outs),
            period=spec.step or archive.default_step,
            extra={**decl.extra, "fmu": plan, "needs_period": _no_step(archive, kind),
                   "restartable": bool(archive.interface(kind).canGetAndSetFMUstate)},
        )  # fmt: skip

    def __init__(self, params: Mapping[str, Any], context: Context) -> None:
        super().__init__(params, context)
        self.spec = FmuSpec.from_params(self.params)
        self.plan: _Plan = self.declaration.extra["fmu"]
        self._in_io = ValueIO([b.variable for b in self.plan.inputs], self.plan.archive.model.fmiMajorVersion == 3)
        self._out_io = ValueIO([b.variable for b in self.plan.outputs], self.plan.archive.model.fmiMajorVersion == 3)
        self._discrete = [b.variable.discrete for b in self.plan.inputs]
        self._written: list[Any] | None = None
        self.instance: CoSimulation | ModelExchange | None = None

    # ------------------------------------------------------------------ life cycle
    def setup(self) -> None:
        """Extract and instantiate the FMU (initialization waits for the first step's inputs)."""
        self.instance = self._instantiate()

    def _instantiate(self) -> CoSimulation | ModelExchange:
        plan = self.plan
        if plan.kind is InterfaceKind.CO_SIMULATION:
            return CoSimulation(plan.archive, self.name, tolerance=self.spec.tolerance)
        step = self.spec.step or self.context.period or plan.archive.default_step
        return ModelExchange(plan.archive, self.name, solver=self.spec.solver, tolerance=self.spec.tolerance,
                             max_step=step)  # fmt: skip

    def step(self, t: float) -> float | None:
        inst = self.instance
        if inst is None:
            raise FMUError(f"{self.plan.archive.label}: step() before setup()")
        values = [self.inputs[b.signal] for b in self.plan.inputs]
        if not inst.initialized:
            inst.initialize(t, self.plan.start, self._in_io, values)
        else:
            if t < inst.time and not math.isclose(t, inst.time, rel_tol=1e-12, abs_tol=1e-12):
                raise FMUError(f"{self.plan.archive.label}: asked to step back from t={inst.time:g} to {t:g} s")
            inst.advance(t)
            if values != self._written:
                inst.set_inputs(self._in_io, values, self._discrete_changed(values))
        self._written = values
        read = inst.call(self._out_io.read, inst.fmu)
        for binding, value in zip(self.plan.outputs, read):
            self.outputs[binding.signal] = value
        return None

    def _discrete_changed(self, values: list[Any]) -> bool:
        old = self._written or [None] * len(values)
        return any(d and a != b for d, a, b in zip(self._discrete, values, old))

    def finalize(self) -> None:
        """Terminate and free the FMU, remove its extracted files."""
        if self.instance is not None:
            instance, self.instance = self.instance, None
            instance.close()

    # ------------------------------------------------------------------ iterate groups
    def get_state(self) -> Any:
        """FMU state (serialized when the FMU can), outputs and held inputs."""
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

    def __repr__(self) -> str:
        t = self.instance.time if self.instance is not None else self.time
        return f"<FmuFederate {self.name!r} {self.plan.archive.name} {self.plan.kind.short} t={t:g}>"
