"""``mqtt-out``: publishes signals and messages of the federation to an MQTT broker.

::

    bridge:
      type: mqtt-out
      params:
        broker: {host: 127.0.0.1, port: 1883}
        qos: 1
        signals:                       # inputs of the bridge: connect outputs to them
          level: {topic: twin/reservoir/level, unit: m}
        messages:                      # endpoints of the bridge: route messages to them
          gate_orders: {topic: riverton/dam/gate/orders}           # require_decision: true (default)
          alarms: {topic: twin/alarms, require_decision: false}

Every publication is JSON: ``{"value", "sim_time", "wall_time", "run_id"}`` plus ``signal``
for a signal, and ``sender`` and ``decision`` (id, verdict, decided_by, decided_at, class)
for a message.  A signal is published when its value changes.  A message endpoint with
``require_decision: true`` publishes only messages that passed a decision gate
(``Message.decision``): any other message is refused, counted (``refused``) and warned
about -- so only confirmed orders reach the real world.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from federation import Declaration, Endpoint, Federate, Input, Message, Output, Parameter, ParameterCheck

from ..timestamps import format_iso
from .broker import BrokerSpec, parse_broker
from .ingest import RateLimit
from .link import Link, Session
from .topics import valid_filter

__all__ = ["MqttOut", "OutboundSpec", "outbound_spec"]

log = logging.getLogger(__name__)

PUBLISHED, REFUSED = "published", "refused"
_SIGNAL_KEYS = ("topic", "unit", "type")
_MESSAGE_KEYS = ("topic", "require_decision")
_TYPES = ("float", "int", "bool", "str", "array", "any")


@dataclass(frozen=True)
class SignalRoute:
    input: str
    topic: str
    unit: str | None = None
    type: str = "float"


@dataclass(frozen=True)
class MessageRoute:
    endpoint: str
    topic: str
    require_decision: bool = True


@dataclass(frozen=True)
class OutboundSpec:
    broker: BrokerSpec
    signals: tuple[SignalRoute, ...]
    messages: tuple[MessageRoute, ...]
    qos: int = 1
    retain: bool = False
    flush_timeout: float = 10.0


def outbound_spec(params: Mapping[str, Any], check: ParameterCheck) -> OutboundSpec:
    base = params.get("_base_dir")
    broker = parse_broker(params.get("broker"), check, Path(str(base)) if base else None)
    signals = tuple(_signal(str(n), s, check) for n, s in _mapping(params.get("signals"), "signals", check).items())
    messages = tuple(_message(str(n), s, check) for n, s in _mapping(params.get("messages"), "messages", check).items())
    if not signals and not messages and check.ok("signals", "messages"):
        check.fail("signals", "give 'signals' or 'messages' to publish")
    clash = {s.input for s in signals} & {PUBLISHED, REFUSED}
    for name in sorted(clash):
        check.fail(("signals", name), "this name is the bridge's own output (published, refused): rename it")
    return OutboundSpec(broker, signals, messages, int(params.get("qos", 1)), bool(params.get("retain", False)),
                        float(params.get("flush_timeout", 10.0)))  # fmt: skip


def _mapping(value: Any, key: str, check: ParameterCheck) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        check.fail(key, f"expected a mapping of name -> {{topic, ...}}, got {value!r}")
        return {}
    return value


def _settings(name: str, spec: Any, key: str, allowed: tuple[str, ...], check: ParameterCheck) -> dict[str, Any]:
    where = (key, name)
    spec = {"topic": spec} if isinstance(spec, str) else spec
    if not isinstance(spec, dict):
        check.fail(where, f"expected {{{', '.join(allowed)}}} or the topic alone, got {spec!r}")
        return {"topic": name}
    settings: dict[str, Any] = spec
    for item in settings:
        if item not in allowed:
            check.fail((*where, item), f"unknown key (expected {', '.join(allowed)})")
    topic = settings.get("topic")
    if not isinstance(topic, str) or not valid_filter(topic) or "+" in topic or "#" in topic:
        check.fail((*where, "topic"), f"expected a topic to publish to (no wildcards), got {topic!r}")
        settings = {**settings, "topic": name}
    return settings


def _signal(name: str, spec: Any, check: ParameterCheck) -> SignalRoute:
    settings = _settings(name, spec, "signals", _SIGNAL_KEYS, check)
    kind = settings.get("type", "float")
    if kind not in _TYPES:
        check.fail(("signals", name, "type"), f"must be {', '.join(_TYPES)}, got {kind!r}")
        kind = "float"
    unit = settings.get("unit")
    return SignalRoute(name, settings["topic"], unit if isinstance(unit, str) and unit else None, kind)


def _message(name: str, spec: Any, check: ParameterCheck) -> MessageRoute:
    settings = _settings(name, spec, "messages", _MESSAGE_KEYS, check)
    required = settings.get("require_decision", True)
    if not isinstance(required, bool):
        check.fail(("messages", name, "require_decision"), f"expected true or false, got {required!r}")
        required = True
    return MessageRoute(name, settings["topic"], required)


class MqttOut(Federate):
    """Publishes its inputs (on change) and the messages routed to its endpoints, as JSON."""

    default_period: ClassVar[float | None] = None
    #: The runtime passes the scenario's folder as ``_base_dir``: relative TLS and secret files start there.
    resolves_paths: ClassVar[bool] = True

    broker: Parameter[dict[str, Any]] = Parameter({}, type=dict, doc="{host, port, tls, username, password, client_id, keepalive, ...}")
    signals: Parameter[dict[str, Any]] = Parameter({}, type=dict, doc="input name -> {topic, unit, type} (or the topic alone)")
    messages: Parameter[dict[str, Any]] = Parameter({}, type=dict, doc="endpoint name -> {topic, require_decision: true} (or the topic alone)")
    qos: Parameter[int] = Parameter(1, type=int, choices=(0, 1, 2), doc="MQTT quality of service of the publications")
    retain: Parameter[bool] = Parameter(False, doc="ask the broker to keep the last publication of each topic for new subscribers")
    flush_timeout: Parameter[float] = Parameter(10.0, unit="s", doc="at the end of the run, wait this long for the broker's acknowledgements")

    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        base = super().declare(params)
        check = ParameterCheck()
        spec = outbound_spec(params, check)
        check.done()
        return replace(
            base,
            inputs=tuple(Input(name=s.input, unit=s.unit, type=s.type, default=None, doc=f"published to {s.topic}")
                         for s in spec.signals),
            endpoints=tuple(Endpoint(name=m.endpoint, doc=f"published to {m.topic}") for m in spec.messages),
            outputs=(Output(name=PUBLISHED, type=int, default=0, doc="publications so far"),
                     Output(name=REFUSED, type=int, default=0, doc="messages refused for want of a decision record")),
        )  # fmt: skip

    def setup(self) -> None:
        check = ParameterCheck()
        self.spec = outbound_spec(self.params, check)
        check.done()
        self.run_id = self.context.run_id or uuid.uuid4().hex[:12]
        self._routes = {m.endpoint: m for m in self.spec.messages}
        self._last: dict[str, Any] = {}
        self._warnings = RateLimit(log)
        self.link: Link | None = None
        if self.context.replay:  # a replay of a live run: the orders went out when it ran
            log.info("replay of a live run: nothing is published (the counts are kept as if it were)")
            return
        client_id = self.spec.broker.client_id or f"federation-{self.name}-{self.run_id}"
        self.link = Link(self.spec.broker, client_id, session=Session.CLEAN)
        self.link.open()
        log.info("publishing as run %s", self.run_id)

    def step(self, t: float) -> None:
        wall = format_iso(time.time())
        for route in self.spec.signals:
            value = self.inputs[route.input]
            if route.input not in self._last or self._last[route.input] != value:
                self._last[route.input] = value
                self._publish(route.topic, {"value": value, "sim_time": t, "wall_time": wall, "run_id": self.run_id,
                                            "signal": f"{self.name}.{route.input}"})  # fmt: skip
        for message in self.inbox:
            self._deliver(message, wall)

    def _deliver(self, message: Message, wall: str) -> None:
        route = self._routes[message.endpoint]
        if route.require_decision and message.decision is None:
            self.outputs[REFUSED] += 1
            self._warnings.warn(route.endpoint, f"refused to publish a message from {message.sender} on "
                                                f"'{route.endpoint}' to {route.topic}: it carries no decision record "
                                                f"(require_decision); {self.outputs[REFUSED]} refused so far")  # fmt: skip
            return
        body = {"value": message.payload, "sim_time": message.time, "wall_time": wall, "run_id": self.run_id,
                "sender": message.sender}  # fmt: skip
        if message.decision is not None:
            body["decision"] = message.decision.to_json()
        self._publish(route.topic, body)

    def _publish(self, topic: str, body: Mapping[str, Any]) -> None:
        if self.link is not None:
            self.link.publish(topic, json.dumps(body, default=str), self.spec.qos, retain=self.spec.retain)
        self.outputs[PUBLISHED] += 1

    def finalize(self) -> None:
        link = getattr(self, "link", None)
        if link is None:
            return
        left = link.flush(self.spec.flush_timeout)
        if left:
            log.warning("%d publications not acknowledged by the broker at %s within %g s", left, link.spec.where,
                        self.spec.flush_timeout)  # fmt: skip
        link.close()
