"""`mqtt-in`, the client side, against a real Mosquitto: values, units, timestamps, wildcards,
malformed payloads, a broker restart with nothing lost (QoS 1), TLS with a test CA, refused credentials.

Until the core's pacing exists, `mqtt-in` cannot run in a federation (it refuses to start,
tested last); here its client (`Ingest`) fills a real `LiveFeed` as the federate's steps read it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from federates.mqtt.broker import BrokerError
from federates.mqtt.inbound import inbound_spec
from federates.mqtt.ingest import CONNECTED, GAP, MALFORMED, Ingest
from federates.mqtt.localbroker import LocalBroker, free_port
from federation import ExternalSample, LiveFeed, ParameterCheck
from federation.errors import FederateError, ScenarioError
from federation.scenario.loader import load
from tests.brokers import make_pki, password_file, tls_listener
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

EPOCH = 1796220000.0  # 2026-12-02T14:00:00Z: simulated time 0


class WatchedFeed(LiveFeed):
    """A live feed a test can wait on: every push wakes the waiting test."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()
        self.taken: list[ExternalSample] = []

    def push(self, sample: ExternalSample) -> None:
        super().push(sample)
        with self.changed:
            self.changed.notify_all()

    def wait_for(self, output: str, count: int = 0, *, values: set[Any] | None = None,
                 timeout: float = 20.0) -> list[ExternalSample]:  # fmt: skip
        """The samples of ``output`` in stamp order once ``count`` of them (or all ``values``) arrived; taken."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                self.taken += self.due(float("inf"))
                matching = sorted((s for s in self.taken if s.output == output), key=lambda s: s.stamp)
                if len(matching) >= count and (values is None or values <= {s.value for s in matching}):
                    break
                left = deadline - time.monotonic()
                assert left > 0, f"{len(matching)} of {count} samples of {output!r} arrived"
                self.changed.wait(left)
            self.taken = [s for s in self.taken if s.output != output]
        return matching


def ingest(broker: dict[str, Any], topics: list[dict[str, Any]], **params: Any) -> tuple[Ingest, WatchedFeed]:
    check = ParameterCheck()
    spec = inbound_spec({"broker": broker, "topics": topics, **params}, check)
    check.done()
    feed = WatchedFeed()
    client = Ingest(spec, feed, f"test-in-{free_port()}", lambda posix: posix - EPOCH)
    return client, feed


class Sensor:
    """A plain paho client publishing as a field device would; ``flush`` waits for the broker's PUBACKs."""

    def __init__(self, port: int, client_id: str = "") -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not client_id)
        self.client.reconnect_delay_set(1, 1)
        self.client.max_queued_messages_set(0)
        self.acked = threading.Condition()
        self.pending: set[int] = set()
        self.client.on_publish = self._acked
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, topic: str, payload: Any) -> None:
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        with self.acked:
            self.pending.add(self.client.publish(topic, data, qos=1).mid)

    def flush(self, timeout: float = 20.0) -> None:
        with self.acked:
            assert self.acked.wait_for(lambda: not self.pending, timeout), f"not acknowledged: {sorted(self.pending)}"

    def _acked(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self.acked:
            self.pending.discard(mid)
            self.acked.notify_all()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher() -> Iterator[Any]:
    sensors: list[Sensor] = []

    def connect(port: int, client_id: str = "") -> Sensor:
        sensors.append(Sensor(port, client_id))
        return sensors[-1]

    yield connect
    for sensor in sensors:
        sensor.close()


def send(sensor: Sensor, topic: str, payload: Any) -> None:
    sensor.send(topic, payload)
    sensor.flush()


def test_values_timestamps_wildcards_and_units_reach_the_feed(mosquitto, publisher):
    broker = mosquitto()
    client, feed = ingest({"port": broker.port}, [
        {"topic": "riverton/reservoir", "output": "level", "value": "reading.level", "time": "ts",
         "unit": "m", "source_unit": "cm"},
        {"topic": "riverton/gauges/+/stage", "outputs": {"bridge": "stage_bridge", "city": "stage_city"}, "unit": "m"},
        {"topic": "riverton/rain/#", "output": "rain", "unit": "mm/h"},
    ])  # fmt: skip
    client.open()
    try:
        assert [s.value for s in feed.wait_for(CONNECTED, 1)] == [True]
        pub = publisher(broker.port)
        send(pub, "riverton/reservoir", {"reading": {"level": 9950}, "ts": "2026-12-02T14:10:00Z"})
        send(pub, "riverton/reservoir", {"reading": {"level": 9900.5}, "ts": EPOCH + 300.25})  # out of order
        send(pub, "riverton/gauges/city/stage", "4.25")  # a bare number
        send(pub, "riverton/gauges/bridge/stage", 3)
        send(pub, "riverton/rain/north/gauge1", 7.5)
        levels = feed.wait_for("level", 2)
        assert [(s.stamp, s.value) for s in levels] == [(300.25, pytest.approx(99.005)), (600.0, pytest.approx(99.5))]
        assert [s.value for s in feed.wait_for("stage_city", 1)] == [4.25]
        assert [s.value for s in feed.wait_for("stage_bridge", 1)] == [3.0]
        rain = feed.wait_for("rain", 1)[0]
        assert rain.value == 7.5 and rain.stamp == pytest.approx(rain.arrival - EPOCH)  # no timestamp: arrival
    finally:
        client.close()


def test_malformed_payloads_are_dropped_counted_and_warned_rate_limited(mosquitto, publisher, caplog):
    broker = mosquitto()
    client, feed = ingest({"port": broker.port}, [{"topic": "s/level", "output": "level", "value": "v"}])
    client.open()
    try:
        pub = publisher(broker.port)
        caplog.set_level(logging.WARNING, logger="federates.mqtt.ingest")
        for payload in ("not json", {"w": 1}, {"v": "high"}, b"\xff\xfe", {"v": float("nan")}, {"v": 2.5}):
            send(pub, "s/level", payload)
        assert [s.value for s in feed.wait_for("level", 1)] == [2.5]  # the run goes on with the good one
        assert [s.value for s in feed.wait_for(MALFORMED, 5)] == [1, 2, 3, 4, 5] and client.malformed == 5
    finally:
        client.close()
    warnings = [r.getMessage() for r in caplog.records if "malformed payload" in r.getMessage()]
    assert len(warnings) == 1, warnings  # one per topic per 10 s
    assert "malformed payload on 's/level': not JSON nor a number: 'not json'; dropped (1 so far)" in warnings[0]


def test_a_broker_restart_loses_no_qos1_sample_and_the_gap_is_reported(mosquitto, publisher):
    broker: LocalBroker = mosquitto()
    client, feed = ingest({"port": broker.port, "client_id": "twin-in", "reconnect": {"min": 1, "max": 1}},
                          [{"topic": "s/#", "output": "x"}], qos=1, session="persistent")  # fmt: skip
    client.open()
    try:
        pub = publisher(broker.port, client_id="sensor-1")
        for i in range(5):
            send(pub, "s/x", i)
        assert [s.value for s in feed.wait_for("x", 5)] == [0, 1, 2, 3, 4]
        broker.stop()  # Mosquitto saves the sessions on SIGTERM
        for i in range(5, 10):
            pub.send("s/x", i)  # kept by paho until the broker is back
        broker.start()
        pub.flush()
        for i in range(10, 12):
            send(pub, "s/x", i)
        after = [s.value for s in feed.wait_for("x", values={5, 6, 7, 8, 9, 10, 11})]
        assert set(after) <= set(range(12))  # QoS 1 is "at least once": an unacknowledged sample may come again
        assert [s.value for s in feed.wait_for(CONNECTED, 3)] == [True, False, True]
        gap = feed.wait_for(GAP, 1)[0]
        assert len(client.outages) == 1 and gap.value == pytest.approx(client.outages[0].seconds, abs=1e-3)
        assert gap.value > 0
    finally:
        client.close()


def test_tls_with_a_test_ca_and_a_client_certificate(tmp_path, mosquitto, publisher):
    pki = make_pki(tmp_path / "pki")
    port, lines = tls_listener(pki, require_certificate=True)
    broker = mosquitto(extra=lines)
    tls = {"ca": str(pki.ca), "cert": str(pki.client_cert), "key": str(pki.client_key)}
    client, feed = ingest({"port": port, "tls": tls}, [{"topic": "secure/level", "output": "level"}])
    client.open()
    try:
        send(publisher(broker.port), "secure/level", 1.5)
        assert [s.value for s in feed.wait_for("level", 1)] == [1.5]
    finally:
        client.close()


def test_a_broker_certificate_from_another_ca_is_refused_in_one_line(tmp_path, mosquitto):
    pki, other = make_pki(tmp_path / "pki"), make_pki(tmp_path / "other")
    port, lines = tls_listener(pki)
    mosquitto(extra=lines)
    client, _ = ingest({"port": port, "tls": {"ca": str(other.ca)}, "connect_timeout": 5}, [{"topic": "a", "output": "a"}])
    with pytest.raises(BrokerError, match=rf"TLS handshake with the MQTT broker at 127\.0\.0\.1:{port} \(TLS\) failed: "
                                          r"self.signed certificate in certificate chain"):  # fmt: skip
        client.open()


def test_refused_credentials_are_named_by_where_they_come_from_never_shown(tmp_path, mosquitto, monkeypatch, caplog):
    secret = "s3cret-Value"
    broker = mosquitto(extra=f"password_file {password_file(tmp_path / 'auth', 'twin', secret)}\n")
    (tmp_path / "pw").write_text(secret + "\n")
    monkeypatch.setenv("TWIN_MQTT_PASSWORD", "wrong-Value")
    caplog.set_level(logging.DEBUG)
    wrong, _ = ingest({"port": broker.port, "username": "twin", "password": {"env": "TWIN_MQTT_PASSWORD"}},
                      [{"topic": "a", "output": "a"}])  # fmt: skip
    with pytest.raises(BrokerError) as info:
        wrong.open()
    assert str(info.value) == (f"the MQTT broker at 127.0.0.1:{broker.port} refused the connection: Not authorized "
                               "(user 'twin', password from $TWIN_MQTT_PASSWORD)")  # fmt: skip
    right, _ = ingest({"port": broker.port, "username": "twin", "password": {"file": str(tmp_path / "pw")}},
                         [{"topic": "a", "output": "a"}])  # fmt: skip
    right.open()
    right.close()
    assert all(secret not in r.getMessage() and "wrong-Value" not in r.getMessage() for r in caplog.records)
    monkeypatch.delenv("TWIN_MQTT_PASSWORD")
    unset, _ = ingest({"port": broker.port, "password": {"env": "TWIN_MQTT_PASSWORD"}}, [{"topic": "a", "output": "a"}])
    with pytest.raises(BrokerError, match="environment variable TWIN_MQTT_PASSWORD is not set"):
        unset.open()


def test_an_unreachable_broker_is_said_after_connect_timeout():
    port = free_port()
    client, _ = ingest({"port": port, "connect_timeout": 0.5}, [{"topic": "a", "output": "a"}])
    with pytest.raises(BrokerError, match=rf"cannot reach the MQTT broker at 127\.0\.0\.1:{port} within 0\.5 s"):
        client.open()


def test_validation_checks_the_bridge_parameters_at_their_lines(tmp_path):
    path = write_scenario(tmp_path, """
    time: {stop: 60}
    federates:
      sensors:
        type: mqtt-in
        params:
          broker: {host: 127.0.0.1, password: hunter2, tls: {ca: missing.pem}, colour: red}
          topics:
            - {topic: "a/#/b", output: x}
            - {topic: "gauges/level", outputs: {a: level_a}}
            - {topic: "s/+/v", output: v, source_unit: cm}
            - {topic: "t", output: malformed}
    """)
    with pytest.raises(ScenarioError) as info:
        load(path)
    text = str(info.value)
    for expected in (
        ":7: federates.sensors.params.broker.password: a password is never written in the scenario",
        ":7: federates.sensors.params.broker.tls.ca: no such file:",
        ":7: federates.sensors.params.broker.colour: unknown key",
        ":9: federates.sensors.params.topics[0].topic: expected an MQTT topic filter",
        ":10: federates.sensors.params.topics[1].outputs: 'outputs' maps a wildcard's part of the topic",
        ":11: federates.sensors.params.topics[2].source_unit: converts to the topic's 'unit': give that too",
        "federates.sensors.params.topics: output 'malformed' is the bridge's own",
    ):
        assert expected in text, f"{expected!r} not in\n{text}"
    assert "hunter2" not in text


def test_mqtt_in_refuses_to_run_unpaced(run_scenario):
    with pytest.raises(FederateError, match=r"federate 'sensors'.*mqtt-in needs a run tied to the wall clock: time: \{start: now, pace: F\}"):
        run_scenario("""
        time: {stop: 10}
        federates:
          sensors: {type: mqtt-in, params: {topics: [{topic: a, output: a}]}}
        """)
