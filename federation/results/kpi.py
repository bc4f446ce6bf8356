"""Key performance indicators: declared in the scenario's ``kpis:`` section, computed from a run store.

::

    kpis:
      unserved_energy: {signal: grid.unserved_mwh, reduce: last, unit: MWh, description: "energy not served"}
      patients_turned_away: {signal: [hospital_a.turned_away, hospital_b.turned_away], reduce: last, combine: sum}
      peak_flooded_area: {signal: flood.flooded_area, reduce: max, scale: 1.0e-6, unit: km2}
      time_to_recovery: {signal: grid.served_mw, reduce: recovery, threshold: 0.99, unit: h}

Every recorded signal is a step function (sample-and-hold): a sample holds from its time
until the next sample, the last one until the end of the run.  Each signal is reduced to
one number (:class:`Reducer`), several signals are then combined (``combine``), and the
result is multiplied by ``scale``.  Time-valued reducers (``time_true``, ``recovery``)
give seconds, converted to ``unit`` when it is a time unit (``s``, ``min``, ``h``, ``d``).
See docs/kpis-and-report.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import FederationError
from ..scenario.kpis import Combine, KpiSpec, Reducer
from ..scenario.model import Scenario
from .store import RunStore, Series
from .store import write_kpis as store_kpis

__all__ = [
    "Reducer",
    "Combine",
    "KpiSpec",
    "KpiValue",
    "kpi_specs",
    "compute_kpis",
    "write_kpis",
    "record_kpis",
    "format_table",
    "run_end",
]


TIME_UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True)
class KpiValue:
    name: str
    value: float  # NaN when there is none (see note)
    unit: str = ""
    description: str = ""
    note: str = ""  # why the value is NaN: "not recovered", "no samples", ...

    def display(self, digits: int = 6) -> str:
        if math.isnan(self.value):
            return self.note or "n/a"
        return f"{self.value:.{digits}g}"


def kpi_specs(scenario: Scenario) -> tuple[KpiSpec, ...]:
    """The scenario's KPIs (its ``kpis:`` section, parsed when it was loaded)."""
    return scenario.kpis


# ----------------------------------------------------------------------------- computing
def compute_kpis(store: RunStore, specs: Iterable[KpiSpec]) -> list[KpiValue]:
    """Evaluate ``specs`` on the run in ``store`` (a signal that was never sampled gives NaN)."""
    end = run_end(store)
    recorded = {name: unit for _, name, unit, _ in store.signals()}
    out = []
    for spec in specs:
        values, notes = [], []
        for signal in spec.signals:
            if signal not in recorded:
                raise FederationError(f"KPI '{spec.name}': no recorded signal {signal!r} in {store.path}")
            value, note = reduce_series(store.series(signal), spec, end)
            values.append(value)
            notes.append(note)
        value = _combine(spec.combine, values)
        note = next((n for n in notes if n), "") if math.isnan(value) else ""
        if spec.reduce.gives_time:
            value /= TIME_UNITS.get(spec.unit or "s", 1.0)
        out.append(KpiValue(spec.name, value * spec.scale, _unit(spec, recorded[spec.signals[0]]), spec.description, note))
    return out


def run_end(store: RunStore) -> float:
    """Where the last samples stop holding: the stop time, or the last sample of a run that did not complete."""
    meta = store.metadata()
    if meta.get("status") == "completed" and "stop" in meta:
        return float(meta["stop"])
    last = store.last_time()
    return last if last is not None else float(meta.get("start", 0.0))


def _unit(spec: KpiSpec, signal_unit: str) -> str:
    if spec.unit is not None:
        return spec.unit
    if spec.reduce.gives_time:
        return "s"
    if spec.scale != 1.0 or spec.reduce is Reducer.COUNT_TRUE:
        return ""
    if spec.reduce is Reducer.INTEGRAL:
        return f"{signal_unit}*s" if signal_unit else "s"
    return signal_unit or ""


def _combine(how: Combine, values: list[float]) -> float:
    if any(math.isnan(v) for v in values):
        return math.nan
    if how is Combine.SUM:
        return math.fsum(values)
    return max(values) if how is Combine.MAX else min(values)


def _number_of(value: Any) -> float:
    if isinstance(value, (bool, int, float)):
        return float(value)
    return math.nan  # None (SQLite's NaN), text, arrays


def reduce_series(series: Series, spec: KpiSpec, end: float) -> tuple[float, str]:
    """One signal reduced to a number, in seconds for time-valued reducers; (NaN, why) when there is none."""
    if not series.times:
        return math.nan, "no samples"
    times = list(series.times)
    values = [_number_of(v) for v in series.values]
    end = max(end, times[-1])
    durations = [b - a for a, b in zip(times, times[1:] + [end])]
    r = spec.reduce
    if r is Reducer.LAST:
        return values[-1], ""
    if r is Reducer.FIRST:
        return values[0], ""
    if r is Reducer.MAX or r is Reducer.MIN:
        known = [v for v in values if not math.isnan(v)]
        if not known:
            return math.nan, "no numeric samples"
        return (max(known) if r is Reducer.MAX else min(known)), ""
    if r is Reducer.INTEGRAL or r is Reducer.MEAN:
        total = math.fsum(v * d for v, d in zip(values, durations) if d > 0)
        if r is Reducer.INTEGRAL:
            return total, ""
        span = end - times[0]
        return (total / span if span > 0 else values[-1]), ""
    truth = [not math.isnan(v) and v != 0 for v in values]
    if r is Reducer.TIME_TRUE:
        return math.fsum(d for t, d in zip(truth, durations) if t), ""
    if r is Reducer.COUNT_TRUE:
        return float(sum(1 for i, t in enumerate(truth) if t and (i == 0 or not truth[i - 1]))), ""
    return _recovery(times, values, spec)


def _recovery(times: list[float], values: list[float], spec: KpiSpec) -> tuple[float, str]:
    reference = spec.baseline if spec.baseline is not None else values[0]
    if math.isnan(reference):
        return math.nan, "no baseline"
    level = spec.threshold * reference
    below = [not (v >= level) for v in values]  # NaN counts as below
    if not any(below):
        return 0.0, ""
    first = below.index(True)
    last = len(below) - 1 - below[::-1].index(True)
    if last == len(values) - 1:
        return math.nan, "not recovered"
    return times[last + 1] - times[first], ""


# ----------------------------------------------------------------------------- writing
def write_kpis(path: str | Path, values: Iterable[KpiValue]) -> None:
    """Store ``values`` in the run store's ``kpis`` table (NaN is stored as NULL)."""
    store_kpis(path, [(v.name, None if math.isnan(v.value) else v.value, v.unit, v.description) for v in values])


def record_kpis(scenario: Scenario, path: str | Path) -> list[KpiValue]:
    """Compute the scenario's KPIs on the run store at ``path`` and write them into it."""
    specs = kpi_specs(scenario)
    if not specs:
        return []
    with RunStore(path) as store:
        values = compute_kpis(store, specs)
    write_kpis(path, values)
    return values


def format_table(values: Sequence[KpiValue]) -> str:
    """A plain-text table: name, value, unit, description."""
    rows = [(v.name, v.display(), v.unit, v.description) for v in values]
    widths = [max(len(r[i]) for r in [("KPI", "value", "unit", ""), *rows]) for i in range(3)]
    lines = [f"{'KPI':<{widths[0]}}  {'value':>{widths[1]}}  {'unit':<{widths[2]}}  description".rstrip()]
    for name, value, unit, description in rows:
        lines.append(f"{name:<{widths[0]}}  {value:>{widths[1]}}  {unit:<{widths[2]}}  {description}".rstrip())
    return "\n".join(lines)
