"""Configuration of a hospital, parsed once from the federate's parameters.

Pool parameters are named ``<pool>_<field>`` (``ward_beds``, ``icu_stay``...); rates
are per hour and stays in hours, as hospitals count them, and are converted here to
the simulation's seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .pool import Policy, PoolConfig, PoolKind
from .stay import Stay, StayDistribution

__all__ = ["HospitalConfig", "hospital_config"]

E = TypeVar("E", Policy, StayDistribution)


@dataclass(frozen=True)
class HospitalConfig:
    """The whole hospital; times in seconds except fuel (hours of autonomy)."""

    ward: PoolConfig
    icu: PoolConfig
    icu_beds_blackout: int  # ICU beds usable without grid or generator
    surge_icu_fraction: float  # share of the surge input that needs an ICU bed
    generator_autonomy: float  # h of running on a full tank
    refuel_schedule: tuple[tuple[float, float], ...]  # (time s, hours added), by time
    base_load_kw: float
    transfer_delay: float  # s from the step that sends a transfer to its message's timestamp

    def pool(self, kind: PoolKind) -> PoolConfig:
        return self.ward if kind is PoolKind.WARD else self.icu


def hospital_config(params: Mapping[str, Any]) -> HospitalConfig:
    """Check the hospital parameters and build its configuration.

    Raises :class:`ValueError` naming the parameter when a value is out of range.
    """
    ward, icu = (_pool_config(params, kind) for kind in PoolKind)
    blackout = _integer(params, "icu_beds_blackout", 0, icu.beds)
    fraction = _number(params, "surge_icu_fraction", 0.0)
    if fraction > 1.0:
        raise ValueError(f"hospital parameter 'surge_icu_fraction' must be in [0, 1], got {fraction!r}")
    return HospitalConfig(
        ward=ward,
        icu=icu,
        icu_beds_blackout=blackout,
        surge_icu_fraction=fraction,
        generator_autonomy=_number(params, "generator_autonomy", 0.0),
        refuel_schedule=_schedule(params["refuel_schedule"]),
        base_load_kw=_number(params, "base_load", 0.0),
        transfer_delay=_number(params, "transfer_delay", 0.0),
    )


def _pool_config(params: Mapping[str, Any], kind: PoolKind) -> PoolConfig:
    prefix = kind.value
    beds = _integer(params, f"{prefix}_beds", 1, None)
    rate = _number(params, f"{prefix}_rate", 0.0) / 3600.0
    stay_h = _number(params, f"{prefix}_stay", 0.0)
    if not 0 < stay_h < math.inf:
        raise ValueError(f"hospital parameter '{prefix}_stay' must be > 0 h and finite, got {stay_h!r}")
    cv = _number(params, f"{prefix}_stay_cv", 0.0)
    if cv == 0:
        raise ValueError(f"hospital parameter '{prefix}_stay_cv' must be > 0, got {cv!r}")
    stay = Stay(_choice(params, f"{prefix}_stay_distribution", StayDistribution), stay_h * 3600.0, cv)
    initial_value = params[f"{prefix}_initial"]
    if initial_value is None:
        initial = min(beds, round(rate * stay.mean))
    else:
        initial = _integer(params, f"{prefix}_initial", 0, beds)
    return PoolConfig(
        kind=kind,
        beds=beds,
        rate=rate,
        stay=stay,
        policy=_choice(params, f"{prefix}_policy", Policy),
        initial=initial,
        bed_power_kw=_number(params, f"{prefix}_bed_power", 0.0),
    )


def _number(params: Mapping[str, Any], name: str, minimum: float) -> float:
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"hospital parameter {name!r} must be a number, got {value!r}")
    if value < minimum:
        raise ValueError(f"hospital parameter {name!r} must be >= {minimum:g}, got {value!r}")
    return float(value)


def _integer(params: Mapping[str, Any], name: str, minimum: int, maximum: int | None) -> int:
    value = params[name]
    integer = isinstance(value, int) and not isinstance(value, bool)
    if not integer or value < minimum or (maximum is not None and value > maximum):
        bound = f"in {minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"hospital parameter {name!r} must be an integer {bound}, got {value!r}")
    return int(value)


def _choice(params: Mapping[str, Any], name: str, enum_type: type[E]) -> E:
    value = params[name]
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(repr(e.value) for e in enum_type)
        raise ValueError(f"hospital parameter {name!r} must be one of {choices}, got {value!r}") from None


def _schedule(value: Any) -> tuple[tuple[float, float], ...]:
    """``[[time_s, hours], ...]`` -> sorted tuple of pairs."""
    pairs = []
    for item in value if isinstance(value, (list, tuple)) else [value]:
        ok = isinstance(item, (list, tuple)) and len(item) == 2
        ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in item)
        if not ok:
            raise ValueError(
                f"hospital parameter 'refuel_schedule' entries must be [time_s >= 0, hours >= 0], got {item!r}"
            )
        pairs.append((float(item[0]), float(item[1])))
    return tuple(sorted(pairs))
