"""The demo's field instruments: the real world's readings published over MQTT, gate orders obeyed.

Paced to the wall clock by ``pace`` (600: ten simulated minutes per wall second), every
``interval`` of simulated time the process reads its :class:`~federates.demo.world.World`
and publishes, as JSON with an ISO-8601 timestamp ``ts`` (the epoch plus simulated time):

* ``PREFIX/reservoir/level`` ``{"level_m"}``, ``PREFIX/river/GAUGE/stage`` ``{"stage_m"}``,
  ``PREFIX/rain/gauge1`` ``{"rain_mm_h"}`` -- with instrument noise; a fraction of the
  readings arrive late (held back ``late_wall_s`` wall seconds, their ``ts`` unchanged), and
  the rain gauge drops out for a while (``dropout``);
* ``PREFIX/dam/gate`` ``{"opening", "release_m3s"}`` -- the dam's own telemetry.

It subscribes to ``PREFIX/dam/gate/orders`` and obeys each order (``{"value": {"opening"}}``
as ``mqtt-out`` publishes it, with its decision record, or a bare ``{"opening"}``): the gate
moves over the next interval and the reservoir's release follows.
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt

from ..mqtt.broker import BrokerSpec
from ..mqtt.link import Link, Session
from ..timestamps import format_iso
from .world import Readings, World

__all__ = ["DemoSettings", "SensorProcess"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSettings:
    pace: float = 600.0  # simulated seconds per wall second
    until: float = 72 * 3600.0  # simulated seconds
    interval: float = 300.0  # simulated seconds between readings
    seed: int = 1
    prefix: str = "riverton"
    epoch: float = 0.0  # POSIX seconds of simulated time 0 (0: the wall clock when the process starts)
    late_fraction: float = 0.1  # readings that arrive late
    late_wall_s: float = 2.0  # how late, in wall seconds
    dropout: tuple[float, float] = (20 * 3600.0, 24 * 3600.0)  # the rain gauge is silent (simulated seconds)
    noise: tuple[float, float, float] = (0.02, 0.03, 0.3)  # standard deviation: level m, stage m, rain mm/h


class SensorProcess:
    """Reads the world at its pace and publishes; ``say`` prints progress for the person watching."""

    def __init__(self, settings: DemoSettings, broker: BrokerSpec, say: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.world = World()
        self.say = say
        self.epoch = settings.epoch or time.time()
        self.orders_topic = f"{settings.prefix}/dam/gate/orders"
        self.rng = np.random.default_rng(settings.seed)
        self._lock = threading.Lock()  # the world: the orders arrive in paho's thread
        self._late: list[tuple[float, int, str, str]] = []  # (wall due, order, topic, payload)
        self._count = 0
        self.published = 0
        self.link = Link(broker, broker.client_id or f"federation-demo-sensors-{int(self.epoch)}",
                         session=Session.CLEAN, subscriptions=[(self.orders_topic, 1)], on_message=self._order)  # fmt: skip

    def run(self, stop: threading.Event | None = None) -> None:
        """Publish until ``until`` (or ``stop``); leaves the broker connection closed."""
        stop = stop or threading.Event()
        s = self.settings
        self.link.open()
        start = time.monotonic()
        if s.epoch:  # an epoch shared with the twin (--start): simulated time t is due at epoch + t / pace
            start -= time.time() - s.epoch
        try:
            steps = int(s.until // s.interval)
            for k in range(steps + 1):
                t = k * s.interval
                if self._wait(start + t / s.pace, stop):
                    break
                with self._lock:
                    readings = self.world.advance(t)
                self._publish(readings)
                if t % 3600.0 == 0.0:
                    self.say(_status(readings))
            self._wait(time.monotonic() + (s.late_wall_s if self._late else 0.0), stop)
        finally:
            self.link.flush(5.0)
            self.link.close()

    def _wait(self, due: float, stop: threading.Event) -> bool:
        """Until the wall instant ``due``, sending late readings as their time comes; True when stopped."""
        while True:
            now = time.monotonic()
            while self._late and self._late[0][0] <= now:
                _, _, topic, payload = heapq.heappop(self._late)
                self._send(topic, payload)
            if now >= due:
                return stop.is_set()
            until = min(due, self._late[0][0]) if self._late else due
            if stop.wait(until - now):
                return True

    def _publish(self, r: Readings) -> None:
        s = self.settings
        ts = format_iso(self.epoch + r.t)
        level_sd, stage_sd, rain_sd = s.noise
        self._reading(f"{s.prefix}/reservoir/level", {"level_m": r.reservoir_level_m + self._noise(level_sd), "ts": ts})
        for gauge, stage in r.stages_m.items():
            self._reading(f"{s.prefix}/river/{gauge}/stage", {"stage_m": stage + self._noise(stage_sd), "ts": ts})
        if not s.dropout[0] <= r.t < s.dropout[1]:
            rain = max(0.0, r.rain_mm_h + self._noise(rain_sd))
            self._reading(f"{s.prefix}/rain/gauge1", {"rain_mm_h": rain, "ts": ts})
        self._send(f"{s.prefix}/dam/gate", json.dumps({"opening": r.gate, "release_m3s": round(r.release_m3s, 3), "ts": ts}))

    def _reading(self, topic: str, body: dict[str, Any]) -> None:
        payload = json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in body.items()})
        if self.rng.random() < self.settings.late_fraction:
            self._count += 1
            heapq.heappush(self._late, (time.monotonic() + self.settings.late_wall_s, self._count, topic, payload))
        else:
            self._send(topic, payload)

    def _send(self, topic: str, payload: str) -> None:
        self.link.publish(topic, payload, 1)
        self.published += 1

    def _noise(self, sd: float) -> float:
        return float(self.rng.normal(0.0, sd)) if sd > 0 else 0.0

    def _order(self, message: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(message.payload)
            order = body.get("value", body)
            opening = float(order["opening"])
            with self._lock:
                self.world.order(opening)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("ignored a gate order on %s: %s (%.80r)", message.topic, exc, message.payload)
            return
        decision = body.get("decision") or {}
        who = f" ({decision.get('verdict')} by {decision.get('decided_by')} at {decision.get('decided_at')}, " \
              f"decision {decision.get('id')})" if decision else ""  # fmt: skip
        self.say(f"gate order: open to {opening:.2f}{who}")


def _status(r: Readings) -> str:
    stages = ", ".join(f"{g} {v:.2f} m" for g, v in r.stages_m.items())
    return (f"t={r.t / 3600:5.1f} h  rain {r.rain_mm_h:5.1f} mm/h  reservoir {r.reservoir_level_m:7.3f} m  "
            f"gate {r.gate:.2f}  release {r.release_m3s:7.1f} m3/s  stage {stages}")  # fmt: skip
