"""The FMU's variables as the federation sees them: types, units, mapping, value transfer.

* :class:`FmuVariable` -- one model variable with its :class:`~federation.SignalType`;
* :func:`bind` -- turns a scenario's ``inputs`` / ``outputs`` (a list of names, or a
  mapping ``{scenario_name: fmu_variable}``) into :class:`Binding` objects, with
  suggestions for misspelt names;
* :func:`check_value` -- type check of a ``parameters`` / ``start`` value;
* :class:`ValueIO` -- batched get/set of bound variables through fmpy, one call per type.
"""

from __future__ import annotations

import difflib
import enum
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fmpy.model_description import ModelDescription

from ..api.interface import SignalType
from .errors import FMUError

__all__ = ["Binding", "FmuVariable", "Role", "ValueIO", "bind", "check_value", "suggest", "variables_of"]

_FLOAT_TYPES = frozenset({"Real", "Float32", "Float64"})
_INT_TYPES = frozenset({"Integer", "Enumeration", "Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "Int64",
                        "UInt64"})  # fmt: skip
_SIGNAL_OF_TYPE = {**{t: SignalType.FLOAT for t in _FLOAT_TYPES}, **{t: SignalType.INT for t in _INT_TYPES},
                   "Boolean": SignalType.BOOL, "String": SignalType.STR}  # fmt: skip


@dataclass(frozen=True)
class FmuVariable:
    """A model variable, reduced to what the adapter needs."""

    name: str
    value_reference: int
    fmi_type: str  # fmpy's type name: Real, Integer, Boolean, String, Float64, Int32, ...
    causality: str
    variability: str
    initial: str | None
    unit: str | None
    start: str | None
    shape: tuple[int, ...]
    description: str = ""

    @property
    def size(self) -> int:
        return math.prod(self.shape) if self.shape else 1

    @property
    def signal_type(self) -> SignalType:
        if self.fmi_type not in _SIGNAL_OF_TYPE:
            raise FMUError(f"variable '{self.name}' is of type {self.fmi_type}, which cannot be a federation signal")
        return SignalType.ARRAY if self.shape else _SIGNAL_OF_TYPE[self.fmi_type]

    @property
    def discrete(self) -> bool:
        """Set only in event mode (FMI 3 CS with event mode, ME)."""
        return self.variability != "continuous" or self.fmi_type not in _FLOAT_TYPES

    def default(self) -> Any:
        """The start value as a wire value (zero / False / '' when there is none)."""
        if self.start is None:
            scalar = _zero(self.fmi_type)
            return [scalar] * self.size if self.shape else scalar
        values = [_parse(self.fmi_type, s) for s in (self.start.split() if self.shape else [self.start])]
        return values if self.shape else values[0]

    def describe(self) -> str:
        text = f"{self.name} ({self.causality} {self.fmi_type}"
        if self.shape:
            text += "[" + ",".join(map(str, self.shape)) + "]"
        return text + (f", {self.unit})" if self.unit else ")")


def _zero(fmi_type: str) -> Any:
    if fmi_type in _FLOAT_TYPES:
        return 0.0
    if fmi_type == "Boolean":
        return False
    if fmi_type == "String":
        return ""
    return 0


def _parse(fmi_type: str, text: str) -> Any:
    if fmi_type in _FLOAT_TYPES:
        return float(text)
    if fmi_type in _INT_TYPES:
        return int(text)
    if fmi_type == "Boolean":
        return text.strip().lower() in {"true", "1"}
    return text


def variables_of(model: ModelDescription) -> dict[str, FmuVariable]:
    """Every named variable of ``model`` by name (FMI 3 aliases included)."""
    out: dict[str, FmuVariable] = {}
    fmi2 = str(model.fmiVersion).startswith("2")
    for v in model.modelVariables:
        unit = v.unit if v.unit is not None else (v.declaredType.unit if v.declaredType is not None else None)
        fmi_type = v.type
        if fmi_type == "Enumeration":
            fmi_type = "Integer" if fmi2 else "Int64"
        out[v.name] = FmuVariable(
            name=v.name, value_reference=int(v.valueReference), fmi_type=fmi_type, causality=v.causality,
            variability=v.variability, initial=v.initial, unit=unit, start=v.start,
            shape=tuple(v.shape or ()), description=v.description or "",
        )  # fmt: skip
    return out


def suggest(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'a' or 'b'?)`` or an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"


class Role(enum.Enum):
    """Which side of the federate a variable is bound to."""

    INPUT = "inputs"
    OUTPUT = "outputs"

    def accepts(self, variable: FmuVariable) -> bool:
        if self is Role.INPUT:
            return variable.causality == "input"
        return variable.causality not in {"independent"}

    def default_causality(self) -> str:
        return "input" if self is Role.INPUT else "output"


@dataclass(frozen=True)
class Binding:
    """A federation signal ``signal`` carried by the FMU variable ``variable``."""

    signal: str
    variable: FmuVariable


def bind(spec: Sequence[str] | Mapping[str, str] | None, variables: Mapping[str, FmuVariable], role: Role,
         fmu: str) -> tuple[Binding, ...]:  # fmt: skip
    """Resolve the scenario's ``inputs`` / ``outputs`` entry against the FMU's variables.

    ``None`` binds every variable of the role's causality under its own name; a list
    picks variables; a mapping ``{scenario_name: fmu_variable}`` picks and renames.
    """
    if spec is None:
        wanted = {n: n for n, v in variables.items() if v.causality == role.default_causality()}
    elif isinstance(spec, Mapping):
        wanted = {str(k): str(v) for k, v in spec.items()}
    elif isinstance(spec, (list, tuple)):
        wanted = {str(n): str(n) for n in spec}
    else:
        raise FMUError(f"{fmu}: '{role.value}' must be a list of variable names or a mapping "
                       f"{{scenario_name: fmu_variable}}, got {type(spec).__name__}")  # fmt: skip
    problems, bindings = [], []
    for signal, name in wanted.items():
        variable = variables.get(name)
        if variable is None:
            pool = [n for n, v in variables.items() if role.accepts(v)]
            problems.append(f"{role.value}: '{name}' is not a variable of the FMU{suggest(name, pool)}")
        elif not role.accepts(variable):
            problems.append(f"{role.value}: '{name}' has causality '{variable.causality}' and cannot be "
                            f"{'set as an input' if role is Role.INPUT else 'read'}")  # fmt: skip
        else:
            bindings.append(Binding(signal, variable))
            _ = bindings[-1].variable.signal_type  # raises for Binary / Clock
    if problems:
        raise FMUError(f"{fmu}: " + "; ".join(problems))
    return tuple(bindings)


def check_value(variable: FmuVariable, value: Any) -> str | None:
    """A message when ``value`` cannot be assigned to ``variable``, else ``None``."""
    if variable.shape:
        if not isinstance(value, (list, tuple)):
            return f"expected a list of {variable.size} {variable.fmi_type} values, got {type(value).__name__} {value!r}"
        flat = _flatten(value)
        if len(flat) != variable.size:
            return f"expected {variable.size} values, got {len(flat)}"
        bad = [check_scalar(variable.fmi_type, x) for x in flat]
        return next((b for b in bad if b), None)
    return check_scalar(variable.fmi_type, value)


def check_scalar(fmi_type: str, value: Any) -> str | None:
    if fmi_type in _FLOAT_TYPES:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        expected = "a number"
    elif fmi_type in _INT_TYPES:
        ok = isinstance(value, int) and not isinstance(value, bool)
        expected = "an integer"
    elif fmi_type == "Boolean":
        ok, expected = isinstance(value, bool), "true or false"
    elif fmi_type == "String":
        ok, expected = isinstance(value, str), "a string"
    else:
        return f"variables of type {fmi_type} cannot be set from a scenario"
    if not ok:
        return f"{fmi_type} expects {expected}, got {type(value).__name__} {value!r}"
    return _out_of_range(fmi_type, value)


_INT_RANGES = {"Integer": 32, "Int8": 8, "Int16": 16, "Int32": 32, "Int64": 64, "Enumeration": 64,
               **{f"UInt{bits}": -bits for bits in (8, 16, 32, 64)}}  # fmt: skip
"""Bits of each integer type; negative for unsigned ones (an FMI 2 Integer is 32 bits, ctypes would truncate)."""
_FLOAT_LIMITS = {"Float32": 3.4028234663852886e38, "Float64": sys.float_info.max, "Real": sys.float_info.max}


def _out_of_range(fmi_type: str, value: Any) -> str | None:
    """A message when a number of the right kind does not fit the variable's type (C would wrap it silently)."""
    if fmi_type in _INT_RANGES:
        bits = _INT_RANGES[fmi_type]
        low, high = (0, 2**-bits - 1) if bits < 0 else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        return None if low <= value <= high else f"{fmi_type} expects an integer from {low} to {high}, got {value}"
    limit = _FLOAT_LIMITS.get(fmi_type)
    if limit is None or isinstance(value, float) and not math.isfinite(value):
        return None  # IEEE types take infinities and NaN as they are
    return None if abs(value) <= limit else f"{fmi_type} expects a number of magnitude at most {limit!r}, got {value!r}"


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [x for item in value for x in _flatten(item)]
    return [value]


_TO_WIRE = {SignalType.FLOAT: float, SignalType.INT: int, SignalType.BOOL: bool}


class _Group:
    """Bound variables read or written with one fmpy call."""

    def __init__(self, accessor: str, items: list[tuple[int, FmuVariable]], fmi3: bool) -> None:
        self.accessor = accessor
        self.positions = [i for i, _ in items]
        self.variables = [v for _, v in items]
        self.vrs = [v.value_reference for v in self.variables]
        self.count = sum(v.size for v in self.variables)
        self.fmi3 = fmi3
        kind = _SIGNAL_OF_TYPE.get(self.variables[0].fmi_type, SignalType.ANY)
        self.convert = _TO_WIRE.get(kind, _to_text)


def _to_text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class ValueIO:
    """Batched reading and writing of a fixed list of variables through an fmpy instance."""

    def __init__(self, variables: Sequence[FmuVariable], fmi3: bool) -> None:
        self.variables = tuple(variables)
        by_accessor: dict[str, list[tuple[int, FmuVariable]]] = {}
        for i, v in enumerate(self.variables):
            by_accessor.setdefault(v.fmi_type, []).append((i, v))
        self.groups = [_Group(a, items, fmi3) for a, items in by_accessor.items()]

    def read(self, fmu: Any) -> list[Any]:
        """Current values, as wire values, in the order of ``variables``."""
        out: list[Any] = [None] * len(self.variables)
        for g in self.groups:
            getter = getattr(fmu, "get" + g.accessor)
            raw = getter(g.vrs, g.count) if g.fmi3 else getter(g.vrs)
            at = 0
            for pos, v in zip(g.positions, g.variables):
                if v.shape:
                    out[pos] = [g.convert(x) for x in raw[at:at + v.size]]
                else:
                    out[pos] = g.convert(raw[at])
                at += v.size
        return out

    def write(self, fmu: Any, values: Sequence[Any]) -> None:
        """Set ``values`` (in the order of ``variables``)."""
        for g in self.groups:
            flat: list[Any] = []
            for pos, v in zip(g.positions, g.variables):
                value = values[pos]
                flat.extend(_flatten(value) if v.shape else [value])
            if g.convert is _to_text:
                flat = [str(x) for x in flat]
            else:
                flat = [g.convert(x) for x in flat]
            getattr(fmu, "set" + g.accessor)(g.vrs, flat)
