"""KPIs: parsing and validation of the ``kpis:`` section, every reducer, recovery, storage, the CLI table."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from federation.errors import ScenarioError
from federation.results.kpi import (
    KpiSpec,
    KpiValue,
    Reducer,
    compute_kpis,
    format_table,
    kpi_specs,
    record_kpis,
    reduce_series,
    write_kpis,
)
from federation.results.store import RunStore, Series
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

# y over [0, 10] s, one step per second (only changes are recorded: samples at 0, 1, 2, 3, 4, 7):
#   t: 0   1  2  3  4  5  6  7   8   9   10
#   y: 10  8  6  4  6  6  6  10  10  10  10   (z = 5 + t: 15 at the stop)
# integral = 10 + 8 + 6 + 4 + 3*6 + 3*10 = 76; mean = 7.6; recovery below 9.9: from t=1 to t=7 = 6 s
PROFILE = """
time: {stop: 10, resolution: 1 s}
federates:
  src:
    type: formula
    period: 1 s
    params:
      outputs:
        y: {expr: "10 - 2 * t if t < 4 else (6 if t < 7 else 10)", unit: MW}
        z: {expr: "5 + t", unit: MW}
        low: {expr: "t >= 2 and t < 7", type: bool}
        pulse: {expr: "t == 2 or t == 5", type: bool}
        late: {expr: "t >= 8", type: bool}
        drop: {expr: "10 if t < 5 else 5", unit: MW}
        flat: {expr: "3.0", unit: MW}
"""


def _profile(kpis: str) -> str:
    return PROFILE + "kpis:\n" + kpis


def _values(run_scenario, tmp_path, kpis: str) -> dict[str, KpiValue]:
    _, store = run_scenario(_profile(kpis))
    scenario = load(tmp_path / "scenario.yaml")
    return {v.name: v for v in compute_kpis(store, kpi_specs(scenario))}


def test_value_reducers_on_a_real_run(run_scenario, tmp_path):
    """last, first, max, min, mean and integral, sample-and-hold over the whole run."""
    got = _values(run_scenario, tmp_path, """
  last: {signal: src.y, reduce: last}
  first: {signal: src.y, reduce: first}
  peak: {signal: src.y, reduce: max}
  trough: {signal: src.y, reduce: min}
  mean: {signal: src.y, reduce: mean}
  energy: {signal: src.y, reduce: integral}
  energy_mwh: {signal: src.y, reduce: integral, scale: 2.7777777777777776e-4, unit: MWh}
""")
    assert [got[k].value for k in ("last", "first", "peak", "trough")] == [10.0, 10.0, 10.0, 4.0]
    assert got["mean"].value == pytest.approx(7.6)
    assert got["energy"].value == pytest.approx(76.0)
    assert got["energy_mwh"].value == pytest.approx(76.0 / 3600)
    assert (got["last"].unit, got["energy"].unit, got["energy_mwh"].unit) == ("MW", "MW*s", "MWh")


def test_bool_reducers_count_edges_and_time(run_scenario, tmp_path):
    """time_true counts seconds (the last sample holds to the stop time); count_true counts rising edges."""
    got = _values(run_scenario, tmp_path, """
  low_time: {signal: src.low, reduce: time_true}
  low_count: {signal: src.low, reduce: count_true}
  pulse_time: {signal: src.pulse, reduce: time_true}
  pulse_count: {signal: src.pulse, reduce: count_true}
  late_time: {signal: src.late, reduce: time_true, unit: min}
""")
    assert (got["low_time"].value, got["low_count"].value) == (5.0, 1.0)
    assert (got["pulse_time"].value, got["pulse_count"].value) == (2.0, 2.0)
    assert got["late_time"].value == pytest.approx(2.0 / 60) and got["late_time"].unit == "min"
    assert got["low_time"].unit == "s" and got["low_count"].unit == ""


def test_recovery_cases(run_scenario, tmp_path):
    """Dropped and back (6 s), never back (NaN, 'not recovered'), never dropped (0), an explicit baseline."""
    got = _values(run_scenario, tmp_path, """
  back: {signal: src.y, reduce: recovery, threshold: 0.99}
  back_h: {signal: src.y, reduce: recovery, threshold: 0.99, unit: h}
  shallow: {signal: src.y, reduce: recovery, threshold: 0.5}
  never_back: {signal: src.drop, reduce: recovery}
  never_dropped: {signal: src.flat, reduce: recovery}
  baseline: {signal: src.z, reduce: recovery, baseline: 12.0, threshold: 1.0}
""")
    assert got["back"].value == 6.0 and got["back"].unit == "s"
    assert got["back_h"].value == pytest.approx(6.0 / 3600)
    assert got["shallow"].value == 1.0  # below 5 only at t=3 (4 MW); back at t=4
    assert math.isnan(got["never_back"].value) and got["never_back"].display() == "not recovered"
    assert got["never_dropped"].value == 0.0
    assert got["baseline"].value == 7.0  # z = 5 + t is below 12 from t=0 until t=7


def test_combine_and_scale(run_scenario, tmp_path):
    got = _values(run_scenario, tmp_path, """
  total: {signal: [src.y, src.z], reduce: last, combine: sum}
  biggest_peak: {signal: [src.y, src.z], reduce: max, combine: max}
  smallest: {signal: [src.y, src.flat], reduce: min, combine: min, scale: 1000, unit: kW}
  unrecovered: {signal: [src.y, src.drop], reduce: recovery, combine: max}
""")
    assert got["total"].value == 25.0 and got["total"].unit == "MW"  # y + z at the stop: 10 + 15
    assert got["biggest_peak"].value == 15.0
    assert got["smallest"].value == 3000.0 and got["smallest"].unit == "kW"
    assert math.isnan(got["unrecovered"].value)  # one signal never recovers: the combination does not either


def test_kpis_are_written_to_the_store(run_scenario, tmp_path):
    summary, _ = run_scenario(_profile("""
  last: {signal: src.y, reduce: last, unit: MW, description: "final output"}
  never_back: {signal: src.drop, reduce: recovery}
"""))
    values = record_kpis(load(tmp_path / "scenario.yaml"), summary.store)
    assert [v.name for v in values] == ["last", "never_back"]
    with RunStore(summary.store) as fresh:
        assert fresh.kpis() == [("last", 10.0, "MW", "final output"), ("never_back", None, "s", "")]
    write_kpis(summary.store, [KpiValue("last", 11.0, "MW", "again")])  # replaced by name, others kept
    with RunStore(summary.store) as fresh:
        assert fresh.kpis() == [("never_back", None, "s", ""), ("last", 11.0, "MW", "again")]


def _series(times, values):
    return Series("f.x", "", tuple(times), tuple(values))


def test_reducers_on_hand_made_series():
    """Samples at 0, 2, 5 held until the end at 10."""
    s = _series([0.0, 2.0, 5.0], [1.0, 3.0, 2.0])

    def spec(r: Reducer, **kw: float) -> KpiSpec:
        return KpiSpec("k", ("f.x",), r, **kw)

    assert reduce_series(s, spec(Reducer.INTEGRAL), 10.0) == (1 * 2 + 3 * 3 + 2 * 5, "")
    assert reduce_series(s, spec(Reducer.MEAN), 10.0)[0] == pytest.approx(21 / 10)
    assert reduce_series(s, spec(Reducer.RECOVERY, threshold=1.0), 10.0) == (0.0, "")
    assert reduce_series(s, spec(Reducer.RECOVERY, baseline=1.5, threshold=1.0), 10.0) == (2.0, "")
    assert reduce_series(s, spec(Reducer.RECOVERY, baseline=2.5, threshold=1.0), 10.0)[1] == "not recovered"
    empty = _series([], [])
    assert reduce_series(empty, spec(Reducer.LAST), 10.0)[1] == "no samples"
    gaps = _series([0.0, 1.0], [None, 4.0])  # SQLite gives NaN back as NULL
    assert reduce_series(gaps, spec(Reducer.MAX), 10.0) == (4.0, "")


def test_format_table_aligns_and_shows_notes():
    table = format_table([KpiValue("energy", 12.5, "MWh", "not served"), KpiValue("recovery", math.nan, "h", "", "not recovered")])
    lines = table.splitlines()
    assert lines[0].split() == ["KPI", "value", "unit", "description"]
    assert "12.5" in lines[1] and "not recovered" in lines[2]
    assert lines[1].index("MWh") == lines[2].index("h")


# ----------------------------------------------------------------------------- validation
BAD = """
time: {stop: 10, resolution: 1 s}
record: {signals: ["src.*"]}
federates:
  src:
    type: formula
    period: 1 s
    params:
      outputs:
        y: {expr: "t", unit: MW}
        z: {expr: "t", unit: kW}
  other:
    type: formula
    period: 1 s
    params:
      outputs: {w: "2 * t"}
kpis:
  a: {signal: src.nope, reduce: last}
  b: {signal: ghost.y}
  c: {signal: src.y, reduce: median}
  d: {signal: src.y, reduce: max, threshold: 0.9}
  e: {signal: [src.y, src.z], reduce: last, combine: sum}
  f: {signal: other.w}
  g: {signal: src.y, combine: max}
  h: {signal: src.y, scale: "big", colour: red}
  i: [src.y]
"""


def test_every_kpi_problem_is_reported_with_its_line(tmp_path):
    with pytest.raises(ScenarioError) as info:
        load(write_scenario(tmp_path, BAD))
    text = str(info.value)
    for expected in (
        ":18:7: kpis.a.signal: federate 'src' has no output 'nope'",
        ":19:7: kpis.b.signal: unknown federate 'ghost'",
        ":20:22: kpis.c.reduce: expected one of last, first, max, min, mean, integral, count_true, time_true, recovery, got 'median'",
        ":21:35: kpis.d.threshold: 'threshold' applies only to 'reduce: recovery'",
        ":22:7: kpis.e.signal: 'combine: sum' mixes units: src.y in 'MW', src.z in 'kW'",
        ":23:7: kpis.f.signal: other.w is not recorded (see 'record: signals'), so a KPI cannot use it",
        ":24:22: kpis.g.combine: 'combine' needs a list of two or more signals",
        ":25:22: kpis.h.scale: expected a number, got a string 'big'",
        ":25:36: kpis.h.colour: unknown key",
        ":26:3: kpis.i: expected a mapping with 'signal' and 'reduce'",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"


def test_a_string_signal_cannot_be_a_kpi(tmp_path):
    path = write_scenario(tmp_path, """
    time: {stop: 3, resolution: 1 s}
    federates:
      ext:
        command: ["true"]
        interface: {outputs: {label: {type: str}}}
    kpis:
      k: {signal: ext.label}
    """)
    with pytest.raises(ScenarioError, match=r"kpis.k.signal: ext.label is a str signal; a KPI needs a number or a bool"):
        load(path)


# ----------------------------------------------------------------------------- command line
def test_run_prints_the_kpi_table_even_when_quiet(tmp_path):
    path = write_scenario(tmp_path, _profile("""
  peak: {signal: src.y, reduce: max, unit: MW, description: "highest output"}
  recovery: {signal: src.drop, reduce: recovery, unit: h}
"""))
    out = tmp_path / "run.sqlite"
    result = subprocess.run([sys.executable, "-m", "federation.app.cli", "run", str(path), "--out", str(out), "-q"],
                            capture_output=True, text=True, timeout=50)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["KPI", "value", "unit", "description"]
    assert lines[1].split() == ["peak", "10", "MW", "highest", "output"]
    assert lines[2].split() == ["recovery", "not", "recovered", "h"]
    with RunStore(out) as store:
        assert store.kpis() == [("peak", 10.0, "MW", "highest output"), ("recovery", None, "h", "")]
