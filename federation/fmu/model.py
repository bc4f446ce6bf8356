"""What the adapter knows of an FMU's model description, as frozen dataclasses.

:class:`ModelInfo` is built once from fmpy's parse (which also validates the file) and
kept, as JSON, in the FMU cache (:mod:`federation.fmu.cache`), so that a federate process
reads it without importing fmpy, lxml or NumPy.  It holds the interfaces with their
capability flags, the default experiment, the variables (:class:`~.variables.FmuVariable`)
and the clocks (:class:`~.clocks.FmuClock`), whose interval attributes fmpy does not read.
"""

from __future__ import annotations

import enum
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..units import BASE_UNITS, UnitDefinition
from .clocks import ClockKind, FmuClock
from .errors import FMUError
from .variables import FmuVariable

__all__ = ["FORMAT", "Experiment", "FmiVersion", "InterfaceInfo", "InterfaceKind", "ModelInfo", "UnitDefinition"]

FORMAT = 3  # 3: continuous states (``states``)
"""Version of the JSON form of :class:`ModelInfo` (a cached file of another version is re-read)."""


class FmiVersion(enum.Enum):
    """The FMI standards the adapter runs."""

    FMI2 = "2.0"
    FMI3 = "3.0"

    @classmethod
    def parse(cls, text: str, fmu: str) -> FmiVersion:
        major = text.split(".")[0]
        for version in cls:
            if version.value.split(".")[0] == major:
                return version
        raise FMUError(f"{fmu}: FMI version {text} is not supported (only 2.0 and 3.0)")


class InterfaceKind(enum.Enum):
    """How an FMU is simulated; the values are the model description's element names."""

    CO_SIMULATION = "CoSimulation"
    MODEL_EXCHANGE = "ModelExchange"

    @classmethod
    def parse(cls, text: str) -> InterfaceKind:
        key = text.strip().lower().replace("_", "-").replace(" ", "-")
        aliases = {"cs": cls.CO_SIMULATION, "co-simulation": cls.CO_SIMULATION, "cosimulation": cls.CO_SIMULATION,
                   "me": cls.MODEL_EXCHANGE, "model-exchange": cls.MODEL_EXCHANGE,
                   "modelexchange": cls.MODEL_EXCHANGE}  # fmt: skip
        if key not in aliases:
            raise FMUError(f"interface {text!r} is not one of: co-simulation, model-exchange")
        return aliases[key]

    @property
    def short(self) -> str:
        return "CS" if self is InterfaceKind.CO_SIMULATION else "ME"


FLAGS = (
    "canHandleVariableCommunicationStepSize", "canGetAndSetFMUstate", "canSerializeFMUstate", "hasEventMode",
    "mightReturnEarlyFromDoStep", "canInterpolateInputs", "needsCompletedIntegratorStep",
    "providesDirectionalDerivative", "canBeInstantiatedOnlyOncePerProcess", "needsExecutionTool",
    "providesEvaluateDiscreteStates",
)  # fmt: skip
"""The capability flags kept (and shown by ``federation inspect``), in display order."""


@dataclass(frozen=True)
class InterfaceInfo:
    """One interface (CS or ME) of the FMU: its library name and the capability flags it sets."""

    kind: InterfaceKind
    model_identifier: str
    flags: tuple[str, ...]

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def can_get_and_set_state(self) -> bool:
        return self.has("canGetAndSetFMUstate")

    @property
    def can_serialize_state(self) -> bool:
        return self.has("canSerializeFMUstate")


@dataclass(frozen=True)
class Experiment:
    """The model description's ``DefaultExperiment`` (each value ``None`` when not given)."""

    start: float | None = None
    stop: float | None = None
    step: float | None = None
    tolerance: float | None = None
    text: tuple[str | None, ...] = ()  # the four values as the file writes them (for display)


@dataclass(frozen=True)
class ModelInfo:
    """The model description as the adapter uses it."""

    fmi_version: str
    model_name: str
    description: str
    generation_tool: str
    token: str  # FMI 2 guid, FMI 3 instantiationToken
    interfaces: tuple[InterfaceInfo, ...]  # CS first when offered
    experiment: Experiment | None
    continuous_states: int
    event_indicators: int
    variables: tuple[FmuVariable, ...]
    clocks: tuple[FmuClock, ...] = ()
    scheduled_execution: bool = False  # offers FMI 3 Scheduled Execution (not run by the adapter)
    units: tuple[UnitDefinition, ...] = ()
    states: tuple[str, ...] = ()  # the continuous-state variables, in the order of the state vector (Derivatives)

    @property
    def major(self) -> int:
        return int(self.fmi_version.split(".")[0])

    def interface(self, kind: InterfaceKind) -> InterfaceInfo | None:
        return next((i for i in self.interfaces if i.kind is kind), None)

    def variable_map(self) -> dict[str, FmuVariable]:
        return {v.name: v for v in self.variables}

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["interfaces"] = [{**asdict(i), "kind": i.kind.value} for i in self.interfaces]
        data["clocks"] = [{**asdict(c), "kind": c.kind.value} for c in self.clocks]
        return {"format": FORMAT, **data}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelInfo:
        if data.get("format") != FORMAT:
            raise ValueError(f"model info format {data.get('format')!r}, expected {FORMAT}")
        experiment = data["experiment"]
        return cls(
            fmi_version=data["fmi_version"], model_name=data["model_name"], description=data["description"],
            generation_tool=data["generation_tool"], token=data["token"],
            interfaces=tuple(InterfaceInfo(InterfaceKind(i["kind"]), i["model_identifier"], tuple(i["flags"]))
                             for i in data["interfaces"]),
            experiment=None if experiment is None else Experiment(**{**experiment, "text": tuple(experiment["text"])}),
            continuous_states=int(data["continuous_states"]), event_indicators=int(data["event_indicators"]),
            variables=tuple(_variable(v) for v in data["variables"]),
            clocks=tuple(FmuClock(**{**c, "kind": ClockKind(c["kind"])}) for c in data["clocks"]),
            scheduled_execution=bool(data["scheduled_execution"]),
            units=tuple(UnitDefinition(u["name"], tuple(u["exponents"]), u["factor"], u["offset"])
                        for u in data.get("units", ())),
            states=tuple(data.get("states", ())),
        )  # fmt: skip


def _variable(data: Mapping[str, Any]) -> FmuVariable:
    known = {f.name for f in fields(FmuVariable)}
    values = {k: v for k, v in data.items() if k in known}
    values["shape"] = tuple(values.get("shape") or ())
    values["clocks"] = tuple(values.get("clocks") or ())
    return FmuVariable(**values)


# ---------------------------------------------------------------------------- from fmpy
def from_fmpy(md: Any, xml: bytes) -> ModelInfo:
    """:class:`ModelInfo` of fmpy's ``ModelDescription`` ``md``; ``xml`` is the file (for clock attributes)."""
    fmi2 = str(md.fmiVersion).startswith("2")
    elements = ((InterfaceKind.CO_SIMULATION, md.coSimulation), (InterfaceKind.MODEL_EXCHANGE, md.modelExchange))
    interfaces = tuple(InterfaceInfo(kind, str(e.modelIdentifier), tuple(f for f in FLAGS if getattr(e, f, False)))
                       for kind, e in elements if e is not None)  # fmt: skip
    experiment = md.defaultExperiment
    clocks = _clocks(xml) if not fmi2 else ()
    clock_names = {c.value_reference: c.name for c in clocks}
    return ModelInfo(
        fmi_version=str(md.fmiVersion), model_name=str(md.modelName), description=md.description or "",
        generation_tool=md.generationTool or "", token=str(md.guid or ""), interfaces=interfaces,
        experiment=None if experiment is None else _experiment(experiment),
        continuous_states=int(md.numberOfContinuousStates or 0), event_indicators=int(md.numberOfEventIndicators or 0),
        variables=tuple(_fmpy_variable(v, fmi2, clock_names) for v in md.modelVariables),
        clocks=clocks, scheduled_execution=getattr(md, "scheduledExecution", None) is not None,
        units=tuple(_unit(u) for u in md.unitDefinitions or ()),
        states=tuple(d.variable.derivative.name for d in md.derivatives or () if d.variable.derivative is not None),
    )  # fmt: skip


def _unit(unit: Any) -> UnitDefinition:
    base = unit.baseUnit
    if base is None:
        return UnitDefinition(str(unit.name))
    return UnitDefinition(str(unit.name), tuple(int(getattr(base, b) or 0) for b in BASE_UNITS),
                          float(base.factor or 1.0), float(base.offset or 0.0))  # fmt: skip


def _experiment(experiment: Any) -> Experiment:
    raw = [getattr(experiment, a) for a in ("startTime", "stopTime", "stepSize", "tolerance")]
    start, stop, step, tolerance = (None if x is None else float(x) for x in raw)
    return Experiment(start, stop, step, tolerance, text=tuple(None if x is None else str(x) for x in raw))


def _fmpy_variable(v: Any, fmi2: bool, clock_names: Mapping[int, str]) -> FmuVariable:
    unit = v.unit if v.unit is not None else (v.declaredType.unit if v.declaredType is not None else None)
    fmi_type = v.type
    if fmi_type == "Enumeration":
        fmi_type = "Integer" if fmi2 else "Int64"
    clocks = tuple(clock_names.get(int(c.valueReference), str(c.name)) for c in (v.clocks or ()))
    return FmuVariable(
        name=v.name, value_reference=int(v.valueReference), fmi_type=fmi_type, causality=v.causality,
        variability=v.variability, initial=v.initial, unit=unit, start=v.start, shape=tuple(v.shape or ()),
        description=v.description or "", clocks=clocks,
    )  # fmt: skip


_CLOCK_ATTRIBUTES = ("intervalVariability", "intervalDecimal", "shiftDecimal", "intervalCounter", "shiftCounter",
                     "resolution", "canBeDeactivated", "supportsFraction", "priority")  # fmt: skip


def _clocks(xml: bytes) -> tuple[FmuClock, ...]:
    """The Clock variables with the attributes fmpy does not read (from the XML, ClockType defaults applied)."""
    root = ElementTree.fromstring(xml)
    types = {t.get("name"): t.attrib for t in root.iterfind("TypeDefinitions/ClockType")}
    out = []
    for element in root.iterfind("ModelVariables/Clock"):
        attributes = {k: v for k, v in types.get(element.get("declaredType"), {}).items() if k in _CLOCK_ATTRIBUTES}
        attributes.update({k: v for k, v in element.attrib.items() if k in _CLOCK_ATTRIBUTES})
        out.append(FmuClock.from_attributes(str(element.get("name")), int(element.get("valueReference", "0")),
                                            element.get("causality", "local"), attributes,
                                            element.get("description") or ""))  # fmt: skip
    return tuple(out)
