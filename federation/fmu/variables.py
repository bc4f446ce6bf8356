"""The FMU's variables as the federation sees them: types, units, mapping, value transfer.

* :class:`FmuVariable` -- one model variable with its :class:`~federation.SignalType`;
* :func:`bind` -- turns a scenario's ``inputs`` / ``outputs`` (a list of names, or a
  mapping ``{scenario_name: fmu_variable}``) into :class:`Binding` objects, with
  suggestions for misspelt names;
* :func:`check_value` -- type check of a ``parameters`` / ``start`` value;
* :class:`ValueIO` -- batched get/set of bound variables, one C call per type, arrays built once.
"""

from __future__ import annotations

import difflib
import enum
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..api.interface import SignalType
from .errors import FMUError

if TYPE_CHECKING:
    from .binding import FmiApi

__all__ = ["Binding", "BoundIO", "FmuVariable", "Role", "ValueIO", "bind", "check_value", "suggest"]

_FLOAT_TYPES = frozenset({"Real", "Float32", "Float64"})
_INT_TYPES = frozenset({"Integer", "Enumeration", "Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "Int64",
                        "UInt64"})  # fmt: skip
_SIGNAL_OF_TYPE = {**dict.fromkeys(_FLOAT_TYPES, SignalType.FLOAT), **dict.fromkeys(_INT_TYPES, SignalType.INT),
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
    clocks: tuple[str, ...] = ()  # the clocks this variable is clocked by (FMI 3 ``clocks``)

    @property
    def size(self) -> int:
        return math.prod(self.shape) if self.shape else 1

    @property
    def is_clock(self) -> bool:
        return self.fmi_type == "Clock"

    @property
    def signal_type(self) -> SignalType:
        if self.is_clock:
            raise FMUError(f"variable '{self.name}' is a Clock: a clock is not a signal but a message endpoint of "
                           "the federate (see 'Clocks' in docs/fmu.md); remove it from inputs/outputs")  # fmt: skip
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
        if self is Role.INPUT:  # a tunable parameter may be changed during the run, as an input
            return variable.causality == "input" or (variable.causality == "parameter"
                                                     and variable.variability == "tunable")  # fmt: skip
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
        wanted = {n: n for n, v in variables.items()  # Binary and Clock variables cannot be signals: left out
                  if v.causality == role.default_causality() and v.fmi_type in _SIGNAL_OF_TYPE}
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


class _Group:
    """Bound variables of one type, read or written with one C call."""

    def __init__(self, fmi_type: str, items: list[tuple[int, FmuVariable]], fmi3: bool) -> None:
        self.fmi_type = fmi_type
        self.positions = [i for i, _ in items]
        self.variables = [v for _, v in items]
        self.vrs = [v.value_reference for v in self.variables]
        self.count = sum(v.size for v in self.variables)
        self.arrays = any(v.shape for v in self.variables)
        self.text = fmi_type == "String"
        # what a C value becomes on the wire, and back (None: as it is)
        self.to_wire: Any = _text if self.text else (bool if fmi_type == "Boolean" and not fmi3 else None)
        self.to_c: Any = _bytes if self.text else (int if fmi_type == "Boolean" and not fmi3
                                                   else _TO_C.get(_SIGNAL_OF_TYPE.get(fmi_type)))  # fmt: skip


_TO_C: dict[Any, Any] = {SignalType.FLOAT: float, SignalType.INT: int, SignalType.BOOL: bool}


def _text(value: Any) -> str:
    return "" if value is None else value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _bytes(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else str(value).encode("utf-8")


class ValueIO:
    """A fixed list of variables read and written together; :meth:`attach` binds it to an instance."""

    def __init__(self, variables: Sequence[FmuVariable], fmi3: bool) -> None:
        self.variables = tuple(variables)
        by_type: dict[str, list[tuple[int, FmuVariable]]] = {}
        for i, v in enumerate(self.variables):
            by_type.setdefault(v.fmi_type, []).append((i, v))
        self.groups = [_Group(t, items, fmi3) for t, items in by_type.items()]

    def attach(self, api: FmiApi) -> BoundIO:
        return BoundIO(self, api)


class BoundIO:
    """:class:`ValueIO` on one instance: the C arrays of value references and values are built here, once.

    Scalars (the usual case) are read group by group into one flat list, converted where the
    C type is not the wire type (strings; FMI 2 Booleans), and put in the variables' order.
    """

    def __init__(self, io: ValueIO, api: FmiApi) -> None:
        self.size = len(io.variables)
        self.groups = [(g, api.accessor(g.fmi_type, g.vrs, g.count)) for g in io.groups]
        self._scalars = not any(g.arrays for g in io.groups)
        self._readers = [accessor.read for _, accessor in self.groups]
        order = [pos for g in io.groups for pos in g.positions]  # flat index -> variable position
        self._order = None if order == list(range(self.size)) else [order.index(i) for i in range(self.size)]
        at, convert = 0, []
        for g in io.groups:
            if g.to_wire is not None:
                convert += [(at + k, g.to_wire) for k in range(len(g.positions))]
            at += len(g.positions)
        self._convert = convert

    def read(self) -> list[Any]:
        """Current values, as wire values, in the order of the variables."""
        if not self._scalars:
            return self._read_arrays()
        readers = self._readers
        flat = readers[0]() if len(readers) == 1 else [x for read in readers for x in read()]
        for i, convert in self._convert:
            flat[i] = convert(flat[i])
        order = self._order
        return flat if order is None else [flat[i] for i in order]

    def _read_arrays(self) -> list[Any]:
        out: list[Any] = [None] * self.size
        for g, accessor in self.groups:
            raw = accessor.read()
            convert = g.to_wire
            at = 0
            for pos, v in zip(g.positions, g.variables):
                part = raw[at:at + v.size] if v.shape else raw[at]
                out[pos] = ([convert(x) for x in part] if v.shape else convert(part)) if convert else part
                at += v.size
        return out

    def write(self, values: Sequence[Any]) -> None:
        """Set ``values`` (in the order of the variables)."""
        for g, accessor in self.groups:
            if g.arrays:
                flat: list[Any] = []
                for pos, v in zip(g.positions, g.variables):
                    flat.extend(_flatten(values[pos]) if v.shape else [values[pos]])
            else:
                flat = [values[pos] for pos in g.positions]
            convert = g.to_c
            accessor.write([convert(x) for x in flat] if convert is not None else flat)
