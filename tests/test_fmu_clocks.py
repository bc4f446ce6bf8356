"""FMI 3 clocks: every kind, through a federation, against an independent computation of the model.

fmus/sampled_tank is a storage tank under a sampled-data controller with one clock of each
kind (its model.c says what each partition does).  :class:`Reference` below computes the
same model independently: a plain event list in Python, the level integrated exactly
between activations.  One federation run per interface (Co-Simulation with event mode, and
Model Exchange with CVode) drives the FMU with messages (a triggered input clock), input
changes (the inflow, and the tunable parameter behind the tunable clock) and a scenario
setting of a fixed clock's interval; each test then checks one clock kind against the
reference: activation times (the FMU federate is stepped at each activation: its clocked
outputs change at exactly those times) and the values computed there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from federation import Context, Message
from federation.fmu import FMUError, FmuFederate

pytestmark = pytest.mark.timeout(120)

STOP = 120.0
SETPOINTS = [(20.0, 1.5), (60.0, 0.2), (90.0, 2.0)]  # messages to the triggered clock setpoint_change
INFLOW = [(0.0, 1.0), (47.0, 1.6)]  # the input inflow (m3/s)
TUNE = [(0.0, 4.0), (30.0, 6.0)]  # the tunable parameter tune_interval, bound as an input
LOG = (8.0, 1.0)  # the scenario sets the fixed clock log: interval 8 s, shift 1 s
AUDIT_INTERVAL = 6.0  # a parameter; the fixed clock audit takes its interval from the FMU


@dataclass
class Reference:
    """SampledTank computed independently: clock activations in order, the level exact in between."""

    area: float = 10.0
    kp: float = 1.0
    q_max: float = 5.0
    alarm_level: float = 2.3
    audit_interval: float = AUDIT_INTERVAL
    audit_shift: float = 3.0
    burst_first: float = 2.0
    burst_base: float = 3.0
    delay_time: float = 4.0
    activations: dict[str, list[tuple[float, Any]]] = field(default_factory=dict)
    trajectory: list[tuple[float, float, float]] = field(default_factory=list)  # (event time, level, slope after)

    def run(self, stop: float) -> Reference:
        level, q, setpoint, last_sample, inflow = 1.0, 0.0, 2.0, 1.0, INFLOW[0][1]
        counts = dict.fromkeys(("control", "alarm", "log", "audit", "tune", "burst", "delay", "change"), 0)
        nxt: dict[str, float | None] = {"control": 0.0, "log": LOG[1], "audit": self.audit_shift, "tune": 0.0,
                                        "burst": self.burst_first, "delay": None}  # fmt: skip
        tune = TUNE[0][1]
        changes, inflows, tunes = dict(SETPOINTS), dict(INFLOW), dict(TUNE)
        t_prev = 0.0
        while True:
            candidates = [t for t in nxt.values() if t is not None] + [t for t in (*changes, *inflows, *tunes) if t > t_prev]
            t = min(candidates)
            if t > stop + 1e-9:
                return self
            level += (inflow - q) / self.area * (t - t_prev)
            t_prev = t
            inflow = inflows.get(t, inflow)
            new_tune = tunes.get(t) if t > 0 else None
            due = {n for n, when in nxt.items() if when is not None and abs(when - t) < 1e-9}
            if t in changes and t > 0:  # setpoint_change first, as in model.c
                setpoint = changes[t]
                counts["change"] += 1
                self.record("change", t, (setpoint, counts["change"]))
                nxt["delay"] = t + self.delay_time
            if "control" in due:
                q = min(max(self.kp * (level - setpoint), 0.0), self.q_max)
                counts["control"] += 1
                self.record("control", t, (q, counts["control"]))
                if level > self.alarm_level and last_sample <= self.alarm_level:
                    counts["alarm"] += 1
                    self.record("alarm", t, (level, counts["alarm"]))
                last_sample = level
                nxt["control"] = 5.0 * (counts["control"])
            if "log" in due:
                counts["log"] += 1
                self.record("log", t, (level, counts["log"]))
                nxt["log"] = LOG[1] + LOG[0] * counts["log"]
            if "audit" in due:
                counts["audit"] += 1
                self.record("audit", t, (level, counts["audit"]))
                nxt["audit"] = self.audit_shift + self.audit_interval * counts["audit"]
            if "tune" in due:
                counts["tune"] += 1
                self.record("tune", t, counts["tune"])
                nxt["tune"] = t + tune
            if new_tune is not None:  # a new tunable interval counts from the event it is set in
                tune = new_tune
                nxt["tune"] = t + tune
            if "burst" in due:
                counts["burst"] += 1
                self.record("burst", t, counts["burst"])
                nxt["burst"] = t + self.burst_base * (1 + counts["burst"] % 3)
            if "delay" in due and t not in changes:
                counts["delay"] += 1
                self.record("delay", t, (setpoint, counts["delay"]))
                nxt["delay"] = None
            self.trajectory.append((t, level, (inflow - q) / self.area))

    def record(self, clock: str, t: float, value: Any) -> None:
        self.activations.setdefault(clock, []).append((t, value))

    def times(self, clock: str) -> list[float]:
        return [t for t, _ in self.activations.get(clock, [])]

    def level(self, t: float) -> float:
        """The level at ``t``: linear from the last activation at or before ``t``."""
        te, level, slope = max((e for e in self.trajectory if e[0] <= t + 1e-9), key=lambda e: e[0])
        return level + slope * (t - te)


def held(series: Any, t: float) -> Any:
    """A recorded (changes-only) series read at ``t``."""
    return [v for when, v in zip(series.times, series.values) if when <= t + 1e-9][-1]


@pytest.fixture(scope="module")
def fmu(shipped_fmus: list[Path]) -> Path:
    """SampledTank, as the session built it into fmus/dist (read only)."""
    return {p.stem: p for p in shipped_fmus}["SampledTank"]


@pytest.fixture(scope="module")
def reference() -> Reference:
    return Reference().run(STOP)


def scenario(fmu: Path, interface: str) -> str:
    events = [f"  - {{at: {t:g}, send: tank.setpoint_change, payload: {{new_setpoint: {v}}}}}" for t, v in SETPOINTS]
    events += [f"  - {{at: {t:g}, set: tank.inflow, value: {v}}}" for t, v in INFLOW if t > 0]
    events += [f"  - {{at: {t:g}, set: tank.tune_interval, value: {v}}}" for t, v in TUNE if t > 0]
    return f"""
time: {{stop: {STOP:g}, resolution: 1 ms}}
federates:
  tank:
    type: fmu
    params:
      fmu: {fmu}
      interface: {interface}
      inputs: [inflow, tune_interval]
      parameters: {{audit_interval: {AUDIT_INTERVAL}}}
      clocks: {{log: {{interval: {LOG[0]}, shift: {LOG[1]}}}}}
      step: 10
  listener: {{type: "{{HELPERS}}:Listener"}}
messages:
  - tank.alarm -> listener.inbox
events:
""" + "\n".join(events) + "\n"


@pytest.fixture(scope="module", params=["co-simulation", "model-exchange"])
def run(request: pytest.FixtureRequest, fmu: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One federation run per interface (the FMU in its own process, over ZeroMQ), and its store."""
    from federation.engine.coordinator import Coordinator, RunOptions
    from federation.results.store import RunStore
    from federation.scenario.loader import load
    from tests.conftest import write_scenario

    folder = tmp_path_factory.mktemp(request.param)
    path = write_scenario(folder, scenario(fmu, request.param))
    Coordinator(load(path), RunOptions(out=folder / "run.sqlite")).run()
    store = RunStore(folder / "run.sqlite")
    yield request.param, store
    store.close()


def counted(store: Any, name: str) -> list[tuple[float, int]]:
    """(time, count) of an activation counter: one sample per activation (the start value 0 left out)."""
    series = store.series(f"tank.{name}")
    return [(t, n) for t, n in zip(series.times, series.values) if n > 0]


def at_activations(store: Any, counter: str, name: str) -> list[Any]:
    """A clocked output read at each activation of its clock."""
    series = store.series(f"tank.{name}")
    return [held(series, t) for t, _ in counted(store, counter)]


def close(a: float, b: float, interface: str) -> bool:
    return math.isclose(a, b, rel_tol=1e-12 if interface == "co-simulation" else 1e-8, abs_tol=1e-12)


def test_constant_clock_samples_the_level_every_5_s(run: Any, reference: Reference) -> None:
    """`control` (constant, 5 s in the model description): the federate is stepped at each activation."""
    interface, store = run
    expected = reference.activations["control"]
    got = counted(store, "control_count")
    assert [t for t, _ in got] == [t for t, _ in expected] == [5.0 * k for k in range(25)]
    assert [n for _, n in got] == [n for _, (_, n) in expected] == list(range(1, 26))
    for q, (t, (value, _)) in zip(at_activations(store, "control_count", "q"), expected):
        assert close(q, value, interface), (t, q, value)


def test_fixed_clock_takes_the_interval_the_scenario_sets(run: Any, reference: Reference) -> None:
    """`log` (fixed, intervalDecimal 10 s): the scenario's interval 8 s and shift 1 s are used."""
    interface, store = run
    assert reference.times("log") == [1.0 + 8.0 * k for k in range(15)]
    assert [t for t, _ in counted(store, "log_count")] == reference.times("log")
    got = at_activations(store, "log_count", "logged")
    expected = [v for _, (v, _) in reference.activations["log"]]
    assert len(got) == len(expected) and all(close(a, b, interface) for a, b in zip(got, expected))


def test_fixed_clock_without_interval_takes_it_from_the_fmu(run: Any, reference: Reference) -> None:
    """`audit` (fixed, no intervalDecimal): fmi3GetInterval/GetShift in initialization mode (6 s from 3 s)."""
    interface, store = run
    assert reference.times("audit") == [3.0 + 6.0 * k for k in range(20)]
    assert [t for t, _ in counted(store, "audit_count")] == reference.times("audit")
    got = at_activations(store, "audit_count", "audited")
    expected = [v for _, (v, _) in reference.activations["audit"]]
    assert len(got) == len(expected) and all(close(a, b, interface) for a, b in zip(got, expected))


def test_tunable_clock_follows_a_new_interval_from_the_event_it_is_set_in(run: Any, reference: Reference) -> None:
    """`tune` (tunable): every 4 s; tune_interval set to 6 s at 30 s -> 36, 42, ..."""
    _, store = run
    times = reference.times("tune")
    assert times[:9] == [0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0, 36.0] and times[-1] == 120.0
    assert [t for t, _ in counted(store, "tune_count")] == times


def test_changing_clock_asks_the_fmu_for_each_next_interval(run: Any, reference: Reference) -> None:
    """`burst` (changing): 2 s, then 3 * (1 + count mod 3) after each activation."""
    _, store = run
    times = reference.times("burst")
    assert times[:5] == [2.0, 8.0, 17.0, 20.0, 26.0]
    assert [t for t, _ in counted(store, "burst_count")] == times


def test_countdown_clock_fires_after_each_setpoint_change(run: Any, reference: Reference) -> None:
    """`delay` (countdown): the FMU reports its interval when it knows it (4 s after a change)."""
    interface, store = run
    assert reference.times("delay") == [24.0, 64.0, 94.0]
    assert [t for t, _ in counted(store, "delay_count")] == [24.0, 64.0, 94.0]
    assert at_activations(store, "delay_count", "delayed_setpoint") == [v for _, v in SETPOINTS]


def test_triggered_input_clock_is_activated_by_a_message(run: Any, reference: Reference) -> None:
    """`setpoint_change` (triggered): a message's payload sets the clocked input new_setpoint."""
    _, store = run
    assert [t for t, _ in counted(store, "change_count")] == [t for t, _ in SETPOINTS] == reference.times("change")
    setpoint = store.series("tank.setpoint")
    assert list(zip(setpoint.times, setpoint.values))[1:] == SETPOINTS


def test_output_clock_activation_is_a_message_with_its_partition(run: Any, reference: Reference) -> None:
    """`alarm` (output): each activation is a message from endpoint 'alarm' with alarm_level_at, alarm_count."""
    interface, store = run
    expected = reference.activations["alarm"]
    assert [t for t, _ in expected] == [15.0, 95.0]
    sent = [(t, payload) for t, source, target, payload in store.messages() if source == "tank.alarm"]
    assert [t for t, _ in sent] == [15.0, 95.0]
    for (_, payload), (_, (level, count)) in zip(sent, expected):
        assert set(payload) == {"alarm_level_at", "alarm_count"} and payload["alarm_count"] == count
        assert close(payload["alarm_level_at"], level, interface)
    log = store.series("listener.log").values[-1]
    assert log[1] == [95.0] and log[2][0]["alarm_count"] == 2


def test_level_at_every_step_matches_the_exact_solution(run: Any, reference: Reference) -> None:
    """The continuous state, published at every step (activations, input changes, every 10 s), is exact."""
    interface, store = run
    level = store.series("tank.level")
    assert {10.0 * k for k in range(13)} <= set(level.times) and 47.0 in level.times
    for t, value in zip(level.times, level.values):
        assert close(value, reference.level(t), interface), (t, value, reference.level(t))


# ---------------------------------------------------------------------------- refusals and messages
def context() -> Context:
    return Context(name="tank", seed=1, start=0.0, stop=50.0, resolution=1e-3, period=None, routes=frozenset({"alarm"}))


def test_a_clock_listed_as_an_input_is_refused(fmu: Path) -> None:
    with pytest.raises(FMUError, match=r"'setpoint_change' is a Clock: a clock is not a signal but a message "
                                       r"endpoint"):  # fmt: skip
        FmuFederate.declare({"fmu": str(fmu), "inputs": ["inflow", "setpoint_change"]})


def test_interval_of_a_constant_clock_cannot_be_set(fmu: Path) -> None:
    with pytest.raises(FMUError, match=r"clocks\.control: a constant clock keeps the interval of the model "
                                       r"description \(5 s\)"):  # fmt: skip
        FmuFederate.declare({"fmu": str(fmu), "clocks": {"control": {"interval": 2}}})
    with pytest.raises(FMUError, match=r"clocks\.audit: a fixed clock without intervalDecimal"):
        FmuFederate.declare({"fmu": str(fmu), "clocks": {"audit": {"interval": 2}}})
    with pytest.raises(FMUError, match=r"clocks\.lgo: no such clock in the FMU \(did you mean 'log'\?\)"):
        FmuFederate.declare({"fmu": str(fmu), "clocks": {"lgo": {"interval": 2}}})


def test_clocks_are_endpoints_and_the_federate_is_event_driven(fmu: Path) -> None:
    decl = FmuFederate.declare({"fmu": str(fmu)})
    assert decl.period is None and "needs_period" not in decl.extra
    assert {e.name for e in decl.endpoints} == {"control", "alarm", "setpoint_change", "log", "audit", "tune",
                                                "burst", "delay"}  # fmt: skip
    assert decl.input("setpoint_change") is None and decl.input("new_setpoint") is not None


def test_message_to_an_output_clock_fails_naming_it(fmu: Path) -> None:
    fed = FmuFederate({"fmu": str(fmu)}, context())
    fed.setup()
    try:
        fed.inbox = [Message(0.0, "other.out", "alarm", None)]
        with pytest.raises(FMUError, match=r"message from other\.out at t=0 s to endpoint 'alarm', which is an "
                                           r"output triggered clock"):  # fmt: skip
            fed.step(0.0)
    finally:
        fed.finalize()


def test_payload_keys_that_are_not_clocked_inputs_are_ignored_with_a_warning(
        fmu: Path, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    """Another FMU's output clock message carries its own partition: its other keys do not matter."""
    fed = FmuFederate({"fmu": str(fmu)}, context())
    fed.setup()
    try:
        fed.step(0.0)
        fed.inbox = [Message(1.0, "other.alarm", "setpoint_change", {"new_setpoint": 1.25, "alarm_count": 1})]
        fed.step(1.0)
        assert fed.outputs["setpoint"] == 1.25 and fed.outputs["change_count"] == 1
        assert "'alarm_count' is not an input clocked by it (its clocked inputs: new_setpoint); ignored" in caplog.text
    finally:
        fed.finalize()


def test_payload_of_the_wrong_type_fails_naming_the_clock_and_key(fmu: Path) -> None:
    fed = FmuFederate({"fmu": str(fmu)}, context())
    fed.setup()
    try:
        fed.step(0.0)
        fed.inbox = [Message(1.0, "scenario", "setpoint_change", {"new_setpoint": "high"})]
        with pytest.raises(FMUError, match=r"to clock 'setpoint_change': new_setpoint: Float64 expects a number"):
            fed.step(1.0)
    finally:
        fed.finalize()


def test_state_round_trip_restores_the_clock_timetable(fmu: Path) -> None:
    """Iterate groups: save, step through activations, restore, step again -> the same outputs and ticks."""
    fed = FmuFederate({"fmu": str(fmu), "interface": "co-simulation"}, context())
    fed.setup()
    try:
        t: float | None = 0.0
        while t is not None and t < 14.0:
            t = fed.step(t)
        saved = fed.get_state()
        runs = []
        for _ in range(2):
            fed.set_state(saved)
            fed._outbox.clear()
            trace, u = [], t
            while u is not None and u <= 30.0:
                u = fed.step(u)
                trace.append((u, dict(fed.outputs), [(m.endpoint, m.payload) for m in fed._outbox]))
                fed._outbox.clear()
            runs.append(trace)
        assert runs[0] == runs[1] and any(sent for _, _, sent in runs[0])
    finally:
        fed.finalize()


def test_cli_runs_a_clocked_fmu_and_inspect_lists_its_clocks(fmu: Path, tmp_path: Path) -> None:
    """`federation inspect` shows the clocks and a snippet; `federation run` runs the snippet's federate."""
    import subprocess
    import sys

    from federation.results.store import RunStore
    from tests.conftest import write_scenario

    def federation(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "federation.app.cli", *args], capture_output=True, text=True,
                              timeout=90, cwd=tmp_path)  # fmt: skip

    shown = federation("inspect", str(fmu))
    assert shown.returncode == 0, shown.stderr
    assert "clocks (each a message endpoint of the federate)" in shown.stdout
    assert "control          input      constant   every 5 s from 0 s" in shown.stdout
    assert "log: {interval: 10, shift: 0}" in shown.stdout
    assert "# message endpoints (clocks): control, alarm, setpoint_change, log, audit, tune, burst, delay" in shown.stdout
    path = write_scenario(tmp_path, f"""
        time: {{stop: 30, resolution: 1 ms}}
        federates:
          tank: {{type: fmu, params: {{fmu: {fmu}}}}}
          listener: {{type: "{{HELPERS}}:Listener"}}
        messages: [tank.alarm -> listener.inbox]
        """)
    result = federation("run", str(path), "--out", str(tmp_path / "run.sqlite"))
    assert result.returncode == 0, result.stderr
    with RunStore(tmp_path / "run.sqlite") as store:
        assert [(t, s, d) for t, s, d, _ in store.messages()] == [(15.0, "tank.alarm", "listener.inbox")]
        assert [t for t, _ in counted(store, "control_count")] == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]


def test_an_output_clock_without_a_route_sends_nothing(fmu: Path) -> None:
    """The coordinator refuses a message on an endpoint with no route: the FMU federate sends only routed clocks."""
    fed = FmuFederate({"fmu": str(fmu)}, Context(name="tank", seed=1, start=0.0, stop=50.0, resolution=1e-3,
                                                 period=None))  # fmt: skip
    fed.setup()
    try:
        t: float | None = 0.0
        while t is not None and t <= 20.0:
            t = fed.step(t)
            assert fed._outbox == []
        assert fed.outputs["alarm_count"] == 1  # the clock did activate, at 15 s
    finally:
        fed.finalize()
