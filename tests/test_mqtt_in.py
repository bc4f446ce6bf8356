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
    client = Ingest(spec, feed, spec.broker.client_id or f"test-in-{free_port()}", lambda posix: posix - EPOCH)
    return client, feed


class Sensor:
    """A plain paho client publishing as a field device would; ``flush`` waits for the broker's PUBACKs."""

    def __init__(self, port: int, client_id: str = "") -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not client_id)
        self.client.reconnect_delay_set(1, 1)
        self.client.max_queued_messages_set(0)
        self.acked = threading.Condition()
        self.pending: set[int] = set()
        self.early: set[int] = set()  # acknowledged before publish() returned
        self.client.on_publish = self._acked
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, topic: str, payload: Any) -> None:
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        mid = self.client.publish(topic, data, qos=1).mid  # not under our lock: paho calls on_publish holding
        with self.acked:  # its own lock, which publish() takes too
            if mid in self.early:
                self.early.discard(mid)
            else:
                self.pending.add(mid)

    def flush(self, timeout: float = 20.0) -> None:
        with self.acked:
            assert self.acked.wait_for(lambda: not self.pending, timeout), f"not acknowledged: {sorted(self.pending)}"

    def _acked(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self.acked:
            if mid in self.pending:
                self.pending.discard(mid)
            else:
                self.early.add(mid)
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


# ---------------------------------------------------------------- the buffered client (federates/mqtt/link.py)
BURST = 3000


def test_the_paho_hooks_the_buffered_client_relies_on_are_those_of_the_pinned_version():
    """BufferedClient overrides paho internals: a paho upgrade must be checked against each of them, here."""
    import inspect
    import struct

    import paho.mqtt

    from federates.mqtt.link import PAHO_TESTED, BufferedClient

    assert paho.mqtt.__version__ in PAHO_TESTED, (
        f"paho-mqtt {paho.mqtt.__version__} is not a version BufferedClient was checked against {PAHO_TESTED}: "
        "check the hooks below in its client.py, then add the version to PAHO_TESTED")  # fmt: skip
    source = {name: inspect.getsource(getattr(mqtt.Client, name)) for name in
              ("reconnect", "_loop", "loop_read", "_packet_read", "_handle_publish", "_send_puback",
               "_send_command_with_mid", "_packet_queue", "_handle_on_message", "disconnect")}  # fmt: skip
    assert "self._sock = self._create_socket()" in source["reconnect"]  # every connection's socket is wrapped
    assert "self._sock.pending()" in source["_loop"] and "if pending_bytes > 0:" in source["_loop"]
    assert "self._packet_read()" in source["loop_read"] and "self._sock_recv(1)" in source["_packet_read"]
    publish = source["_handle_publish"]  # a QoS 1 message: on_message first, then its PUBACK
    assert publish.index("self._handle_on_message(message)") < publish.index("self._send_puback(message.mid)")
    assert "self._send_command_with_mid(PUBACK, mid, False)" in source["_send_puback"]
    assert "struct.pack('!BBH', command, remaining_length, mid)" in source["_send_command_with_mid"]
    assert list(inspect.signature(mqtt.Client._packet_queue).parameters) == ["self", "command", "packet", "mid",
                                                                            "qos", "info"]  # fmt: skip
    assert "on_message(self, self._userdata, message)" in source["_handle_on_message"]
    client = BufferedClient(mqtt.CallbackAPIVersion.VERSION2, client_id="hooks")
    assert hasattr(client, "_in_callback_mutex") and client._sock is None
    queued: list[bytes] = []
    client._packet_queue = lambda command, packet, mid, qos, info=None: queued.append(bytes(packet))  # type: ignore[method-assign]
    mqtt.Client._send_puback(client, 513)  # paho's own PUBACK ...
    assert queued == [struct.pack("!BBH", mqtt.PUBACK, 2, 513)]
    client._acks = bytearray()
    client._send_puback(513)  # ... is the batched one
    assert bytes(client._acks) == queued[0] and len(queued) == 1


def test_the_buffered_socket_serves_small_reads_from_one_recv_and_says_what_it_holds():
    import socket

    from federates.mqtt.link import BufferedSocket

    left, right = socket.socketpair()
    with left, right:
        right.setblocking(False)
        sock = BufferedSocket(right)
        with pytest.raises(BlockingIOError):
            sock.recv(1)  # nothing there: paho's "again"
        left.sendall(b"\x30\x05abcde" * 3)
        assert sock.recv(1) == b"\x30" and sock.pending() == 20  # the whole 21 bytes read at once
        assert sock.recv(1) == b"\x05" and sock.recv(5) == b"abcde" and sock.pending() == 14
        assert sock.recv(100) == b"\x30\x05abcde\x30\x05abcde" and sock.pending() == 0  # no more than it holds
        assert sock.fileno() == right.fileno() and sock.getblocking() is False  # the rest is the socket's
        left.close()
        assert sock.recv(1) == b""  # the peer closed


def _burst_payloads(start: int, count: int) -> list[dict[str, Any]]:
    return [{"v": i, "ts": EPOCH + i * 0.001} for i in range(start, start + count)]


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_burst_of_qos1_messages_arrives_whole_live_and_from_the_backlog(tmp_path, mosquitto, publisher, tls):
    """Thousands of QoS 1 messages, while connected and while away: each once, with its stamp; all acknowledged."""
    import ssl

    from federates.mqtt.link import BufferedSocket
    extra, port, broker_params = "", None, {}
    if tls:
        pki = make_pki(tmp_path / "pki")
        port, extra = tls_listener(pki)
        broker_params = {"tls": {"ca": str(pki.ca)}}
    broker = mosquitto(extra=extra)
    params = {"port": port or broker.port, "client_id": f"burst-{tls}", **broker_params}
    client, feed = ingest(params, [{"topic": "burst/+", "outputs": {"a": "a"}, "value": "v", "time": "ts"}],
                          qos=1, session="persistent")  # fmt: skip
    pub = publisher(broker.port, client_id="burst-device")
    client.open()
    try:
        sock = client.link._client.socket()  # the buffered path, over TLS too
        assert isinstance(sock, BufferedSocket) and isinstance(sock.sock, ssl.SSLSocket) is tls
        for payload in _burst_payloads(0, BURST):  # live: the client reads while the device publishes
            pub.send("burst/a", payload)
        pub.flush()
        live = feed.wait_for("a", BURST, timeout=40)
    finally:
        client.close()
    for payload in _burst_payloads(BURST, BURST):  # away: the broker keeps them for the persistent session
        pub.send("burst/a", payload)
    pub.flush()
    client, feed = ingest(params, [{"topic": "burst/+", "outputs": {"a": "a"}, "value": "v", "time": "ts"}],
                          qos=1, session="persistent")  # fmt: skip
    client.open()
    try:
        backlog = feed.wait_for("a", BURST, timeout=40)
    finally:
        client.close()
    for samples, start in ((live, 0), (backlog, BURST)):
        assert [s.value for s in samples] == [float(i) for i in range(start, start + BURST)]  # each once, in order
        assert all(s.stamp == pytest.approx(s.value * 0.001, abs=1e-5) and s.arrival > EPOCH for s in samples)
    client, feed = ingest(params, [{"topic": "burst/+", "outputs": {"a": "a"}, "value": "v", "time": "ts"}],
                          qos=1, session="persistent")  # fmt: skip
    client.open()
    try:  # every message was acknowledged: the broker sends none again before the next one
        send(pub, "burst/a", {"v": -1, "ts": EPOCH})
        assert [s.value for s in feed.wait_for("a", 1)] == [-1.0]
        assert [s for s in feed.taken + feed.due(float("inf")) if s.output == "a"] == []
    finally:
        client.close()


def test_a_burst_of_qos1_messages_reaches_the_store_each_with_both_stamps(mosquitto, tmp_path):
    """Through a paced run: every sample in external_samples once, late ones at the first open tick, lateness recorded."""
    import sqlite3

    from federation.engine.coordinator import Coordinator, RunOptions
    from tests.test_live_replay import _epoch

    broker = mosquitto()
    scenario = load(write_scenario(tmp_path, f"""
    name: burst
    time: {{start: now, pace: 5, stop: 40, resolution: 0.001}}
    federates:
      field:
        type: mqtt-in
        params:
          broker: {{port: {broker.port}, client_id: burst-field}}
          session: persistent
          topics: [{{topic: s/x, output: x, value: v, time: ts}}]
      twin: {{type: formula, period: 1, params: {{inputs: {{x: {{}}}}, outputs: {{y: {{expr: "x + 1"}}}}}}}}
    connections:
      - field.x -> twin.x
    """))
    store = tmp_path / "burst.sqlite"
    coordinator = Coordinator(scenario, RunOptions(out=store))
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.setdefault("summary", coordinator.run()), daemon=True)
    thread.start()
    sensor = None
    try:
        epoch = _epoch(store)
        sensor = Sensor(broker.port, client_id="burst-device")
        for i in range(BURST):  # even: stamped before the run began (late); odd: 30 s ahead (in time)
            sensor.send("s/x", {"v": i, "ts": epoch - 10.0 if i % 2 == 0 else epoch + 30.0 + i * 0.001})
        sensor.flush(40)
    finally:
        if sensor is not None:
            sensor.close()
        thread.join(40)
    assert result["summary"].status == "completed"
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT time, stamp, arrival, lateness, value FROM external_samples WHERE output='x' "
                          "ORDER BY value").fetchall()  # fmt: skip
    assert [int(r[4]) for r in rows] == list(range(BURST))  # none lost, none twice
    for time_, stamp, arrival, lateness, value in rows:
        assert epoch < arrival < epoch + 40.0 / 5
        if value % 2 == 0:  # late: at the first open tick after its arrival, never in the past
            assert stamp == pytest.approx(-10.0) and time_ >= 0 and lateness == pytest.approx(time_ - stamp)
        else:  # in time: at its own stamp (rounded up to the 1 ms resolution: epoch + 30.x - epoch is not exact)
            assert stamp == pytest.approx(30.0 + value * 0.001, abs=1e-6) and -1e-6 < time_ - stamp < 0.001 + 1e-6
            assert lateness == pytest.approx(time_ - stamp, abs=1e-9)


def test_an_untested_paho_version_gets_paho_s_own_client(monkeypatch, caplog):
    """BufferedClient relies on paho's internals: on a version it was not checked against, paho's own client is used."""
    import paho.mqtt.client as mqtt

    from federates.mqtt import link
    from federates.mqtt.broker import BrokerSpec

    assert type(link.Link(BrokerSpec(), "t1")._client) is link.BufferedClient
    monkeypatch.setattr(link, "_paho_version", lambda: "9.9.9")
    with caplog.at_level("WARNING"):
        client = link.Link(BrokerSpec(), "t2")._client
    assert type(client) is mqtt.Client
    assert "paho-mqtt 9.9.9 is not a version the buffered client was checked against" in caplog.text
