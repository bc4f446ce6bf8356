"""`mqtt-out` end to end: a federation publishes to a real Mosquitto, a real subscriber reads it.

Only messages with a decision record leave through an endpoint that requires one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from federates.mqtt.outbound import MqttOut
from federation import Approval, Context, DecisionRecord, Message

pytestmark = pytest.mark.timeout(90)


class Subscriber:
    """A plain paho subscriber on ``topic``: what the real world would receive."""

    def __init__(self, port: int, topic: str) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.changed = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._message
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_connect = lambda client, *args: client.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "no SUBACK"

    def _message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self.changed:
            self.received.append((message.topic, json.loads(message.payload)))
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[tuple[str, dict[str, Any]]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber() -> Iterator[Any]:
    opened: list[Subscriber] = []

    def start(port: int, topic: str = "twin/#") -> Subscriber:
        opened.append(Subscriber(port, topic))
        return opened[-1]

    yield start
    for sub in opened:
        sub.close()


def test_a_federation_publishes_signals_and_only_decided_messages(mosquitto, subscriber, run_scenario):
    broker = mosquitto()
    sub = subscriber(broker.port)
    summary, store = run_scenario(f"""
    time: {{stop: 30, resolution: 1 s}}
    federates:
      level:
        type: formula
        period: 10 s
        params:
          outputs: {{h: {{expr: "1.5 + t / 100", unit: m}}}}
      out:
        type: mqtt-out
        params:
          broker: {{port: {broker.port}}}
          signals: {{level: {{topic: twin/level, unit: m}}}}
          messages:
            orders: twin/orders
            notes: {{topic: twin/notes, require_decision: false}}
    connections:
      - level.h -> out.level
    events:
      - {{at: 5, send: out.orders, payload: {{opening: 0.5}}}}
      - {{at: 7, send: out.notes, payload: {{text: hello}}}}
    """)
    assert summary.status == "completed"
    got = sub.wait_for(5)
    assert [topic for topic, _ in got] == ["twin/level", "twin/notes", "twin/level", "twin/level", "twin/level"]
    levels = [body for topic, body in got if topic == "twin/level"]
    assert [(b["sim_time"], b["value"]) for b in levels] == [(0.0, 1.5), (10.0, 1.6), (20.0, 1.7), (30.0, 1.8)]
    assert {b["signal"] for b in levels} == {"out.level"}
    note = got[1][1]
    assert note["value"] == {"text": "hello"} and note["sim_time"] == 7.0 and note["sender"] == "scenario"
    assert "decision" not in note
    assert len({b["run_id"] for _, b in got}) == 1 and all(b["wall_time"].endswith("Z") for _, b in got)
    assert store.series("out.refused").values == (0, 1)  # the undecided order: refused, counted
    assert store.series("out.published").values[-1] == 5


def test_a_decided_message_is_published_with_its_record(mosquitto, subscriber):
    """The shape the coordinator's decision records will take (Message.decision), published as they come."""
    broker = mosquitto()
    sub = subscriber(broker.port)
    out = MqttOut({"broker": {"port": broker.port}, "messages": {"orders": "twin/orders"}},
                  Context("bridge", 0, 0.0, 60.0, 1.0, None, run_id="run-42"))  # fmt: skip
    out.setup()
    record = DecisionRecord(3, Approval.EDIT, "operator", "2026-12-02T14:03:11.250Z", "damops.orders")
    out.inbox = [Message(60.0, "damops.orders", "orders", {"opening": 0.8}, record),
                 Message(60.0, "damops.orders", "orders", {"opening": 1.0})]  # fmt: skip
    out.step(60.0)
    out.finalize()
    topic, body = sub.wait_for(1)[0]
    assert topic == "twin/orders" and body["run_id"] == "run-42" and body["value"] == {"opening": 0.8}
    assert body["decision"] == {"id": 3, "verdict": "edit", "decided_by": "operator",
                                "decided_at": "2026-12-02T14:03:11.250Z", "class": "damops.orders"}  # fmt: skip
    assert out.outputs["published"] == 1 and out.outputs["refused"] == 1
