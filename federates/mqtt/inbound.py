"""``mqtt-in``: a live source that brings values from an MQTT broker into the federation.

The client runs in its own thread (paho's) and pushes every sample into ``self.feed``;
``step(t)`` publishes, per output, the latest sample stamped at or before ``t``.  When
samples are applied -- at their own stamp, or at the first open tick when they arrive
late -- is the coordinator's time rule for live sources (docs/live.md): it needs a run
paced to the wall clock, whose epoch (``Context.epoch``) maps timestamps to simulated time;
without one ``mqtt-in`` refuses to start, rather than run without its data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from federation import (
    REQUIRED,
    Declaration,
    Federate,
    FederationError,
    LiveFeed,
    Output,
    Parameter,
    ParameterCheck,
)

from .broker import parse_broker
from .ingest import CONNECTED, GAP, MALFORMED, InboundSpec, Ingest
from .link import Session
from .topics import parse_topics

__all__ = ["MqttIn", "inbound_spec"]


def inbound_spec(params: Mapping[str, Any], check: ParameterCheck) -> InboundSpec:
    base = params.get("_base_dir")
    broker = parse_broker(params.get("broker"), check, Path(str(base)) if base else None)
    topics = parse_topics(params.get("topics"), check)
    names = {n for t in topics for n in t.names()}
    for reserved in sorted(names & {CONNECTED, MALFORMED, GAP}):
        check.fail("topics", f"output '{reserved}' is the bridge's own (connected, malformed, gap_s): rename it")
    return InboundSpec(broker, topics, int(params.get("qos", 1)), Session(params.get("session", "persistent")))


class MqttIn(Federate):
    """Subscribes to MQTT topics; each topic (or wildcard part) feeds an output."""

    live: ClassVar[bool] = True
    default_period: ClassVar[float | None] = None
    #: The runtime passes the scenario's folder as ``_base_dir``: relative TLS and secret files start there.
    resolves_paths: ClassVar[bool] = True

    broker: Parameter[dict[str, Any]] = Parameter({}, type=dict, doc="{host, port, tls, username, password, client_id, keepalive, ...}")
    topics: Parameter[list[Any]] = Parameter(REQUIRED, type=list, doc="[{topic, output | outputs, value, time, unit, source_unit, type}]")
    qos: Parameter[int] = Parameter(1, type=int, choices=(0, 1, 2), doc="MQTT quality of service of the subscriptions")
    session: Parameter[str] = Parameter("persistent", choices=("persistent", "clean"),
                        doc="persistent: the broker keeps the subscriptions and QoS 1 messages across outages")  # fmt: skip

    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        base = super().declare(params)
        if not isinstance(params.get("topics"), list):
            return base  # missing or of the wrong type: the validator says so
        check = ParameterCheck()
        spec = inbound_spec(params, check)
        check.done()
        outputs = [Output(name=name, unit=t.unit, type=t.type, default=_zero(t.type), doc=f"from {t.filter}")
                   for t in spec.topics for name in t.names()]  # fmt: skip
        outputs += [Output(name=CONNECTED, type=bool, default=False, doc="the broker is connected"),
                    Output(name=MALFORMED, type=int, default=0, doc="payloads dropped as malformed, so far"),
                    Output(name=GAP, unit="s", doc="length of the last outage of the broker, when it ended")]  # fmt: skip
        return replace(base, outputs=tuple(outputs), extra={**base.extra, "restartable": False})

    def setup(self) -> None:
        epoch = self.context.epoch
        if epoch is None:
            raise FederationError("mqtt-in needs a run tied to the wall clock: time: {start: now, pace: F} in the "
                                  "scenario (the epoch maps its samples' timestamps to simulated time)")  # fmt: skip
        check = ParameterCheck()
        spec = inbound_spec(self.params, check)
        check.done()
        self.feed = LiveFeed()
        client_id = spec.broker.client_id or f"federation-{self.name}"
        pace = self.context.pace or 1.0  # a wall-clock instant is (instant - epoch) * pace simulated seconds
        self.ingest = Ingest(spec, self.feed, client_id, lambda posix: posix - epoch,
                             lambda wall: (wall - epoch) * pace)  # fmt: skip
        self.ingest.open()

    def step(self, t: float) -> float | None:
        assert self.feed is not None
        for sample in self.feed.due(t):
            self.outputs[sample.output] = sample.value
        return self.feed.earliest()  # a sample stamped ahead waits for its time

    def finalize(self) -> None:
        ingest = getattr(self, "ingest", None)
        if ingest is not None:
            ingest.close()


def _zero(kind: str) -> Any:
    return {"float": 0.0, "int": 0, "bool": False, "str": ""}[kind]
