"""Synchronisation of model and measurement (docs/synchronise.md): physics against independent
references, the judgement of measurements (stale, implausible, blind), alarms, and the section's checks."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest

from federation.errors import ScenarioError
from federation.scenario.loader import load

pytestmark = pytest.mark.timeout(60)

SYNC = str(Path(__file__).with_name("sync_models.py"))


def _corrections(store: Path) -> list[dict[str, object]]:
    db = sqlite3.connect(store)
    try:
        cur = db.execute("SELECT * FROM synchronisation ORDER BY tick, pair, rowid")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur]
    finally:
        db.close()


def _run(run_scenario, text: str, name: str = "scenario.yaml"):  # type: ignore[no-untyped-def]
    summary, store = run_scenario(text.replace("{SYNC}", SYNC), name)
    assert summary.status == "completed", summary
    return store


# ----------------------------------------------------------------------------- physics
def test_nudging_pulls_a_wrong_linear_reservoir_onto_the_true_trajectory(run_scenario, tmp_path):
    """Nudging (Hoke & Anthes 1976, Mon. Wea. Rev. 104:1551) of a linear reservoir (Chow, Maidment & Mays,
    Applied Hydrology, 1988, ch. 8, lumped flow routing) whose runoff coefficient is wrong, towards the true
    one's storage.

    Continuous nudging is dS/dt = I - k_m S + (S_true - S)/tau.  With S_true(t) = A + B exp(-k_t t)
    (A = I/k_t), the error e = S - S_true obeys e' = -a e - c S_true, a = k_m + 1/tau, c = k_m - k_t, whose
    solution is e(t) = -cA/a - cB exp(-k_t t)/(a - k_t) + C exp(-a t), C = e0 + cA/a + cB/(a - k_t):
    the initial error decays as exp(-(k_m + 1/tau) t), i.e. as exp(-t/tau) when tau << 1/k_m, down to a
    remainder -cA/a of order tau.  The run applies x += (1 - exp(-dt/tau)) (m - x) after each 10 s step.
    """
    k_t, k_m, inflow, tau, dt = 1 / 3600, 1 / 1800, 1.0, 300.0, 10.0
    s_true0, s_model0 = 1000.0, 6000.0
    text = f"""
        time: {{stop: 3000, resolution: 1 s}}
        federates:
          truth: {{type: "{{SYNC}}:LinearReservoir", period: {dt}, params: {{k: {k_t}, inflow: {inflow}, storage0: {s_true0}}}}}
          model: {{type: "{{SYNC}}:LinearReservoir", period: {dt}, params: {{k: {k_m}, inflow: {inflow}, storage0: {s_model0}}}}}
        synchronise:
          - {{pair: truth.storage -> model.storage, method: METHOD, tau: {tau}}}
    """
    _run(run_scenario, text.replace("METHOD", "nudge"), "nudged.yaml")
    rows = _corrections(tmp_path / "nudged.sqlite")
    a, c = k_m + 1 / tau, k_m - k_t
    big_a, big_b = inflow / k_t, s_true0 - inflow / k_t
    e0 = s_model0 - s_true0
    big_c = e0 + c * big_a / a + c * big_b / (a - k_t)

    def reference(t: float) -> float:
        return -c * big_a / a - c * big_b * math.exp(-k_t * t) / (a - k_t) + big_c * math.exp(-a * t)

    assert len(rows) == 301 and rows[0]["gain"] == 0.0  # no step was made before t = 0: nothing to relax over
    assert rows[1]["gain"] == pytest.approx(1 - math.exp(-dt / tau), rel=1e-12)
    errors = [(r["time"], r["after"] - r["measurement"]) for r in rows]  # type: ignore[operator]
    worst = max(abs(e - reference(t)) for t, e in errors)
    assert worst < 0.01 * abs(e0), f"nudged error departs from the continuous solution by {worst:.1f} m3"
    late = [(t, e) for t, e in errors if t >= 1500]
    assert all(abs(e) < 1.05 * abs(c * big_a / a) + 1.0 for _, e in late)  # converged to the O(tau) remainder
    # the decay rate of the initial error, fitted on the run, is k_m + 1/tau
    t1, t2 = 100.0, 600.0
    d1 = dict(errors)[t1] - (reference(t1) - big_c * math.exp(-a * t1))
    d2 = dict(errors)[t2] - (reference(t2) - big_c * math.exp(-a * t2))
    assert math.log(d1 / d2) / (t2 - t1) == pytest.approx(a, rel=0.01)

    _run(run_scenario, text.replace("METHOD", "observe").replace(f", tau: {tau}", ""), "observed.yaml")
    free = _corrections(tmp_path / "observed.sqlite")
    late_free = max(abs(r["residual"]) for r in free if r["time"] >= 1500)  # type: ignore[arg-type, operator]
    assert late_free > 5 * max(abs(e) for _, e in late)  # without the correction: far off the truth
    residuals = [r["residual"] for r in rows]
    assert rows[-1]["rmse"] == pytest.approx(math.sqrt(np.mean(np.square(residuals))), rel=1e-12)
    assert rows[-1]["bias"] == pytest.approx(np.mean(residuals), rel=1e-12)
    assert rows[-1]["largest"] == max(abs(x) for x in residuals)  # type: ignore[arg-type]


def test_kalman_gain_reaches_the_textbook_steady_state_of_a_random_walk(run_scenario, tmp_path):
    """Scalar Kalman filter (Welch & Bishop, "An Introduction to the Kalman Filter", UNC TR 95-041: the time and
    measurement updates) of a random walk x_k = x_{k-1} + w_k, w ~ N(0, Q), measured as z_k = x_k + v_k, v ~ N(0, R).

    The prior variance obeys the Riccati recursion P-_k = P_{k-1} + Q, P_k = P-_k R / (P-_k + R); its fixed point
    is P- = (Q + sqrt(Q^2 + 4 Q R)) / 2 and the steady-state gain K = P- / (P- + R).  The gain is read from the
    recorded values, K = (after - before) / (measurement - before), not from the gain column.
    """
    q, r, p0, n = 0.04, 1.0, 10.0, 120
    rng = np.random.default_rng(7)
    truth = np.cumsum(rng.normal(0.0, math.sqrt(q), n))
    measured = truth + rng.normal(0.0, math.sqrt(r), n)
    times = [float(i) for i in range(n)]
    (tmp_path / "gauge.csv").write_text("time,x\n" + "".join(f"{t:g},{float(v)!r}\n" for t, v in zip(times, measured)))
    text = f"""
        time: {{stop: {n - 1}, resolution: 1 s}}
        federates:
          gauge: {{type: player, params: {{file: gauge.csv, columns: {{x: null}}}}}}
          model: {{type: "{{SYNC}}:Persistence", period: 1}}
        synchronise:
          - pair: gauge.x -> model.x
            method: kalman
            model_variance: {q}
            measurement_variance: {r}
            initial_variance: {p0}
    """
    _run(run_scenario, text, "kalman.yaml")
    rows = _corrections(tmp_path / "kalman.sqlite")
    assert [r_["time"] for r_ in rows] == times
    gains = [(r_["after"] - r_["before"]) / (r_["measurement"] - r_["before"]) for r_ in rows]  # type: ignore[operator]
    prior = (q + math.sqrt(q * q + 4 * q * r)) / 2
    steady = prior / (prior + r)
    assert gains[0] == pytest.approx(p0 / (p0 + r), rel=1e-9)  # the first measurement: P- = P0
    assert gains[-1] == pytest.approx(steady, rel=1e-9)
    assert rows[-1]["gain"] == pytest.approx(steady, rel=1e-12)
    estimate = np.array([r_["after"] for r_ in rows])
    mse = float(np.mean((estimate[40:] - truth[40:]) ** 2))
    posterior = (1 - steady) * prior
    assert mse == pytest.approx(posterior, rel=0.35)  # the filter's error is what its variance says (80 samples)
    assert mse < 0.5 * float(np.mean((measured[40:] - truth[40:]) ** 2))  # and better than the raw measurement


def test_without_measurements_the_model_runs_bit_identically(run_scenario, tmp_path):
    """A pair whose sensor never has a value changes nothing the model records."""
    base = f"""
        time: {{stop: 600, resolution: 1 s}}
        federates:
          dead: {{type: "{SYNC}:Silent"}}
          model: {{type: "{SYNC}:LinearReservoir", params: {{k: 0.001, storage0: 50.0}}}}
    """
    pair = """
        synchronise:
          - {pair: dead.value -> model.storage, method: kalman, model_variance: 1, measurement_variance: 1}
    """
    _run(run_scenario, base, "plain.yaml")
    _run(run_scenario, base + pair, "synced.yaml")

    def model_rows(name: str) -> list[tuple[object, ...]]:
        db = sqlite3.connect(tmp_path / name)
        try:
            return db.execute("SELECT s.tick, s.time, s.value FROM samples s JOIN signals g ON s.signal = g.id "
                              "WHERE g.federate = 'model' ORDER BY s.rowid").fetchall()  # fmt: skip
        finally:
            db.close()

    plain = model_rows("plain.sqlite")
    assert len(plain) == 61 and plain == model_rows("synced.sqlite")
    assert _corrections(tmp_path / "synced.sqlite") == []


# ----------------------------------------------------------------------------- the domain federates
def test_flood_grid_and_hospital_take_measured_states(run_scenario, tmp_path):
    """Insertion into the flood federate's pool level, river discharge and stage, the grid's measured load
    and the hospital's ward occupancy: each state takes the measured value and its dependants follow."""
    text = f"""
        time: {{stop: 1800, resolution: 1 s}}
        federates:
          level: {{type: "{SYNC}:Sensor", params: {{times: [600], values: [100.5], unit: m}}}}
          flow: {{type: "{SYNC}:Sensor", params: {{times: [600], values: [42.0], unit: m3/s}}}}
          stage: {{type: "{SYNC}:Sensor", params: {{times: [900], values: [52.0], unit: m}}}}
          load: {{type: "{SYNC}:Sensor", params: {{times: [600], values: [250.0], unit: MW}}}}
          beds: {{type: "{SYNC}:Sensor", params: {{times: [600, 1200], values: [150.4, 20], unit: patients}}}}
          icu: {{type: "{SYNC}:Sensor", params: {{times: [600], values: [999], unit: patients}}}}
          flood: {{type: flood, params: {{rainfall: [[0, 0.0]]}}}}
          grid: {{type: grid, params: {{case: case14, measured_loads: [9]}}}}
          hospital: {{type: hospital}}
        synchronise:
          - level.value -> flood.reservoir_level
          - flow.value -> flood.discharge.bridge
          - stage.value -> flood.stage.city
          - load.value -> grid.demand.9
          - beds.value -> hospital.ward_occupancy
          - icu.value -> hospital.icu_occupancy
    """
    store = _run(run_scenario, text, "domains.yaml")
    rows = {(r["pair"], r["time"]): r for r in _corrections(tmp_path / "domains.sqlite")}
    level, flow, stage, load, beds = (rows[(i, t)] for i, t in ((0, 600.0), (1, 600.0), (2, 900.0), (3, 600.0),
                                                                  (4, 600.0)))  # fmt: skip
    assert level["after"] == pytest.approx(100.5, abs=1e-9) and level["before"] != pytest.approx(100.5)
    assert flow["after"] == pytest.approx(42.0, rel=1e-12)
    assert stage["after"] == pytest.approx(52.0, abs=1e-9)
    assert load["after"] == pytest.approx(250.0, rel=1e-12) and load["before"] == pytest.approx(29.5)  # case14 bus 9
    assert beds["after"] == 150 and beds["measurement"] == 150.4
    assert rows[(4, 1200.0)]["after"] == 20  # the latest admitted leave
    assert rows[(5, 600.0)]["after"] == 20  # no more patients than the ICU's 20 beds
    storage = dict(zip(store.series("flood.reservoir_storage").times, store.series("flood.reservoir_storage").values))
    assert storage[600.0] == pytest.approx(30.0e6 + 0.5 * (52.0e6 - 30.0e6) / 5.0 * 1.0, rel=1e-9)  # the table at 100.5 m
    served = dict(zip(store.series("grid.served_mw").times, store.series("grid.served_mw").values))
    assert served[600.0] - served[0.0] == pytest.approx(250.0 - 29.5, rel=1e-9)


def test_a_model_exchange_fmu_state_is_set_and_integration_goes_on_from_it(run_scenario, tmp_path, shipped_fmus):
    """PumpStation (FMI 2 ME): d(level)/dt = inflow / area = 0.05 / 20 m/s while the pump is off."""
    fmu = next(f for f in shipped_fmus if f.stem == "PumpStation")
    text = f"""
        time: {{stop: 200, resolution: 1 s}}
        federates:
          gauge: {{type: "{SYNC}:Sensor", params: {{times: [100], values: [0.7], unit: m}}}}
          pump: {{type: fmu, period: 10, params: {{fmu: "{fmu}", outputs: [level]}}}}
        synchronise:
          - gauge.value -> pump.level
    """
    store = _run(run_scenario, text, "fmu.yaml")
    row = _corrections(tmp_path / "fmu.sqlite")[0]
    assert row["before"] == pytest.approx(1.0 + 100 * 0.0025, rel=1e-6) and row["after"] == 0.7
    level = dict(zip(store.series("pump.level").times, store.series("pump.level").values))
    assert level[100.0] == 0.7 and level[200.0] == pytest.approx(0.7 + 100 * 0.0025, rel=1e-6)


def test_a_co_simulation_fmu_says_why_it_cannot_be_corrected(tmp_path, shipped_fmus):
    fmu = next(f for f in shipped_fmus if f.stem == "SampledTank")
    path = tmp_path / "cs.yaml"
    path.write_text(f"""time: {{stop: 10, resolution: 1 s}}
federates:
  gauge: {{type: "{SYNC}:Sensor", params: {{unit: m}}}}
  tank: {{type: fmu, params: {{fmu: "{fmu}", interface: co-simulation, outputs: [level]}}}}
synchronise:
  - gauge.value -> tank.level
""")
    with pytest.raises(ScenarioError, match="is run as Co-Simulation, whose states FMI lets no one set from outside; "
                                            "it offers Model Exchange too"):  # fmt: skip
        load(path)


def test_corrections_and_alarms_are_bit_identical_from_run_to_run(run_scenario, tmp_path):
    text = f"""
        time: {{stop: 900, resolution: 1 s}}
        federates:
          truth: {{type: "{SYNC}:LinearReservoir", period: 30, params: {{k: 0.0003, storage0: 3000}}}}
          model: {{type: "{SYNC}:LinearReservoir", params: {{k: 0.0005, storage0: 1000}}}}
          ops: {{type: "{{HELPERS}}:Listener"}}
        synchronise:
          - {{pair: truth.storage -> model.storage, method: kalman, model_variance: 50.0, measurement_variance: 400.0,
             acceptable: 300, alarm: ops.inbox}}
    """

    def dump(name: str) -> list[list[tuple[object, ...]]]:
        _run(run_scenario, text, f"{name}.yaml")
        db = sqlite3.connect(tmp_path / f"{name}.sqlite")
        try:
            return [db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
                    for table in ("synchronisation", "messages", "samples", "sync_pairs", "kpis")]
        finally:
            db.close()

    first = dump("first")
    assert first[0] and first[1] and first == dump("second")


# ----------------------------------------------------------------------------- judging measurements
def test_implausible_stale_blind_and_residual_alarms(run_scenario, tmp_path):
    """A jump beyond max_jump is rejected, a held measurement goes stale, a silent sensor raises 'blind'."""
    text = f"""
        time: {{stop: 200, resolution: 1 s}}
        federates:
          gauge: {{type: "{SYNC}:Sensor", params: {{times: [0, 10, 20, 30], values: [100.0, 101.0, 900.0, 102.0]}}}}
          model: {{type: "{SYNC}:LinearReservoir", params: {{k: 0.0001, inflow: 0.0, storage0: 130.0}}}}
          ops: {{type: "{{HELPERS}}:Listener"}}
        synchronise:
          - pair: gauge.value -> model.storage
            method: nudge
            tau: 5
            acceptable: 5
            max_jump: 50
            stale_after: 30
            blind_after: 60
            alarm: ops.inbox
    """
    store = _run(run_scenario, text, "judge.yaml")
    rows = _corrections(tmp_path / "judge.sqlite")
    status = [(r["time"], r["status"]) for r in rows]
    assert status[:4] == [(0.0, "corrected"), (10.0, "corrected"), (20.0, "implausible"), (30.0, "corrected")]
    assert (40.0, "held") in status and (50.0, "held") in status and (60.0, "held") in status
    assert (70.0, "stale") in status and not any(s == "held" for t, s in status if t > 60)
    assert (100.0, "blind") in status  # 30 + 60 < 100: the first step beyond blind_after
    rejected = rows[2]
    assert rejected["after"] == rejected["before"] and rejected["count"] == 2  # not used, not in the statistics
    alarms = [(t, p["alarm"]) for t, _, _, p in store.messages()]
    assert alarms[0] == (0.0, "residual") and (100.0, "blind") in alarms
    assert (30.0, "cleared") in alarms  # nudged at 10 s (gain 1 - exp(-2)), within 5 m3 at 30 s
    kpis = {name: value for name, value, _, _ in store.kpis()}
    assert kpis["sync.model.storage.rejected"] == 1 and kpis["sync.model.storage.blind"] == 1
    assert kpis["sync.model.storage.stale"] == 1 and kpis["sync.model.storage.alarms"] == 1
    assert kpis["sync.model.storage.max"] == pytest.approx(abs(rows[0]["residual"]))  # type: ignore[arg-type]
    from federation.results.report import build_report

    page = build_report(store)
    assert "<h2>Model vs measurement</h2>" in page and "alt='model.storage'" in page
    assert "<td>gauge.value -&gt; model.storage</td><td>blind</td>" in page


# ----------------------------------------------------------------------------- the section's checks
@pytest.mark.parametrize(("pair", "message"), [
    ("{pair: gauge.value -> model.storag, method: insert}", "has no output 'storag'; did you mean 'storage'"),
    ("{pair: gauge.value -> lvl.level, method: insert}", "an output that is not a correctable state: 'level'"),
    ("{pair: gauge.value -> model.storage, method: nudge}", "method 'nudge' needs 'tau'"),
    ("{pair: gauge.value -> model.storage, method: nudg}", "unknown method 'nudg'; did you mean 'nudge'"),
    ("{pair: gauge.value -> model.storage, method: insert, tau: 1}", "'tau' is a setting of another method"),
    ("{pair: gauge.value -> model.storage, acceptible: 1}", "unknown key; did you mean 'acceptable'"),
    ("{pair: lvl.level -> model.storage}", "unit mismatch: lvl.level is in 'm' but model.storage is in 'm3'"),
    ("{pair: gauge.value -> model.storage, alarm: ops.alarms}", "unknown federate 'ops'"),
    ("{pair: gauge.value -> model.storage, stale_after: -1}", "must be positive"),
    ("{pair: gaug.value -> model.storage}", "unknown federate 'gaug'; did you mean 'gauge'"),
])  # fmt: skip
def test_section_problems_name_the_line(tmp_path, pair, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"""time: {{stop: 10, resolution: 1 s}}
federates:
  gauge: {{type: "{SYNC}:Sensor"}}
  model: {{type: "{SYNC}:LinearReservoir"}}
  lvl: {{type: "{SYNC}:Level"}}
synchronise:
  - {pair}
""")
    with pytest.raises(ScenarioError) as info:
        load(path)
    text = str(info.value)
    assert message in text and f"{path}:7" in text, text


# ----------------------------------------------------------------------------- alarms to the operator's broker
def test_alarms_reach_an_mqtt_broker_through_mqtt_out(mosquitto, run_scenario, tmp_path):
    """A residual alarm and a blind alarm go to a real Mosquitto through an mqtt-out endpoint."""
    broker = mosquitto()
    received: list[dict[str, object]] = []
    subscribed, got = threading.Event(), threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_connect = lambda c, *args: c.subscribe("twin/alarms", qos=1)

    def on_message(c: object, userdata: object, message: mqtt.MQTTMessage) -> None:
        received.append(json.loads(message.payload))
        if len(received) >= 2:
            got.set()

    client.on_message = on_message
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        assert subscribed.wait(10), "no SUBACK"
        _run(run_scenario, f"""
            time: {{stop: 120, resolution: 1 s}}
            federates:
              gauge: {{type: "{SYNC}:Sensor", params: {{times: [0], values: [500.0]}}}}
              model: {{type: "{SYNC}:LinearReservoir", params: {{storage0: 100.0}}}}
              bridge:
                type: mqtt-out
                params:
                  broker: {{port: {broker.port}}}
                  messages: {{alarms: {{topic: twin/alarms, require_decision: false}}}}
            synchronise:
              - {{pair: gauge.value -> model.storage, method: observe, acceptable: 10, blind_after: 60,
                 alarm: bridge.alarms}}
        """, "mqtt.yaml")
        assert got.wait(20), received
    finally:
        client.disconnect()
        client.loop_stop()
    alarms = [(m["value"]["alarm"], m["sender"]) for m in received]  # type: ignore[index]
    assert alarms == [("residual", "model.~alarms"), ("blind", "model.~alarms")]
    assert received[0]["value"]["residual"] == -400.0  # type: ignore[index]
