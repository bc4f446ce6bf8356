"""Unit conversion: between connected signals, and for values that enter from outside (players, bridges).

A conversion is affine, ``value * scale + offset`` (degrees Celsius to kelvin need the
offset), and is worked out once from the two unit names -- with pint, or with the unit
definitions an FMU brings (FMI ``unitDefinitions``: SI exponents, ``SI = factor * value +
offset``); converting a value then costs a multiplication and an addition.  Unit names are
those the scenarios use: ``m``, ``cm``, ``m3/s``, ``mm/h``, ``km2``, ``degC``, ``kW`` ... -- a
power written as a trailing digit (``m3``) is read as ``m**3``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["BASE_UNITS", "Conversion", "UnitDefinition", "conversion"]

BASE_UNITS = ("kg", "m", "s", "A", "K", "mol", "cd", "rad")
"""The SI base units of FMI's ``BaseUnit`` exponents, in their order."""

_PINT_DIMENSIONS = ("[mass]", "[length]", "[time]", "[current]", "[temperature]", "[substance]", "[luminosity]")
_POWER = re.compile(r"(?<=[A-Za-z])([2-9])\b")


@dataclass(frozen=True)
class UnitDefinition:
    """A unit defined by its SI exponents (in the order of :data:`BASE_UNITS`): ``SI = factor * value + offset``."""

    name: str
    exponents: tuple[int, ...] = (0,) * len(BASE_UNITS)
    factor: float = 1.0
    offset: float = 0.0

    def dimension(self) -> str:
        """``kg·m^2·s^-3``; ``1`` for a dimensionless unit (radians count as dimensionless, as in pint)."""
        return "·".join(n if x == 1 else f"{n}^{x}" for n, x in zip(BASE_UNITS[:-1], self.exponents) if x) or "1"


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


def conversion(source: str, target: str, source_units: Mapping[str, UnitDefinition] | None = None,
               target_units: Mapping[str, UnitDefinition] | None = None) -> Conversion:  # fmt: skip
    """The conversion from ``source`` units to ``target`` units; :class:`ValueError` says why there is none.

    ``source_units`` and ``target_units`` are the unit definitions of the two ends (an FMU's
    ``unitDefinitions``); a unit defined there is taken as defined, any other is read by pint.
    """
    if source == target:
        return Conversion(source, target)
    a, b = (source_units or {}).get(source), (target_units or {}).get(target)
    if a is None and b is None:
        return _by_pint(source, target)
    a = a if a is not None else _definition(source)
    b = b if b is not None else _definition(target)
    if a.exponents[:-1] != b.exponents[:-1]:
        raise ValueError(f"cannot convert {source!r} to {target!r}: {a.dimension()} is not {b.dimension()}")
    return Conversion(source, target, a.factor / b.factor, (a.offset - b.offset) / b.factor)


@lru_cache(maxsize=256)
def _by_pint(source: str, target: str) -> Conversion:
    registry = _registry()
    with _pint_errors(source, target):
        zero = registry.Quantity(0.0, _pint_name(source)).to(_pint_name(target)).magnitude
        one = registry.Quantity(1.0, _pint_name(source)).to(_pint_name(target)).magnitude
    return Conversion(source, target, float(one - zero), float(zero))


def _definition(unit: str) -> UnitDefinition:
    """``unit`` (read by pint) as SI exponents, factor and offset."""
    registry = _registry()
    with _pint_errors(unit, unit):
        zero = registry.Quantity(0.0, _pint_name(unit)).to_base_units()
        one = registry.Quantity(1.0, _pint_name(unit)).to_base_units()
        dims = one.dimensionality
        exponents = tuple(int(dims.get(d, 0)) for d in _PINT_DIMENSIONS) + (0,)
    if any(int(dims.get(d, 0)) != dims.get(d, 0) for d in _PINT_DIMENSIONS) or set(dims) - set(_PINT_DIMENSIONS):
        raise ValueError(f"the unit {unit!r} is not a product of SI base units")
    return UnitDefinition(unit, exponents, float(one.magnitude - zero.magnitude), float(zero.magnitude))


@contextmanager
def _pint_errors(source: str, target: str) -> Iterator[None]:
    """Turns pint's many exceptions into one :class:`ValueError` that names the units."""
    import pint

    pair = f"{source!r}" if source == target else f"{source!r} -> {target!r}"
    try:
        yield
    except pint.UndefinedUnitError as exc:
        raise ValueError(f"unknown unit {_undefined(exc)!r} (in {pair})") from None
    except pint.DimensionalityError as exc:
        raise ValueError(f"cannot convert {source!r} to {target!r}: {exc.dim1} is not {exc.dim2}") from None
    except Exception as exc:  # noqa: BLE001  # pint's parser fails in many ways on odd text (even an AssertionError)
        raise ValueError(f"cannot read the units {pair} ({type(exc).__name__})") from None


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
