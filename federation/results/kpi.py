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

import enum
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..api.interface import Output, SignalType
from ..errors import FederationError, KeyPath, Problem, ScenarioError
from ..scenario.model import Scenario, signal_matches
from ..scenario.source import Source, suggest
from .store import RunStore, Series
from .store import write_kpis as store_kpis

__all__ = [
    "Reducer",
    "Combine",
    "KpiSpec",
    "KpiValue",
    "parse_kpis",
    "kpi_specs",
    "compute_kpis",
    "write_kpis",
    "record_kpis",
    "format_table",
    "check_signal",
    "run_end",
]


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


TIME_UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_KEYS = ("signal", "reduce", "combine", "scale", "unit", "description", "threshold", "baseline")
_NUMERIC = (SignalType.FLOAT, SignalType.INT, SignalType.BOOL, SignalType.ANY)


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


# ----------------------------------------------------------------------------- parsing
def parse_kpis(data: Any, src: Source, outputs: Mapping[str, Mapping[str, Output[Any]] | None] | None = None,
               recorded: Sequence[str] | None = None) -> tuple[tuple[KpiSpec, ...], list[Problem]]:  # fmt: skip
    """Parse the ``kpis:`` section.

    ``outputs`` (federate -> output name -> declaration; ``None`` for a federate whose
    interface could not be resolved) checks that every signal exists and is numeric;
    ``recorded`` (the ``record.signals`` patterns) that it is recorded.
    """
    base: KeyPath = ("kpis",)
    if data is None:
        return (), []
    if not isinstance(data, dict):
        return (), [src.problem(base, "expected a mapping of KPI name -> {signal, reduce, ...}")]
    problems: list[Problem] = []
    specs = []
    for name, item in data.items():
        spec = _parse_one(str(name), item, (*base, name), src, problems)
        if spec is None:
            continue
        for i, signal in enumerate(spec.signals):
            path = (*base, name, "signal") if isinstance(item.get("signal"), str) else (*base, name, "signal", i)
            problems += check_signal(signal, path, src, outputs, recorded, "a KPI")
        if outputs is not None and len(spec.signals) > 1:
            problems += _check_units(spec, outputs, (*base, name, "signal"), src)
        specs.append(spec)
    return tuple(specs), problems


def _parse_one(name: str, item: Any, path: KeyPath, src: Source, problems: list[Problem]) -> KpiSpec | None:
    if not isinstance(item, dict):
        problems.append(src.problem(path, "expected a mapping with 'signal' and 'reduce'"))
        return None
    count = len(problems)
    for key in item:
        if key not in _KEYS:
            problems.append(src.problem((*path, key), f"unknown key (expected {', '.join(_KEYS)})"))
    signals = item.get("signal")
    if isinstance(signals, str):
        signals = [signals]
    if not isinstance(signals, list) or not signals or not all(isinstance(s, str) for s in signals):
        problems.append(src.problem((*path, "signal"), "expected 'federate.output' or a non-empty list of them"))
        signals = []
    reduce = _choice(Reducer, item.get("reduce", "last"), (*path, "reduce"), src, problems)
    combine = _choice(Combine, item.get("combine", "sum"), (*path, "combine"), src, problems)
    scale = _number(item, "scale", 1.0, path, src, problems)
    threshold = _number(item, "threshold", 0.99, path, src, problems)
    baseline = _number(item, "baseline", None, path, src, problems)
    if reduce is not Reducer.RECOVERY:
        for key in ("threshold", "baseline"):
            if key in item:
                problems.append(src.problem((*path, key), f"'{key}' applies only to 'reduce: recovery'"))
    if "combine" in item and len(signals) < 2:
        problems.append(src.problem((*path, "combine"), "'combine' needs a list of two or more signals"))
    unit, description = item.get("unit"), item.get("description", "")
    for key, value in (("unit", unit), ("description", description)):
        if value is not None and not isinstance(value, str):
            problems.append(src.problem((*path, key), f"expected a string, got {value!r}"))
    if len(problems) > count or reduce is None or combine is None:
        return None
    return KpiSpec(name, tuple(signals), reduce, combine, scale if scale is not None else 1.0, unit, description,
                   threshold if threshold is not None else 0.99, baseline, src.line(path))  # fmt: skip


def _choice(kind: type[enum.Enum], value: Any, path: KeyPath, src: Source, problems: list[Problem]) -> Any:
    try:
        return kind(value)
    except ValueError:
        problems.append(src.problem(path, f"expected one of {', '.join(k.value for k in kind)}, got {value!r}"))
        return None


def _number(item: Mapping[str, Any], key: str, default: float | None, path: KeyPath, src: Source,
            problems: list[Problem]) -> float | None:  # fmt: skip
    value = item.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.append(src.problem((*path, key), f"expected a number, got {value!r}"))
        return default
    return float(value)


def check_signal(signal: str, path: KeyPath, src: Source, outputs: Mapping[str, Mapping[str, Output[Any]] | None] | None,
                 recorded: Sequence[str] | None, user: str) -> list[Problem]:  # fmt: skip
    """Problems with ``signal`` as a recorded numeric output; ``user`` ("a KPI") is who needs it."""
    fed, dot, name = signal.partition(".")
    if not dot or not fed or not name:
        return [src.problem(path, f"expected 'federate.output', got {signal!r}")]
    if outputs is None:
        return []
    if fed not in outputs:
        return [src.problem(path, f"unknown federate '{fed}'" + suggest(fed, outputs))]
    declared = outputs[fed]
    if declared is None:  # the federate's own problems are reported elsewhere
        return []
    out = declared.get(name)
    if out is None:
        return [src.problem(path, f"federate '{fed}' has no output '{name}'" + suggest(name, declared))]
    if out.type not in _NUMERIC:
        return [src.problem(path, f"{signal} is a {out.type.value} signal; {user} needs a number or a bool")]
    if recorded is not None and not any(signal_matches(p, signal) for p in recorded):
        return [src.problem(path, f"{signal} is not recorded (see 'record: signals'), so {user} cannot use it")]
    return []


def _check_units(spec: KpiSpec, outputs: Mapping[str, Mapping[str, Output[Any]] | None], path: KeyPath,
                 src: Source) -> list[Problem]:  # fmt: skip
    units: dict[str, str] = {}
    for signal in spec.signals:
        fed, _, name = signal.partition(".")
        out = (outputs.get(fed) or {}).get(name)
        if out is not None:
            units.setdefault(out.unit or "", signal)
    if len(units) < 2:
        return []
    mixed = ", ".join(f"{signal} in '{unit or '-'}'" for unit, signal in units.items())
    return [src.problem(path, f"'combine: {spec.combine.value}' mixes units: {mixed}")]


def kpi_specs(scenario: Scenario) -> tuple[KpiSpec, ...]:
    """The scenario's KPIs (structure only); raise :class:`ScenarioError` on a bad section."""
    if "kpis" not in scenario.options:
        return ()
    specs, problems = parse_kpis(scenario.options["kpis"], scenario.source())
    if problems:
        raise ScenarioError(problems)
    return specs


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
