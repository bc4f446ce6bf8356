"""The client side of ``mqtt-in``: MQTT messages in, external samples into a :class:`~federation.LiveFeed`.

Runs in paho's network thread.  Each message on a subscribed topic becomes an
:class:`~federation.ExternalSample` of the output its topic feeds, stamped with the
payload's timestamp (or its arrival) in simulated seconds.  A payload that does not fit
is dropped and counted (the ``malformed`` output), with a warning at most every
``WARN_INTERVAL`` seconds per topic that says how many were dropped meanwhile.  The link's
state is a sample too (``connected``), and every outage is reported when it ends
(``gap_s``, its length in wall seconds), so the store records and shows the gap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from federation import ExternalSample, LiveFeed

from .broker import BrokerSpec
from .link import Link, Outage, Session
from .topics import MalformedPayload, TopicSpec

__all__ = ["CONNECTED", "GAP", "MALFORMED", "InboundSpec", "Ingest", "RateLimit"]

log = logging.getLogger(__name__)

CONNECTED, MALFORMED, GAP = "connected", "malformed", "gap_s"  # the diagnostic outputs of mqtt-in
WARN_INTERVAL = 10.0
ROUTES = 10_000  # topics whose output is remembered (beyond that, matched message by message)


@dataclass(frozen=True)
class InboundSpec:
    broker: BrokerSpec
    topics: tuple[TopicSpec, ...]
    qos: int = 1
    session: Session = Session.PERSISTENT


class RateLimit:
    """At most one warning per ``interval`` seconds per key; the next one tells how many were held back."""

    def __init__(self, logger: logging.Logger, interval: float = WARN_INTERVAL) -> None:
        self.logger, self.interval = logger, interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warn(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -self.interval) < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return
        self._last[key] = now
        held = self._held.pop(key, 0)
        self.logger.warning("%s%s", message, f" ({held} more since the last warning)" if held else "")


class Ingest:
    """Subscribes to the topics and pushes every value into ``feed``.

    ``to_sim`` maps a payload's timestamp (POSIX seconds of the world it measures) to simulated
    seconds; ``arrival_to_sim`` maps a wall-clock instant -- an arrival, the link's state --
    (by default the same: a run paced at 1x).
    """

    def __init__(self, spec: InboundSpec, feed: LiveFeed, client_id: str, to_sim: Callable[[float], float],
                 arrival_to_sim: Callable[[float], float] | None = None) -> None:  # fmt: skip
        self.spec, self.feed, self.to_sim = spec, feed, to_sim
        self.wall_to_sim = arrival_to_sim or to_sim
        self.malformed = 0
        self.unmapped = 0
        self._lock = threading.Lock()
        self._warnings = RateLimit(log)
        self._routes: dict[str, tuple[TopicSpec, str] | None] = {}  # topic -> (its spec, its output), or unmapped
        subscriptions = [(t.filter, spec.qos) for t in spec.topics]
        self.link = Link(spec.broker, client_id, session=spec.session, subscriptions=subscriptions,
                         on_message=self._message, on_state=self._state)  # fmt: skip

    @property
    def outages(self) -> list[Outage]:
        return self.link.outages

    def open(self) -> None:
        self.link.open()

    def close(self) -> None:
        self.link.close()

    def _message(self, message: mqtt.MQTTMessage) -> None:
        arrival = time.time()
        name = message.topic
        try:
            route = self._routes[name]
        except KeyError:
            route = self._route(name)
        if route is None:
            self.unmapped += 1
            self._warnings.warn(f"unmapped {message.topic}", f"message on topic '{message.topic}' matches no "
                                                             "output (an 'outputs' entry is missing?); dropped")  # fmt: skip
            return
        topic, output = route
        try:
            value, stamp = topic.decode(bytes(message.payload))
        except MalformedPayload as exc:
            self._drop(message.topic, arrival, str(exc))
            return
        at = self.wall_to_sim(arrival) if stamp is None else self.to_sim(stamp)
        self.feed.push(ExternalSample(output, at, arrival, value))

    def _route(self, name: str) -> tuple[TopicSpec, str] | None:
        """The first topic spec that maps ``name`` to an output, and that output (remembered)."""
        route = None
        for topic in self.spec.topics:
            output = topic.output_for(name)
            if output is not None:
                route = (topic, output)
                break
        if len(self._routes) < ROUTES:
            self._routes[name] = route
        return route

    def _drop(self, topic: str, arrival: float, why: str) -> None:
        with self._lock:
            self.malformed += 1
            count = self.malformed
        self._warnings.warn(f"malformed {topic}", f"malformed payload on '{topic}': {why}; dropped "
                                                  f"({count} so far)")  # fmt: skip
        self.feed.push(ExternalSample(MALFORMED, self.wall_to_sim(arrival), arrival, count))

    def _state(self, up: bool, outage: Outage | None) -> None:
        now = time.time()
        self.feed.push(ExternalSample(CONNECTED, self.wall_to_sim(now), now, up))
        if outage is not None:
            self.feed.push(ExternalSample(GAP, self.wall_to_sim(outage.back), now, round(outage.seconds, 3)))
