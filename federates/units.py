"""Unit conversion for values that enter the federation from outside (players, bridges).

A conversion is affine, ``value * scale + offset`` (degrees Fahrenheit to Celsius need the
offset), and is worked out once from the two unit names with pint; converting a value
then costs a multiplication and an addition.  Unit names are those the scenarios use:
``m``, ``cm``, ``m3/s``, ``mm/h``, ``km2``, ``degC``, ``kW`` ... -- a power written as a
trailing digit (``m3``) is read as ``m**3``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["Conversion", "conversion"]

_POWER = re.compile(r"(?<=[A-Za-z])([2-9])\b")


@dataclass(frozen=True)
class Conversion:
    """``target = source * scale + offset``."""

    source: str
    target: str
    scale: float = 1.0
    offset: float = 0.0

    def __call__(self, value: float) -> float:
        return value * self.scale + self.offset

    @property
    def identity(self) -> bool:
        return self.scale == 1.0 and self.offset == 0.0


def conversion(source: str, target: str) -> Conversion:
    """The conversion from ``source`` units to ``target`` units; :class:`ValueError` says why there is none."""
    if source == target:
        return Conversion(source, target)
    registry = _registry()
    import pint

    try:
        zero = registry.Quantity(0.0, _pint_name(source)).to(_pint_name(target)).magnitude
        one = registry.Quantity(1.0, _pint_name(source)).to(_pint_name(target)).magnitude
    except pint.UndefinedUnitError as exc:
        raise ValueError(f"unknown unit {_undefined(exc)!r} (in {source!r} -> {target!r})") from None
    except pint.DimensionalityError as exc:
        raise ValueError(f"cannot convert {source!r} to {target!r}: {exc.dim1} is not {exc.dim2}") from None
    except Exception as exc:  # pint's parser fails in many ways on odd text (even an AssertionError)
        raise ValueError(f"cannot read the units {source!r} -> {target!r} ({type(exc).__name__})") from None
    return Conversion(source, target, float(one - zero), float(zero))


def _pint_name(unit: str) -> str:
    return _POWER.sub(r"**\1", unit.strip())


def _undefined(exc: Any) -> str:
    names = getattr(exc, "unit_names", None)
    if isinstance(names, (tuple, list)) and names:
        return str(names[0])
    return str(names or exc)


@lru_cache(maxsize=1)
def _registry() -> Any:
    """pint's registry: loaded once per process, only when a conversion is needed (it takes a second)."""
    import pint

    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
