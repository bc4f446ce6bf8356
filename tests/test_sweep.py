"""Ensembles: ``federation sweep`` plans variants x seeds, runs them on Dask, summarises the KPIs."""

from __future__ import annotations

import csv
import math
import os
import statistics
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from federation.app.sweep import (
    RunResult,
    Variant,
    check_variants,
    expand_variants,
    parse_vary,
    plan_runs,
    summarise_results,
)
from federation.engine.recorder import RunStatus
from federation.errors import ScenarioError
from federation.results.kpi import KpiValue, compute_kpis, kpi_specs
from federation.results.store import RunStore
from federation.scenario.loader import load
from tests.conftest import ROOT, write_scenario

pytestmark = pytest.mark.timeout(60)

# rain-tank cut to two hours, with KPIs; tank.area=0 makes the tank raise ZeroDivisionError at t=0
SCENARIO = """\
name: small-tank
time: {start: 0, stop: 2 h, resolution: 1 s}
seed: 7
federates:
  rain:
    type: rain
    params: {base: 1.0, shower: 40.0, shower_probability: 0.1, shower_steps: 10}
  tank:
    type: tank
    params: {catchment: 8000.0, area: 80.0, level0: 1.2}
  control:
    type: valve
    period: 5 min
    params: {setpoint: 1.5, gain: 3.0, alarm_level: 1.8}
  log:
    type: logger
connections:
  - rain.intensity -> tank.rain
  - tank.level -> control.level
  - {from: control.opening, to: tank.opening, delay: true}
messages:
  - control.alarms -> log.alarms
kpis:
  peak_level: {signal: tank.level, reduce: max}
  final_level: {signal: tank.level, reduce: last}
  alarms: {signal: log.count, reduce: last}
"""
KPIS = ["peak_level [m]", "final_level [m]", "alarms"]


def federation(*args: str, env: dict[str, str] | None = None, timeout: float = 50) -> Any:
    return subprocess.run([sys.executable, "-m", "federation.app.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})  # fmt: skip


def processes_with(marker: str) -> list[int]:
    """Processes (ours) whose environment carries ``marker``: what a sweep might leave behind."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:
                continue
            if marker.encode() in environ:
                found.append(int(entry))
    return found


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ensemble for the module: 3 variants (one failing) x 2 seeds on a 2-worker local cluster."""
    tmp = tmp_path_factory.mktemp("sweep")
    scenario = write_scenario(tmp, SCENARIO)
    out = tmp / "out"
    marker = f"FEDERATION_SWEEP_TEST={uuid.uuid4().hex}"
    key, value = marker.split("=")
    result = federation("sweep", str(scenario), "--vary", "tank.area=60,0,120", "--seeds", "2",
                        "--workers", "2", "--out", str(out), env={key: value})  # fmt: skip
    return {"result": result, "out": out, "scenario": scenario, "marker": marker,
            "left": processes_with(marker)}  # fmt: skip


# ---------------------------------------------------------------------------- the plan
def test_vary_values_are_yaml() -> None:
    assert parse_vary("tank.area=80,120.5") == ("tank.area", (80, 120.5))
    assert parse_vary("f.p=x,'1',[1, 2],{k: 1},null,true") == (
        "f.p", ("x", "1", [1, 2], {"k": 1}, None, True)
    )
    assert parse_vary(" rain.base = 2 ") == ("rain.base", (2,))


@pytest.mark.parametrize("text, match", [
    ("tank.area", "expected federate.param=v1,v2"),
    ("area=1,2", "expected federate.param=v1,v2"),
    ("tank.area=", "no values"),
    ("tank.area=1,[2", "cannot read"),
    ("tank.area=1,2,1", "value 1 is given twice"),
])  # fmt: skip
def test_bad_vary_is_refused(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_vary(text)


def test_variants_are_the_cartesian_product_in_vary_order() -> None:
    variants = expand_variants([("tank.area", (60, 120)), ("control.gain", (2.0, 4.0, 8.0))])
    assert [v.label for v in variants] == [
        "tank.area=60_control.gain=2.0", "tank.area=60_control.gain=4.0", "tank.area=60_control.gain=8.0",
        "tank.area=120_control.gain=2.0", "tank.area=120_control.gain=4.0", "tank.area=120_control.gain=8.0",
    ]  # fmt: skip
    assert variants[4].overrides == {"tank.area": 120, "control.gain": 4.0}


def test_no_vary_is_one_base_variant() -> None:
    assert expand_variants([]) == (Variant("base"),)


def test_labels_are_file_safe_unique_and_short() -> None:
    variants = expand_variants([("f.p", ("a/b", "a b", "x" * 200, "y" * 200))])
    labels = [v.label for v in variants]
    assert labels[:2] == ["f.p=a-b", "f.p=a-b-2"]
    assert len(set(labels)) == 4 and all(len(label) <= 64 for label in labels)
    assert all("/" not in label and " " not in label for label in labels)


def test_a_parameter_varied_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="tank.area is varied twice"):
        expand_variants([("tank.area", (1,)), ("tank.area", (2,))])


def test_runs_take_consecutive_seeds_and_own_stores(tmp_path: Path) -> None:
    scenario = load(write_scenario(tmp_path, SCENARIO))
    variants = expand_variants([("tank.area", (60, 120))])
    specs = plan_runs(scenario, variants, 3, tmp_path / "out")
    assert [(s.variant.label, s.seed) for s in specs] == [(v.label, k) for v in variants for k in (7, 8, 9)]
    assert specs[4].store == (tmp_path / "out" / "runs" / "tank.area=120-seed8.sqlite").resolve()
    assert specs[4].scenario.seed == 8 and specs[4].scenario.federates["tank"].params["area"] == 120
    assert specs[4].scenario.federates["tank"].params["catchment"] == 8000.0
    assert len({s.store for s in specs}) == len(specs)


def test_variants_are_validated_before_anything_runs(tmp_path: Path) -> None:
    scenario = load(write_scenario(tmp_path, SCENARIO))
    with pytest.raises(ScenarioError, match="federate 'tank' has no parameter 'aera'"):
        check_variants(scenario, expand_variants([("tank.aera", (1.0,))]))
    with pytest.raises(ScenarioError, match="no federate 'pump'"):
        check_variants(scenario, expand_variants([("pump.speed", (1.0,))]))


def test_an_external_federate_cannot_be_swept(tmp_path: Path) -> None:
    text = SCENARIO.replace("    type: logger\n", "    type: logger\n    external: true\n")
    scenario = load(write_scenario(tmp_path, text))
    with pytest.raises(ScenarioError, match=r"scenario.yaml:\d+:\d+: federates.log.external: an external"):
        check_variants(scenario, expand_variants([]))


def test_summary_statistics_use_completed_runs_only() -> None:
    a, b = Variant("a", (("t.x", 1),)), Variant("b", (("t.x", 2),))

    def result(variant: Variant, seed: int, value: float, status: str = RunStatus.COMPLETED) -> RunResult:
        kpis = (KpiValue("k", value, "m"),) if status == RunStatus.COMPLETED else ()
        return RunResult(variant, seed, Path(f"{variant.label}-{seed}"), status, "", 1.0, kpis)

    results = [result(a, 1, 1.0), result(a, 2, 2.0), result(a, 3, 6.0), result(a, 4, 0.0, RunStatus.FAILED),
               result(b, 1, 5.0), result(b, 2, math.nan)]  # fmt: skip
    sa, sb = summarise_results([a, b], results)
    assert (sa.ok, sa.failed, sb.ok, sb.failed) == (3, 1, 2, 0)
    k = sa.stats[0]
    assert (k.name, k.unit, k.n, k.mean, k.min, k.max) == ("k", "m", 3, 3.0, 1.0, 6.0)
    assert k.std == pytest.approx(statistics.stdev([1.0, 2.0, 6.0]))
    assert sb.stats[0].n == 1 and sb.stats[0].mean == 5.0  # the NaN value is left out
    assert math.isnan(sb.stats[0].std)


# ---------------------------------------------------------------------------- the command
def test_sweep_reports_the_failed_variant_and_exits_1(sweep: dict[str, Any]) -> None:
    result = sweep["result"]
    assert result.returncode == 1, result.stderr
    assert "6 runs: 4 completed, 2 failed" in result.stdout
    assert "tank.area=0-seed7: failed: federate 'tank' at t=0 s" in result.stdout
    assert "ZeroDivisionError" in result.stdout
    assert "INFO distributed" not in result.stderr


def test_runs_csv_has_one_row_per_run(sweep: dict[str, Any]) -> None:
    rows = read_csv(sweep["out"] / "runs.csv")
    assert list(rows[0]) == ["variant", "tank.area", "seed", "status", "wall_s", *KPIS, "reason", "store"]
    assert [(r["variant"], r["tank.area"], r["seed"], r["status"]) for r in rows] == [
        ("tank.area=60", "60", "7", "completed"), ("tank.area=60", "60", "8", "completed"),
        ("tank.area=0", "0", "7", "failed"), ("tank.area=0", "0", "8", "failed"),
        ("tank.area=120", "120", "7", "completed"), ("tank.area=120", "120", "8", "completed"),
    ]  # fmt: skip
    for row in rows:
        assert float(row["wall_s"]) > 0
        assert (sweep["out"] / row["store"]).is_file()
        if row["status"] == "failed":
            assert "ZeroDivisionError" in row["reason"] and all(row[k] == "" for k in KPIS)
        else:
            assert row["reason"] == "" and all(row[k] != "" for k in KPIS)


def test_kpis_and_summary_match_the_stores(sweep: dict[str, Any]) -> None:
    specs = kpi_specs(load(sweep["scenario"]))
    recomputed: dict[str, list[list[float]]] = {}
    for row in read_csv(sweep["out"] / "runs.csv"):
        with RunStore(sweep["out"] / row["store"]) as store:
            assert store.metadata()["seed"] == row["seed"]
            assert store.metadata()["status"] == row["status"]
            if row["status"] != "completed":
                continue
            values = [k.value for k in compute_kpis(store, specs)]
            assert [name for name, _, _, _ in store.kpis()] == ["peak_level", "final_level", "alarms"]
        assert [float(row[k]) for k in KPIS] == values
        recomputed.setdefault(row["variant"], []).append(values)
    summary = {r["variant"]: r for r in read_csv(sweep["out"] / "summary.csv")}
    assert list(summary) == ["tank.area=60", "tank.area=0", "tank.area=120"]
    assert (summary["tank.area=0"]["ok"], summary["tank.area=0"]["failed"]) == ("0", "2")
    assert summary["tank.area=0"]["peak_level mean [m]"] == ""
    for variant, runs in recomputed.items():
        assert (summary[variant]["ok"], summary[variant]["failed"]) == ("2", "0")
        assert all(summary[variant][f"{kpi.partition(' ')[0]} n"] == "2" for kpi in KPIS)
        for i, kpi in enumerate(KPIS):
            name, _, unit = kpi.partition(" ")
            column = [run[i] for run in runs]
            got = {stat: float(summary[variant][f"{name} {stat} {unit}".strip()])
                   for stat in ("mean", "std", "min", "max")}  # fmt: skip
            assert got == pytest.approx({"mean": statistics.fmean(column), "std": statistics.stdev(column),
                                         "min": min(column), "max": max(column)})  # fmt: skip


def test_summary_plot_is_written(sweep: dict[str, Any]) -> None:
    png = sweep["out"] / "summary.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000


def test_sweep_leaves_no_process_behind(sweep: dict[str, Any]) -> None:
    assert sweep["left"] == [], f"processes left behind by the sweep: {sweep['left']}"
    assert processes_with(sweep["marker"]) == []


def test_sweep_on_an_existing_scheduler(tmp_path: Path) -> None:
    """``--scheduler`` uses a running cluster (here an in-process one) and leaves it running."""
    from distributed import Client, LocalCluster

    scenario = write_scenario(tmp_path, SCENARIO)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                      host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster:
        result = federation("sweep", str(scenario), "--scheduler", cluster.scheduler_address,
                            "--out", str(tmp_path / "out"))  # fmt: skip
        assert result.returncode == 0, result.stderr
        with Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 1
    rows = read_csv(tmp_path / "out" / "runs.csv")
    assert [(r["variant"], r["seed"], r["status"]) for r in rows] == [("base", "7", "completed")]


def test_usage_errors_come_before_any_run(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, SCENARIO)
    result = federation("sweep", str(scenario), "--vary", "tank.aera=1,2")
    assert result.returncode == 2 and "federate 'tank' has no parameter 'aera'" in result.stderr
    result = federation("sweep", str(scenario), "--scheduler", "tcp://127.0.0.1:1", "--workers", "2")
    assert result.returncode == 2 and "--workers sizes the local cluster" in result.stderr
    result = federation("sweep", str(scenario), "--seeds", "0")
    assert result.returncode == 2 and "at least 1" in result.stderr


def test_missing_dask_names_the_extra(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, SCENARIO)
    code = ("import sys; sys.modules['distributed'] = None; from federation.app.cli import main; "
            f"sys.exit(main(['sweep', {str(scenario)!r}]))")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                            cwd=ROOT)  # fmt: skip
    assert result.returncode == 2
    assert "pip install -e '.[ensemble]'" in result.stderr


def test_the_shipped_mitigation_sweep_validates():
    """scenarios/sweeps/riverton-mitigations.yaml: every strategy is a valid variant of Riverton."""
    result = subprocess.run([sys.executable, "-m", "federation.app.cli", "validate",
                             str(ROOT / "scenarios" / "sweeps" / "riverton-mitigations.yaml")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "sweep of riverton.yaml: 4 variants x 3 seeds" in result.stdout


def test_a_bad_sweep_file_names_file_line_and_key(tmp_path):
    path = tmp_path / "bad-sweep.yaml"
    path.write_text("sweep:\n  scenario: ../nowhere.yaml\n  seeds: 0\n  variants:\n    ok: {tank.area: 3}\n"
                    "    bad: {area: 3}\n  extra: 1\n")  # fmt: skip
    from federation.app.sweep import load_sweep_file
    from federation.errors import ScenarioError

    with pytest.raises(ScenarioError) as info:
        load_sweep_file(path)
    text = str(info.value)
    assert "bad-sweep.yaml:3:3: sweep.seeds: expected an integer from 1 to 100000, got 0" in text
    assert "bad-sweep.yaml:6:5: sweep.variants.bad: expected a mapping of fed.param: value" in text
    assert "bad-sweep.yaml:7:3: sweep.extra: unknown key" in text


# ---------------------------------------------------------------------------- the summary plot
def _plot_results() -> tuple[list[Variant], list[RunResult]]:
    """Four strategies x 3 seeds: a KPI that differs, one equal everywhere, one equal but for rounding."""
    variants = [Variant(name) for name in ("baseline", "pre-release", "flood-walls", "segmented-network")]
    results = [RunResult(v, seed, Path(f"{v.label}-{seed}.sqlite"), RunStatus.COMPLETED, "", 30.0,
                         (KpiValue("unserved_energy", 20000.0 * (i + 1) + seed, "MWh"),
                          KpiValue("peak_reservoir_level", 105.144, "m"),
                          KpiValue("mean_rain", 19.53 + (3e-12 if i % 2 else 0.0), "mm/h")))
               for i, v in enumerate(variants) for seed in (7, 8, 9)]  # fmt: skip
    return variants, results


def test_summary_plot_title_clears_every_panel() -> None:
    from federation.app.sweep import summary_figure

    variants, results = _plot_results()
    fig = summary_figure(summarise_results(variants, results), results)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    title = next(t for t in fig.texts if t.get_text() == fig.get_suptitle()).get_window_extent(renderer)
    highest = max(ax.get_tightbbox(renderer).y1 for ax in fig.axes)
    assert title.y0 - highest >= 5, f"title {title.y0 - highest:.1f} px above the first panel"


def test_summary_plot_draws_constant_kpis_on_a_fixed_range() -> None:
    """A KPI equal in every run (even to within rounding) is not stretched into differences: its axis
    spans +-10 % of the value, shows true values (no offset) and the panel says 'constant'."""
    from federation.app.sweep import summary_figure

    variants, results = _plot_results()
    fig = summary_figure(summarise_results(variants, results), results)
    fig.canvas.draw()
    energy, level, rain = fig.axes
    for ax, value in ((level, 105.144), (rain, 19.53)):
        low, high = ax.get_ylim()
        assert low == pytest.approx(0.9 * value) and high == pytest.approx(1.1 * value)
        assert any(t.get_text().startswith("constant:") for t in ax.texts)
    assert not any(t.get_text().startswith("constant:") for t in energy.texts)
    low, high = energy.get_ylim()
    assert low < 20007 and high > 80009 and high - low < 1.5 * (80009 - 20007)  # autoscaled to the data
    for ax in fig.axes:
        assert ax.yaxis.get_offset_text().get_text() == ""
