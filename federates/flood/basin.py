"""The river basin as configured: scenario parameters parsed into frozen dataclasses.

This is the boundary where the scenario's plain dicts and lists become typed objects.
Every parameter is checked here, against the rule the model it feeds relies on, and
every bad one is reported (a :class:`~federation.errors.ParameterError` naming each
parameter, and inside lists the entry and key), before any model object is built.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from federation import ParameterCheck, ParameterKey

from .channel import GaugeRating, Reach
from .floodplain import Asset, FloodplainConfig
from .hydrology import Catchment, Hyetograph
from .reservoir import DamOutlet, LevelPool, SluiceGate, Spillway, StageStorage

__all__ = ["Basin", "parse_asset", "parse_reach"]

_RATING_KEYS = ("width_m", "slope", "manning_n", "datum_m")
_REACH_KEYS = {"gauge", "k_s", "x", "subreaches", *_RATING_KEYS}
_ASSET_KEYS = {"chainage_m", "ground_m"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Rule = tuple[Callable[[float], bool], str]  # (test of a number, what the number must be)
_ANY: Rule = (lambda v: True, "")
_POSITIVE: Rule = (lambda v: v > 0, "> 0")
_NOT_NEGATIVE: Rule = (lambda v: v >= 0, ">= 0")

# The rule of every number parameter: what the model it feeds assumes.
_NUMBERS: dict[str, Rule] = {
    "catchment_area_km2": _POSITIVE,
    "runoff_coefficient": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "catchment_k_s": _POSITIVE,
    "baseflow_m3s": _NOT_NEGATIVE,
    "reservoir_level_m": _ANY,
    "spillway_crest_m": _ANY,
    "spillway_width_m": _NOT_NEGATIVE,
    "spillway_coefficient": _NOT_NEGATIVE,
    "gate_sill_m": _ANY,
    "gate_width_m": _NOT_NEGATIVE,
    "gate_height_m": _NOT_NEGATIVE,
    "gate_coefficient": _NOT_NEGATIVE,
    "bankfull_m3s": _NOT_NEGATIVE,
    "floodplain_width_m": _POSITIVE,
    "floodplain_manning_n": _NOT_NEGATIVE,
    "wet_depth_m": _NOT_NEGATIVE,
    "cfl": (lambda v: 0 < v <= 1, "in (0, 1]"),
}
_INTEGERS: dict[str, Rule] = {
    "catchment_reservoirs": (lambda v: v >= 1, ">= 1"),
    "floodplain_cells": (lambda v: v >= 2, ">= 2"),
    "floodplain_order": (lambda v: v in (1, 2), "1 or 2"),
}
_REACH_NUMBERS: dict[str, Rule] = {
    "k_s": (lambda v: v > 0, "> 0 s"),
    "x": (lambda v: 0 <= v <= 0.5, "in [0, 0.5]"),
    "width_m": _POSITIVE,
    "slope": _POSITIVE,
    "manning_n": _POSITIVE,
    "datum_m": _ANY,
}


@dataclass(frozen=True)
class Basin:
    """Everything the flood federate needs to know about the basin."""

    catchment: Catchment
    rainfall: Hyetograph | None
    stage_storage: StageStorage
    initial_level_m: float
    outlet: DamOutlet
    reaches: tuple[Reach, ...]
    bankfull_m3s: float
    floodplain_gauge: str
    floodplain: FloodplainConfig

    @property
    def gauges(self) -> tuple[str, ...]:
        return tuple(r.gauge for r in self.reaches)

    @property
    def assets(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.floodplain.assets)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], period_s: float) -> Basin:
        """Parse the flood federate's parameters; ``period_s`` sizes automatic subreaches.

        Raises :class:`~federation.errors.ParameterError` naming every bad parameter.
        """
        check = ParameterCheck()
        n = {key: _number(params, key, rule, check) for key, rule in _NUMBERS.items()}
        i = {key: _integer(params, key, rule, check) for key, rule in _INTEGERS.items()}
        if check.ok("cfl", "floodplain_order") and i["floodplain_order"] == 2 and n["cfl"] > 0.5:
            check.fail("cfl", f"must be <= 0.5 for floodplain_order 2 (positivity), got {n['cfl']!r}")
        raw_rain = params.get("rainfall")
        rainfall = None if raw_rain is None else check.build("rainfall", Hyetograph.from_pairs, raw_rain)
        table = check.build("reservoir_table", StageStorage.from_rows, params["reservoir_table"])
        reaches = _parse_reaches(params["reaches"], period_s, check)
        gauge = _floodplain_gauge(params, reaches, check)
        floodplain = _parse_floodplain(params, n, i, check)
        outlet = DamOutlet(
            Spillway(n["spillway_crest_m"], n["spillway_width_m"], n["spillway_coefficient"]),
            SluiceGate(n["gate_sill_m"], n["gate_width_m"], n["gate_height_m"], n["gate_coefficient"]),
        )
        if table is not None and check.ok("reservoir_level_m"):  # the pool must start within its table
            check.build("reservoir_level_m", LevelPool, table, outlet, n["reservoir_level_m"])
        check.done()
        assert table is not None and floodplain is not None
        return cls(
            catchment=Catchment(
                area_km2=n["catchment_area_km2"],
                runoff_coefficient=n["runoff_coefficient"],
                k_s=n["catchment_k_s"],
                reservoirs=i["catchment_reservoirs"],
                baseflow_m3s=n["baseflow_m3s"],
            ),
            rainfall=rainfall,
            stage_storage=table,
            initial_level_m=n["reservoir_level_m"],
            outlet=outlet,
            reaches=tuple(reaches),
            bankfull_m3s=n["bankfull_m3s"],
            floodplain_gauge=gauge,
            floodplain=floodplain,
        )


# Each check below records a bad value and returns a stand-in, so that every parameter is
# checked; check.done() then refuses the basin before any model object sees a stand-in.


def _number(p: Mapping[str, Any], key: str, rule: Rule, check: ParameterCheck, where: ParameterKey = ()) -> float:
    value = p[key]  # a KeyError here is a missing default: a programming error
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        check.fail((*where, key), f"must be a finite number, got {value!r}")
        return 1.0
    if not rule[0](value):
        check.fail((*where, key), f"must be {rule[1]}, got {value!r}")
        return 1.0
    return float(value)


def _integer(p: Mapping[str, Any], key: str, rule: Rule, check: ParameterCheck, where: ParameterKey = ()) -> int:
    value = p[key]
    if isinstance(value, bool) or not isinstance(value, int):
        check.fail((*where, key), f"must be an integer, got {value!r}")
        return 1
    if not rule[0](value):
        check.fail((*where, key), f"must be {rule[1]}, got {value!r}")
        return 1
    return value


def _parse_reaches(value: Any, period_s: float, check: ParameterCheck) -> list[Reach]:
    if not isinstance(value, (list, tuple)) or not value:
        check.fail("reaches", f"must be a non-empty list, got {value!r}")
        return []
    reaches = [parse_reach(entry, ("reaches", k), period_s, check) for k, entry in enumerate(value)]
    names = [r.gauge for r in reaches if r is not None]
    if check.ok("reaches") and len(set(names)) != len(names):
        check.fail("reaches", f"gauge names must be unique, got {names}")
    return [r for r in reaches if r is not None]


def parse_reach(entry: Any, where: ParameterKey, period_s: float, check: ParameterCheck) -> Reach | None:
    """One ``reaches`` entry: ``{gauge, k_s, x, [subreaches], [width_m, slope, manning_n, datum_m]}``."""
    if not isinstance(entry, Mapping):
        check.fail(where, f"must be a mapping with keys {sorted(_REACH_KEYS)}, got {entry!r}")
        return None
    for key in sorted(set(entry) - _REACH_KEYS):
        check.fail((*where, key), f"unknown key (known: {', '.join(sorted(_REACH_KEYS))})")
    missing = sorted({"gauge", "k_s", "x"} - set(entry))
    for key in missing:
        check.fail(where, f"missing key '{key}'")
    if missing:
        return None
    gauge = entry["gauge"]
    if not isinstance(gauge, str) or not _NAME.match(gauge):
        check.fail((*where, "gauge"), f"must be an identifier (letters, digits, '_'), got {gauge!r}: it becomes "
                                      "the outputs 'stage.<name>' and 'discharge.<name>'")  # fmt: skip
    default = GaugeRating()
    values = {key: _number(entry, key, rule, check, where) if key in entry else getattr(default, key, 0.0)
              for key, rule in _REACH_NUMBERS.items()}  # fmt: skip
    subreaches = _integer(entry, "subreaches", (lambda v: v >= 1, ">= 1"), check, where) \
        if "subreaches" in entry else Reach.subreaches_for(values["k_s"], values["x"], period_s)  # fmt: skip
    if not check.ok(where):
        return None
    rating = GaugeRating(**{key: values[key] for key in _RATING_KEYS})
    return Reach(gauge, values["k_s"], values["x"], subreaches, rating)


def _floodplain_gauge(params: Mapping[str, Any], reaches: list[Reach], check: ParameterCheck) -> str:
    gauges = [r.gauge for r in reaches]
    gauge = str(params.get("floodplain_gauge") or (gauges[-1] if gauges else ""))
    if check.ok("reaches") and gauge not in gauges:
        check.fail("floodplain_gauge", f"{gauge!r} is not one of the gauges {gauges}")
    return gauge


def parse_asset(name: str, value: Any, check: ParameterCheck) -> Asset | None:
    """One ``assets`` entry: ``name: chainage_m`` or ``name: {chainage_m, [ground_m]}``."""
    where: ParameterKey = ("assets", name)
    if not isinstance(name, str) or not _NAME.match(name):
        check.fail(where, f"the name {name!r} must be an identifier (letters, digits, '_'): it becomes the "
                          "output 'depth.<name>'")  # fmt: skip
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            check.fail(where, f"the chainage must be a finite number, got {value!r}")
            return None
        return Asset(name, float(value))
    if not isinstance(value, Mapping) or set(value) - _ASSET_KEYS or "chainage_m" not in value:
        check.fail(where, f"expected a chainage in m or {{chainage_m, ground_m}}, got {value!r}")
        return None
    chainage = _number(value, "chainage_m", _ANY, check, where)
    ground = None if value.get("ground_m") is None else _number(value, "ground_m", _ANY, check, where)
    return Asset(name, chainage, ground) if check.ok(where) else None


def _parse_floodplain(
    p: Mapping[str, Any], n: Mapping[str, float], i: Mapping[str, int], check: ParameterCheck
) -> FloodplainConfig | None:
    rows = _profile(p["floodplain_profile"], check)
    assets = p["assets"]
    if not isinstance(assets, Mapping):
        check.fail("assets", f"must be a mapping name -> chainage_m, got {assets!r}")
        assets = {}
    parsed = [parse_asset(name, value, check) for name, value in assets.items()]
    if rows and check.ok("floodplain_profile"):
        start, end = rows[0][0], rows[-1][0]
        for asset in parsed:
            if asset is not None and not start <= asset.chainage_m <= end:
                check.fail(("assets", asset.name), f"chainage {asset.chainage_m:g} m is outside the floodplain "
                                                   f"profile [{start:g}, {end:g}] m")  # fmt: skip
    if not check.ok("floodplain_profile", "assets", *_FLOODPLAIN_KEYS):
        return None
    return FloodplainConfig(
        chainage_m=tuple(x for x, _ in rows),
        bed_m=tuple(z for _, z in rows),
        width_m=n["floodplain_width_m"],
        cells=i["floodplain_cells"],
        manning_n=n["floodplain_manning_n"],
        assets=tuple(a for a in parsed if a is not None),
        wet_depth_m=n["wet_depth_m"],
        cfl=n["cfl"],
        order=i["floodplain_order"],
    )


_FLOODPLAIN_KEYS = ("floodplain_width_m", "floodplain_cells", "floodplain_manning_n", "wet_depth_m", "cfl",
                    "floodplain_order")  # fmt: skip


def _profile(value: Any, check: ParameterCheck) -> list[tuple[float, float]]:
    """``floodplain_profile``: at least two ``[chainage_m, bed_m]`` rows, chainages increasing strictly."""
    try:
        rows = [(float(x), float(z)) for x, z in value]
    except (TypeError, ValueError):
        check.fail("floodplain_profile", f"must be [[chainage_m, bed_m], ...], got {value!r}")
        return []
    if len(rows) < 2:
        check.fail("floodplain_profile", f"needs at least two [chainage_m, bed_m] rows, got {value!r}")
    elif any(b[0] <= a[0] for a, b in zip(rows, rows[1:])):
        check.fail("floodplain_profile", f"chainages must increase strictly, got {[x for x, _ in rows]}")
    return rows
