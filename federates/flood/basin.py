"""The river basin as configured: scenario parameters parsed into frozen dataclasses.

This is the boundary where the scenario's plain dicts and lists become typed objects;
every error names the parameter (and, inside lists, the entry) that is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .channel import GaugeRating, Reach
from .floodplain import Asset, FloodplainConfig
from .hydrology import Catchment, Hyetograph
from .reservoir import DamOutlet, SluiceGate, Spillway, StageStorage

__all__ = ["Basin", "parse_asset", "parse_reach"]

_RATING_KEYS = ("width_m", "slope", "manning_n", "datum_m")
_REACH_KEYS = {"gauge", "k_s", "x", "subreaches", *_RATING_KEYS}
_ASSET_KEYS = {"chainage_m", "ground_m"}


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
        """Parse the flood federate's parameters; ``period_s`` sizes automatic subreaches."""
        p = params
        rainfall = p.get("rainfall")
        reaches = _parse_list(p["reaches"], "reaches", lambda e, w: parse_reach(e, w, period_s))
        gauge = str(p.get("floodplain_gauge") or reaches[-1].gauge)
        if gauge not in {r.gauge for r in reaches}:
            raise ValueError(
                f"floodplain_gauge {gauge!r} is not one of the gauges {[r.gauge for r in reaches]}"
            )
        if not _num(p, "bankfull_m3s") >= 0:
            raise ValueError(f"bankfull_m3s must be >= 0, got {p['bankfull_m3s']!r}")
        return cls(
            catchment=Catchment(
                area_km2=_num(p, "catchment_area_km2"),
                runoff_coefficient=_num(p, "runoff_coefficient"),
                k_s=_num(p, "catchment_k_s"),
                reservoirs=_int(p, "catchment_reservoirs"),
                baseflow_m3s=_num(p, "baseflow_m3s"),
            ),
            rainfall=None if rainfall is None else Hyetograph.from_pairs(rainfall),
            stage_storage=StageStorage.from_rows(p["reservoir_table"]),
            initial_level_m=_num(p, "reservoir_level_m"),
            outlet=DamOutlet(
                Spillway(
                    _num(p, "spillway_crest_m"), _num(p, "spillway_width_m"), _num(p, "spillway_coefficient")
                ),
                SluiceGate(
                    _num(p, "gate_sill_m"),
                    _num(p, "gate_width_m"),
                    _num(p, "gate_height_m"),
                    _num(p, "gate_coefficient"),
                ),
            ),
            reaches=tuple(reaches),
            bankfull_m3s=_num(p, "bankfull_m3s"),
            floodplain_gauge=gauge,
            floodplain=_parse_floodplain(p),
        )


def _num(p: Mapping[str, Any], key: str) -> float:
    value = p[key]  # a KeyError here is a missing default: a programming error
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} must be a number, got {value!r}")
    return float(value)


def _int(p: Mapping[str, Any], key: str) -> int:
    value = p[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, got {value!r}")
    return value


def _parse_list(value: Any, where: str, parse: Any) -> list[Any]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{where} must be a non-empty list, got {value!r}")
    return [parse(entry, f"{where}[{i}]") for i, entry in enumerate(value)]


def parse_reach(entry: Any, where: str, period_s: float) -> Reach:
    """One ``reaches`` entry: ``{gauge, k_s, x, [subreaches], [width_m, slope, manning_n, datum_m]}``."""
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a mapping with keys {sorted(_REACH_KEYS)}, got {entry!r}")
    unknown = set(entry) - _REACH_KEYS
    missing = {"gauge", "k_s", "x"} - set(entry)
    if unknown or missing:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
    try:
        return _build_reach(entry, period_s)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _build_reach(entry: Mapping[str, Any], period_s: float) -> Reach:
    k_s, x = _num(entry, "k_s"), _num(entry, "x")
    default = GaugeRating()
    rating = GaugeRating(
        **{key: _num(entry, key) if key in entry else getattr(default, key) for key in _RATING_KEYS}
    )
    subreaches = _int(entry, "subreaches") if "subreaches" in entry else None
    if subreaches is None:
        subreaches = Reach.subreaches_for(k_s, x, period_s) if k_s > 0 else 1
    return Reach(str(entry["gauge"]), k_s, x, subreaches, rating)


def parse_asset(name: str, value: Any) -> Asset:
    """One ``assets`` entry: ``name: chainage_m`` or ``name: {chainage_m, [ground_m]}``."""
    if isinstance(value, Mapping):
        unknown = set(value) - _ASSET_KEYS
        if unknown or "chainage_m" not in value:
            raise ValueError(
                f"assets.{name}: expected keys chainage_m and optional ground_m, got {sorted(value)}"
            )
        try:
            ground = _num(value, "ground_m") if value.get("ground_m") is not None else None
            return Asset(str(name), _num(value, "chainage_m"), ground)
        except ValueError as exc:
            raise ValueError(f"assets.{name}: {exc}") from exc
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Asset(str(name), float(value))
    raise ValueError(f"assets.{name}: expected a chainage in m or {{chainage_m, ground_m}}, got {value!r}")


def _parse_floodplain(p: Mapping[str, Any]) -> FloodplainConfig:
    profile = p["floodplain_profile"]
    try:
        rows = [(float(x), float(z)) for x, z in profile]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"floodplain_profile must be [[chainage_m, bed_m], ...], got {profile!r}") from exc
    assets = p["assets"]
    if not isinstance(assets, Mapping):
        raise ValueError(f"assets must be a mapping name -> chainage_m, got {assets!r}")
    return FloodplainConfig(
        chainage_m=tuple(x for x, _ in rows),
        bed_m=tuple(z for _, z in rows),
        width_m=_num(p, "floodplain_width_m"),
        cells=_int(p, "floodplain_cells"),
        manning_n=_num(p, "floodplain_manning_n"),
        assets=tuple(parse_asset(n, v) for n, v in assets.items()),
        wet_depth_m=_num(p, "wet_depth_m"),
        cfl=_num(p, "cfl"),
        order=_int(p, "floodplain_order"),
    )
