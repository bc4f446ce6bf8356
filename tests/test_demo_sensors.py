"""`federation demo-sensors`, the live demo's real world, through the command line and a real broker."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from federates.demo.world import World
from federates.mqtt.localbroker import BrokerProgram, LocalBroker, answers, free_port
from federates.timestamps import parse_iso

pytestmark = pytest.mark.timeout(120)


def collect(port: int) -> tuple[mqtt.Client, list[tuple[str, dict[str, Any]]]]:
    received: list[tuple[str, dict[str, Any]]] = []
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: received.append((m.topic, json.loads(m.payload)))
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect("127.0.0.1", port)
    client.subscribe("riverton/#", qos=1)
    client.loop_start()
    assert subscribed.wait(10)
    return client, received


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.app.cli", "demo-sensors", *args], capture_output=True,
                          text=True, timeout=90)  # fmt: skip


def test_the_demo_publishes_noisy_late_readings_with_a_dropout_and_obeys_gate_orders(mosquitto):
    broker = mosquitto()
    order = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)  # a decided order waiting on the broker (retained)
    order.connect("127.0.0.1", broker.port)
    order.loop_start()
    order.publish("riverton/dam/gate/orders", json.dumps({"value": {"opening": 0.75}, "decision": {
        "id": 1, "verdict": "approve", "decided_by": "operator", "decided_at": "2026-12-02T14:00:00.000Z"}}),
        qos=1, retain=True).wait_for_publish(10)  # fmt: skip
    order.disconnect()
    order.loop_stop()
    client, received = collect(broker.port)
    try:
        result = demo("--broker", f"127.0.0.1:{broker.port}", "--pace", "720000", "--until", "25 h",
                      "--interval", "30 min", "--seed", "4")  # fmt: skip
    finally:
        client.disconnect()
        client.loop_stop()
    assert result.returncode == 0, result.stderr
    assert "gate order: open to 0.75 (approve by operator at 2026-12-02T14:00:00.000Z, decision 1)" in result.stdout
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for topic, body in received:
        if topic != "riverton/dam/gate/orders":  # the order itself, retained
            by_topic.setdefault(topic, []).append(body)
    for topic in ("riverton/reservoir/level", "riverton/river/bridge/stage", "riverton/river/city/stage"):
        assert len(by_topic[topic]) == 51, topic  # 0, 30 min, ..., 25 h
    times = {topic: [parse_iso(b["ts"]) for b in bodies] for topic, bodies in by_topic.items()}
    assert any(t != sorted(t) for t in times.values()), "no reading arrived late"
    epoch = min(min(t) for t in times.values())
    rain_hours = sorted((t - epoch) / 3600 for t in times["riverton/rain/gauge1"])
    assert not any(20 <= h < 24 for h in rain_hours) and len(rain_hours) == 51 - 8  # the gauge's dropout
    gate = [b["opening"] for b in sorted(by_topic["riverton/dam/gate"], key=lambda b: b["ts"])]
    moved = gate.index(0.75)  # the order arrives as the process subscribes: the gate moves over the next step
    assert set(gate[:moved]) == {0.0} and set(gate[moved:]) == {0.75} and moved <= 3
    assert max(by_topic["riverton/dam/gate"], key=lambda b: b["ts"])["release_m3s"] > 50.0
    world = World()  # the same world without noise, its gate at 0.75 too: the readings scatter around it
    world.order(0.75)
    levels = sorted((parse_iso(b["ts"]) - epoch, b["level_m"]) for b in by_topic["riverton/reservoir/level"])
    truth = [world.advance(t).reservoir_level_m for t, _ in levels]
    errors = [abs(level - real) for (_, level), real in zip(levels, truth)]
    assert 0 < max(errors) < 0.12


def test_without_a_broker_the_demo_starts_one(mosquitto):
    port = free_port()
    result = demo("--pace", "360000", "--until", "1 h", "--port", str(port), "--linger", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"federation: started mosquitto at 127.0.0.1:{port}")
    assert "done: " in result.stdout


def test_the_pure_python_broker_answers_a_connect(tmp_path):
    pytest.importorskip("amqtt", reason="amqtt is the broker of the 'live' extra (and the test extra)")
    with LocalBroker(tmp_path, program=BrokerProgram.AMQTT) as broker:
        assert answers(broker.host, broker.port)
    assert not answers(broker.host, broker.port)


def test_the_demo_uses_the_broker_already_on_its_port(mosquitto):
    broker = mosquitto()
    result = demo("--pace", "360000", "--until", "1 h", "--port", str(broker.port))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"federation: using the broker already at 127.0.0.1:{broker.port}")
