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

from federation import ParameterCheck

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

    Raises :class:`~federation.errors.ParameterError` naming every bad parameter.
    """
    check = ParameterCheck()
    ward, icu = (_pool_config(params, kind, check) for kind in PoolKind)
    blackout = _integer(params, "icu_beds_blackout", check, 0, icu.beds if check.ok("icu_beds") else None)
    config = HospitalConfig(
        ward=ward,
        icu=icu,
        icu_beds_blackout=blackout,
        surge_icu_fraction=_number(params, "surge_icu_fraction", check, 0.0, maximum=1.0),
        generator_autonomy=_number(params, "generator_autonomy", check, 0.0),
        refuel_schedule=_schedule(params["refuel_schedule"], check),
        base_load_kw=_number(params, "base_load", check, 0.0),
        transfer_delay=_number(params, "transfer_delay", check, 0.0),
    )
    check.done()
    return config


def _pool_config(params: Mapping[str, Any], kind: PoolKind, check: ParameterCheck) -> PoolConfig:
    prefix = kind.value
    beds = _integer(params, f"{prefix}_beds", check, 1, None)
    rate = _number(params, f"{prefix}_rate", check, 0.0) / 3600.0
    stay_h = _number(params, f"{prefix}_stay", check, 0.0, positive=True)
    cv = _number(params, f"{prefix}_stay_cv", check, 0.0, positive=True)
    stay = Stay(_choice(params, f"{prefix}_stay_distribution", StayDistribution, check), stay_h * 3600.0, cv)
    if params[f"{prefix}_initial"] is None:
        initial = min(beds, round(rate * stay.mean))
    else:
        limit = beds if check.ok(f"{prefix}_beds") else None
        initial = _integer(params, f"{prefix}_initial", check, 0, limit)
    return PoolConfig(
        kind=kind,
        beds=beds,
        rate=rate,
        stay=stay,
        policy=_choice(params, f"{prefix}_policy", Policy, check),
        initial=initial,
        bed_power_kw=_number(params, f"{prefix}_bed_power", check, 0.0),
    )


# Each check below records a bad value and returns a stand-in that keeps the rest of the
# configuration buildable, so that every parameter is checked; check.done() then refuses it.


def _number(params: Mapping[str, Any], name: str, check: ParameterCheck, minimum: float, *,
            maximum: float = math.inf, positive: bool = False) -> float:  # fmt: skip
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        check.fail(name, f"must be a number, got {value!r}")
    elif positive and not 0 < value < math.inf:
        check.fail(name, f"must be > {minimum:g} and finite, got {value!r}")
    elif not minimum <= value <= maximum:
        bound = f"in [{minimum:g}, {maximum:g}]" if maximum < math.inf else f">= {minimum:g}"
        check.fail(name, f"must be {bound}, got {value!r}")
    else:
        return float(value)
    return 1.0


def _integer(params: Mapping[str, Any], name: str, check: ParameterCheck, minimum: int, maximum: int | None) -> int:
    value = params[name]
    integer = isinstance(value, int) and not isinstance(value, bool)
    if not integer or value < minimum or (maximum is not None and value > maximum):
        bound = f"in {minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        check.fail(name, f"must be an integer {bound}, got {value!r}")
        return max(minimum, 1)
    return int(value)


def _choice(params: Mapping[str, Any], name: str, enum_type: type[E], check: ParameterCheck) -> E:
    value = params[name]
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(repr(e.value) for e in enum_type)
        check.fail(name, f"must be one of {choices}, got {value!r}")
        return next(iter(enum_type))


def _schedule(value: Any, check: ParameterCheck) -> tuple[tuple[float, float], ...]:
    """``[[time_s, hours], ...]`` -> sorted tuple of pairs."""
    pairs = []
    items = value if isinstance(value, (list, tuple)) else [value]
    for i, item in enumerate(items):
        ok = isinstance(item, (list, tuple)) and len(item) == 2
        ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in item)
        if not ok:
            key = ("refuel_schedule", i) if isinstance(value, (list, tuple)) else "refuel_schedule"
            check.fail(key, f"an entry must be [time_s >= 0, hours >= 0], got {item!r}")
            continue
        pairs.append((float(item[0]), float(item[1])))
    return tuple(sorted(pairs))
