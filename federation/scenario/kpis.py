"""The ``kpis:`` section: key performance indicators, each a reduction of recorded signals.

Parsed once, when the scenario is loaded, into ``scenario.kpis`` (a tuple of
:class:`KpiSpec`); :mod:`federation.results.kpi` computes them from a run store.  Whether
each signal is a recorded numeric output is checked with the federates' interfaces, in
:mod:`federation.scenario.validation`.  See docs/kpis-and-report.md.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from ..errors import KeyPath
from .reader import Reader

__all__ = ["Reducer", "Combine", "KpiSpec", "parse_kpis", "signal_list"]


class Reducer(str, enum.Enum):
    LAST = "last"
    FIRST = "first"
    MAX = "max"
    MIN = "min"
    MEAN = "mean"  # time-weighted over [first sample, end of run]
    INTEGRAL = "integral"  # value x seconds
    COUNT_TRUE = "count_true"  # how many times the signal turned true
    TIME_TRUE = "time_true"  # seconds the signal was true
    RECOVERY = "recovery"  # seconds from the first drop below threshold x baseline to the final recovery

    @property
    def gives_time(self) -> bool:
        return self in (Reducer.TIME_TRUE, Reducer.RECOVERY)


class Combine(str, enum.Enum):
    SUM = "sum"
    MAX = "max"
    MIN = "min"


@dataclass(frozen=True)
class KpiSpec:
    name: str
    signals: tuple[str, ...]  # "federate.output"
    reduce: Reducer = Reducer.LAST
    combine: Combine = Combine.SUM
    scale: float = 1.0
    unit: str | None = None  # None: derived from the signal and the reducer
    description: str = ""
    threshold: float = 0.99  # recovery: fraction of the baseline
    baseline: float | None = None  # recovery: reference value (default: the signal's first value)
    line: int = 0
    single: bool = True  # `signal: a.x` (one name), not a list: where a problem with the signal is located

    def signal_path(self, index: int) -> KeyPath:
        """Where the ``index``-th signal is written in the file."""
        return (SECTION, self.name, "signal") if self.single else (SECTION, self.name, "signal", index)


SECTION = "kpis"
_KEYS = ("signal", "reduce", "combine", "scale", "unit", "description", "threshold", "baseline")


def parse_kpis(data: Any, read: Reader) -> tuple[KpiSpec, ...]:
    """The ``kpis:`` section: name -> {signal, reduce, ...}; a KPI with a problem is left out."""
    if data is None:
        return ()
    section = read.mapping(data, (SECTION,), "a mapping of KPI name -> {signal, reduce, ...}")
    specs = (_kpi(str(name), item, (SECTION, name), read) for name, item in section.items())
    return tuple(spec for spec in specs if spec is not None)


def signal_list(value: Any) -> list[str] | None:
    """``a.x`` or ``[a.x, b.y]`` as a list of names; None when it is neither."""
    signals = [value] if isinstance(value, str) else value
    if not isinstance(signals, list) or not signals or not all(isinstance(s, str) for s in signals):
        return None
    return signals


def _kpi(name: str, item: Any, path: KeyPath, read: Reader) -> KpiSpec | None:
    if not isinstance(item, dict):
        read.fail(path, "expected a mapping with 'signal' and 'reduce'")
        return None
    count = len(read.problems)
    read.unknown_keys(item, path, _KEYS)
    signals = signal_list(item.get("signal"))
    if signals is None:
        read.fail((*path, "signal"), "expected 'federate.output' or a non-empty list of them")
        signals = []
    reduce = read.choice(Reducer, item.get("reduce", "last"), (*path, "reduce"), None)
    combine = read.choice(Combine, item.get("combine", "sum"), (*path, "combine"), None)
    scale = read.number(item.get("scale"), (*path, "scale"), 1.0)
    threshold = read.number(item.get("threshold"), (*path, "threshold"), 0.99)
    baseline = read.number(item.get("baseline"), (*path, "baseline"), None)
    if reduce is not Reducer.RECOVERY:
        for key in ("threshold", "baseline"):
            if key in item:
                read.fail((*path, key), f"'{key}' applies only to 'reduce: recovery'")
    if "combine" in item and len(signals) < 2:
        read.fail((*path, "combine"), "'combine' needs a list of two or more signals")
    unit = read.string(item.get("unit"), (*path, "unit"), None)
    description = read.string(item.get("description"), (*path, "description"), "")
    if len(read.problems) > count or reduce is None or combine is None:
        return None
    return KpiSpec(name, tuple(signals), reduce, combine, scale, unit, description, threshold, baseline,
                   read.line(path), isinstance(item.get("signal"), str))  # fmt: skip
