"""The player's parameters, checked once into frozen specs (every problem at its key).

::

    params:
      file: data/gauges.csv            # a CSV file, or a run store (.sqlite) of an earlier run
      time: {column: time, format: iso} # CSV only; default: the first column, in seconds
      interpolate: hold                # default for every column: hold | linear
      columns:
        level_cm: {output: level, unit: m, source_unit: cm, interpolate: linear}
        rain: {unit: mm/h}             # output named as the column
        pump_on: {type: bool}
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federation import ParameterCheck

from ..units import Conversion, conversion

__all__ = ["ColumnSpec", "Interpolation", "PlayerSpec", "TimeFormat", "ValueType", "parse_spec", "read_spec"]


class Interpolation(str, enum.Enum):
    HOLD = "hold"  # a value holds until the next one (zero-order hold)
    LINEAR = "linear"  # straight line between a column's neighbouring values


class TimeFormat(str, enum.Enum):
    SECONDS = "seconds"  # simulated seconds
    ISO = "iso"  # ISO-8601 date and time, mapped through the run's epoch


class ValueType(str, enum.Enum):
    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    STR = "str"


@dataclass(frozen=True)
class ColumnSpec:
    """One played column (or recorded signal) and the output it feeds."""

    column: str
    output: str
    unit: str | None = None
    convert: Conversion | None = None  # source_unit -> unit
    interpolate: Interpolation = Interpolation.HOLD
    type: ValueType | None = None  # None: from the store (recorded type), float for CSV


@dataclass(frozen=True)
class PlayerSpec:
    file: Path | None  # None: not given (a problem is recorded)
    columns: tuple[ColumnSpec, ...]
    time_column: str | None = None  # None: the CSV's first column
    time_format: TimeFormat = TimeFormat.SECONDS
    delimiter: str = ","
    time_key: tuple[str, ...] = ("time",)  # where the time column is named under params:


_COLUMN_KEYS = ("output", "unit", "source_unit", "interpolate", "type")
_TIME_KEYS = ("column", "format")


def parse_spec(params: Mapping[str, Any]) -> PlayerSpec:
    """Every parameter checked; a :class:`~federation.ParameterError` names each problem at its key."""
    check = ParameterCheck()
    spec = read_spec(params, check)
    check.done()
    return spec


def read_spec(params: Mapping[str, Any], check: ParameterCheck) -> PlayerSpec:
    """The spec, with each problem recorded in ``check`` (a bad value is replaced by its default)."""
    file = _file(params, check)
    default = _choice(params.get("interpolate", "hold"), Interpolation, "interpolate", check) or Interpolation.HOLD
    column, fmt = _time(params.get("time"), check)
    columns = _columns(params.get("columns"), default, check)
    delimiter = params.get("delimiter", ",")
    if not (isinstance(delimiter, str) and len(delimiter) == 1):
        check.fail("delimiter", f"must be one character, got {delimiter!r}")
        delimiter = ","
    time_key = ("time", "column") if isinstance(params.get("time"), dict) else ("time",)
    return PlayerSpec(file, columns, column, fmt, delimiter, time_key)


def _file(params: Mapping[str, Any], check: ParameterCheck) -> Path | None:
    value = params.get("file")
    if not isinstance(value, str) or not value:
        check.fail("file", f"expected the path of a CSV file or a run store, got {value!r}")
        return None
    path = Path(value)
    base = params.get("_base_dir")  # the scenario's folder, set by the runtime and the validator
    return path if path.is_absolute() or not base else Path(str(base)) / path


def _time(value: Any, check: ParameterCheck) -> tuple[str | None, TimeFormat]:
    if value is None:
        return None, TimeFormat.SECONDS
    if isinstance(value, str):
        return value, TimeFormat.SECONDS
    if not isinstance(value, dict):
        check.fail("time", f"expected a column name or {{column, format: seconds|iso}}, got {value!r}")
        return None, TimeFormat.SECONDS
    for key in value:
        if key not in _TIME_KEYS:
            check.fail(("time", key), f"unknown key (expected {', '.join(_TIME_KEYS)})")
    column = value.get("column")
    if column is not None and not isinstance(column, str):
        check.fail(("time", "column"), f"expected a column name, got {column!r}")
        column = None
    fmt = _choice(value.get("format", "seconds"), TimeFormat, ("time", "format"), check) or TimeFormat.SECONDS
    return column, fmt


def _columns(value: Any, default: Interpolation, check: ParameterCheck) -> tuple[ColumnSpec, ...]:
    if not isinstance(value, dict) or not value:
        check.fail("columns", f"expected a mapping of column -> {{output, unit, interpolate}}, got {value!r}")
        return ()
    specs = [_column(str(name), settings, default, check) for name, settings in value.items()]
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.output in seen:
            check.fail(("columns", spec.column, "output"), f"output '{spec.output}' is fed by column "
                                                           f"'{seen[spec.output]}' already")  # fmt: skip
        seen[spec.output] = spec.column
    return tuple(specs)


def _column(name: str, settings: Any, default: Interpolation, check: ParameterCheck) -> ColumnSpec:
    where = ("columns", name)
    settings = {} if settings is None else settings
    if isinstance(settings, str):  # the output's name alone
        settings = {"output": settings}
    if not isinstance(settings, dict):
        check.fail(where, f"expected {{output, unit, source_unit, interpolate, type}}, got {settings!r}")
        return ColumnSpec(name, name)
    for key in settings:
        if key not in _COLUMN_KEYS:
            check.fail((*where, key), f"unknown key (expected {', '.join(_COLUMN_KEYS)})")
    output = settings.get("output", name)
    if not isinstance(output, str) or not output:
        check.fail((*where, "output"), f"expected an output name, got {output!r}")
        output = name
    interpolate = _choice(settings.get("interpolate", default.value), Interpolation, (*where, "interpolate"), check)
    kind = _choice(settings["type"], ValueType, (*where, "type"), check) if "type" in settings else None
    if interpolate is Interpolation.LINEAR and kind not in (None, ValueType.FLOAT):
        check.fail((*where, "interpolate"), f"linear interpolation needs a float column, not {kind.value}")
    unit, convert = _unit(settings, where, check)
    return ColumnSpec(name, output, unit, convert, interpolate or default, kind)


def _unit(settings: Mapping[str, Any], where: tuple[str, ...], check: ParameterCheck) -> tuple[str | None, Conversion | None]:
    unit, source = settings.get("unit"), settings.get("source_unit")
    for key, value in (("unit", unit), ("source_unit", source)):
        if value is not None and not (isinstance(value, str) and value):
            check.fail((*where, key), f"expected a unit name, got {value!r}")
            return None, None
    if source is None:
        return unit, None
    if unit is None:
        check.fail((*where, "source_unit"), "converts to the column's 'unit': give that too")
        return None, None
    convert = check.build((*where, "source_unit"), conversion, source, unit)
    return unit, None if convert is None or convert.identity else convert


def _choice(value: Any, enum_type: type[enum.Enum], key: str | tuple[str, ...], check: ParameterCheck) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        names = " or ".join(e.value for e in enum_type)
        check.fail(key, f"must be {names}, got {value!r}")
        return None
