"""The time rule for live sources end to end, and the replay of a live run bit for bit.

A real Mosquitto, a paced federation with an ``mqtt-in`` source, a twin that reads it, an
operator federate whose orders need approval (given on the control endpoint) and an
``mqtt-out`` bridge that publishes the approved orders.  The test publishes samples in
time, out of order, late and malformed; then ``federation replay`` re-runs the store and
every table of the run is compared.
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import zmq

from federation.access import Access, Role, User, digest
from federation.engine.coordinator import Coordinator, RunOptions
from federation.errors import FederateError
from federation.scenario.loader import load
from tests.conftest import write_scenario
from tests.test_mqtt_out import Subscriber

pytestmark = pytest.mark.timeout(60)

PACE = 10.0  # simulated seconds per wall second
TESTER = "tester-token-0123456789"  # the control endpoint always needs a token

OPERATOR = '''
from federation import Endpoint, Federate, Input


class Operator(Federate):
    """Orders the gate open when the twin's level passes the limit (once)."""

    level = Input(default=0.0, unit="m")
    orders = Endpoint()

    def setup(self):
        self.sent = False

    def step(self, t):
        if self.inputs["level"] > 5.0 and not self.sent:
            self.sent = True
            self.send("orders", {"opening": 0.75, "level": self.inputs["level"]})
'''

SCENARIO = """
name: livetest
time: {{start: now, pace: 10, stop: 40, resolution: 0.001}}
federates:
  field:
    type: mqtt-in
    params:
      broker: {{port: {port}, client_id: livetest-field}}
      session: clean
      topics:
        - {{topic: test/level, output: level, unit: m, value: v, time: ts}}
  twin:
    type: formula
    period: 1
    params:
      inputs: {{level: {{unit: m}}}}
      outputs: {{double: {{expr: "2 * level", unit: m}}}}
  ops: {{type: "operator.py:Operator"}}
  out:
    type: mqtt-out
    params:
      broker: {{port: {port}}}
      messages: {{orders: twin/orders}}
connections:
  - field.level -> twin.level
  - twin.double -> ops.level
messages:
  - ops.orders -> out.orders
decisions:
  require_approval: [ops.orders]
"""


def _epoch(store: Path, timeout: float = 20.0) -> float:
    """The run's epoch, once every federate has joined (the live sources are written just before the first grant)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store.exists():
            try:
                with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
                    rows = dict(db.execute("SELECT key, value FROM run WHERE key IN ('epoch', 'live_sources')"))
                if len(rows) == 2:
                    return float(rows["epoch"])
            except sqlite3.Error:
                pass
        time.sleep(0.05)  # polling a file another process writes: there is no handshake to wait on
    raise AssertionError("the run never wrote its epoch")


def _table(store: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        return db.execute(query).fetchall()


TABLES = {
    "samples": "SELECT tick, time, signal, value FROM samples ORDER BY rowid",
    "messages": "SELECT * FROM messages ORDER BY rowid",
    "decisions": "SELECT * FROM decisions ORDER BY id",
    "external_samples": "SELECT * FROM external_samples ORDER BY rowid",
    "signals": "SELECT * FROM signals ORDER BY id",
    "federates": "SELECT id, name, type, period, grants, status FROM federates ORDER BY id",
    "kpis": "SELECT * FROM kpis ORDER BY name",
}


def test_live_samples_follow_the_time_rule_and_the_run_replays_bit_for_bit(mosquitto, tmp_path):
    broker = mosquitto()
    (tmp_path / "operator.py").write_text(OPERATOR, encoding="utf-8")
    scenario = load(write_scenario(tmp_path, SCENARIO.format(port=broker.port)))
    store = tmp_path / "live.sqlite"
    access = Access({digest(TESTER): User("tester", Role.OPERATOR)})
    coordinator = Coordinator(scenario, RunOptions(out=store, control="tcp://127.0.0.1", access=access))
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["summary"] = coordinator.run()
        except BaseException as exc:  # reported by the test below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    orders = Subscriber(broker.port, "twin/orders")
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    control = zmq.Context.instance().socket(zmq.REQ)
    control.setsockopt(zmq.LINGER, 0)
    control.setsockopt(zmq.RCVTIMEO, 10_000)
    control.connect(coordinator.gate.control_address)
    try:
        epoch = _epoch(store)
        now = (time.time() - epoch) * PACE  # simulated seconds

        def publish(stamp: float, value: Any) -> None:
            info = publisher.publish("test/level", json.dumps({"v": value, "ts": epoch + stamp}), qos=1)
            info.wait_for_publish(5)

        late = now - 10.0
        publish(late, 7.0)  # late: applied at the first open tick
        publish(now + 25.0, 3.0)  # out of order: published before the earlier one below
        publish(now + 15.0, 1.0)
        publish(now + 20.0, 2.0)
        publisher.publish("test/level", b"not a number", qos=1).wait_for_publish(5)  # malformed: counted
        while True:  # the order the late level triggers waits for the operator
            control.send_string(json.dumps({"op": "pending", "token": TESTER}))
            pending = json.loads(control.recv())["pending"]
            if pending:
                break
        control.send_string(json.dumps({"op": "decide", "id": pending[0]["id"], "verdict": "approve", "token": TESTER}))
        assert json.loads(control.recv()) == {"ok": True}
        thread.join(30)
        published = orders.wait_for(1)
    finally:
        control.close()
        publisher.disconnect()
        publisher.loop_stop()
        orders.close()
        thread.join(30)
    assert "error" not in result, result.get("error")
    assert result["summary"].status == "completed"

    rows = _table(store, "SELECT tick, time, output, stamp, lateness, value FROM external_samples "
                         "WHERE federate='field' AND output='level' ORDER BY tick, seq")  # fmt: skip
    assert [r[5] for r in rows] == [7.0, 1.0, 2.0, 3.0]  # stamp order, whatever the arrival order
    late_row, *in_time = rows
    assert late_row[4] > 1.0 and late_row[1] > late  # applied at the first open tick, after its stamp
    for tick, _, _, stamp, lateness, _ in in_time:
        assert tick == math.ceil(stamp * 1000 - 1e-6) and 0 <= lateness < 0.001  # at its own stamp
    malformed = _table(store, "SELECT value FROM external_samples WHERE output='malformed'")
    assert malformed == [(1,)]
    assert _table(store, "SELECT value FROM external_samples WHERE output='connected'")[0] == (1,)

    _, body = published[0]
    assert body["value"] == {"opening": 0.75, "level": 14.0}
    decision = _table(store, "SELECT id, decided_by, decided_at FROM decisions")
    assert decision == [(body["decision"]["id"], "control endpoint: tester", body["decision"]["decided_at"])]
    assert body["decision"]["verdict"] == "approve" and body["decision"]["class"] == "ops.orders"

    replayed = tmp_path / "replay.sqlite"
    done = subprocess.run([sys.executable, "-m", "federation.app.cli", "replay", str(store), "--out", str(replayed)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 decisions replayed" in done.stdout
    for name, query in TABLES.items():
        assert _table(replayed, query) == _table(store, query), name
    assert _table(replayed, "SELECT value FROM run WHERE key='replay_of'") == [(str(store),)]

    # a fork with no change just after the operator's decision (docs/what-if.md, "Forking a run"): it replays the
    # decision as the operator took it and the live samples before and after the fork point from the recording
    (at,) = _table(store, "SELECT time + 1 FROM decisions")[0]
    forked = tmp_path / "fork.sqlite"
    done = subprocess.run([sys.executable, "-m", "federation.app.cli", "fork", str(store), "--at", repr(at), "--out",
                           str(forked)], capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "(replay from t=0 s)" in done.stdout
    for name, query in TABLES.items():
        if name != "federates":  # the grants counted by the fork's own run, from the fork point
            assert _table(forked, query) == _table(store, query), name


def test_a_live_source_in_an_unpaced_run_fails_when_it_joins(mosquitto, run_scenario):
    broker = mosquitto()
    with pytest.raises(FederateError, match=r"federate 'field' while joining: is a live source: the run must be paced"):
        run_scenario(f"""
        time: {{start: now, stop: 10}}
        federates:
          field: {{type: mqtt-in, params: {{broker: {{port: {broker.port}}}, topics: [{{topic: a, output: a}}]}}}}
        """)


def test_replay_refuses_a_store_that_is_not_of_a_live_run(run_scenario, tmp_path):
    _, store = run_scenario("""
    time: {stop: 2}
    federates:
      c: {type: "{HELPERS}:Clock", period: 1}
    """)
    done = subprocess.run([sys.executable, "-m", "federation.app.cli", "replay", str(store.path)],
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert done.returncode != 0
    assert "is not the store of a live run (it had no live source)" in done.stderr


def test_a_broker_restart_mid_run_loses_no_sample_and_the_gap_is_recorded(mosquitto, tmp_path):
    """QoS 1 and a persistent session: what is published while the broker is down reaches the store."""
    from tests.test_mqtt_in import Sensor

    broker = mosquitto()
    scenario = load(write_scenario(tmp_path, f"""
    name: restart
    time: {{start: now, pace: 5, stop: 30, resolution: 0.001}}
    federates:
      field:
        type: mqtt-in
        params:
          broker: {{port: {broker.port}, client_id: restart-field, reconnect: {{min: 1, max: 1}}}}
          session: persistent
          topics: [{{topic: s/x, output: x}}]
      twin: {{type: formula, period: 1, params: {{inputs: {{x: {{}}}}, outputs: {{y: {{expr: "x + 1"}}}}}}}}
    connections:
      - field.x -> twin.x
    """))
    store = tmp_path / "restart.sqlite"
    coordinator = Coordinator(scenario, RunOptions(out=store))
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.setdefault("summary", coordinator.run()), daemon=True)
    thread.start()
    sensor = None
    try:
        _epoch(store)
        sensor = Sensor(broker.port, client_id="restart-device")
        for i in range(3):
            sensor.send("s/x", i)
        sensor.flush()
        broker.stop()  # Mosquitto saves the sessions on SIGTERM
        for i in range(3, 6):
            sensor.send("s/x", i)  # kept by paho until the broker is back
        broker.start()
        sensor.flush()
        for i in range(6, 8):
            sensor.send("s/x", i)
        sensor.flush()
    finally:
        if sensor is not None:
            sensor.close()
        thread.join(30)
    assert result["summary"].status == "completed"
    values = [v for (v,) in _table(store, "SELECT value FROM external_samples WHERE output='x' ORDER BY tick, seq")]
    assert set(values) == set(range(8))  # QoS 1 is "at least once": a sample not yet acknowledged may come again
    connected = [v for (v,) in _table(store, "SELECT value FROM external_samples WHERE output='connected' ORDER BY tick")]
    assert connected == [1, 0, 1]
    gap = _table(store, "SELECT value FROM external_samples WHERE output='gap_s'")
    assert len(gap) == 1 and gap[0][0] > 0
