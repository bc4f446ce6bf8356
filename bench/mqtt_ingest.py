"""Ingest throughput of mqtt-in's client: MQTT messages per second into a LiveFeed, none lost.

A real broker (Mosquitto, else amqtt) on a free loopback port; a plain paho client in a
process of its own (a field device does not share our interpreter) publishes N JSON samples
as fast as the broker takes them; the figure is the time from the publisher's start to the
last sample in the feed.  The store part of the
issue's figure (samples recorded by the coordinator) waits for the core of live operation.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from federates.mqtt.inbound import inbound_spec
from federates.mqtt.ingest import Ingest
from federates.mqtt.localbroker import LocalBroker
from federation import ExternalSample, LiveFeed, ParameterCheck

PUBLISHER = """
import json, sys
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, count, qos = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
client = mqtt.Client(CallbackAPIVersion.VERSION2)
client.max_queued_messages_set(0)
client.connect("127.0.0.1", port)
client.loop_start()
infos = [client.publish("bench/s1", json.dumps({"v": i * 0.5, "ts": 1.0e9 + i}), qos=qos) for i in range(count)]
infos[-1].wait_for_publish(300)
client.disconnect()
client.loop_stop()
"""


class CountingFeed(LiveFeed):
    def __init__(self, wanted: int) -> None:
        super().__init__()
        self.wanted, self.count, self.done = wanted, 0, threading.Event()

    def push(self, sample: ExternalSample) -> None:
        super().push(sample)
        if sample.output == "x":
            self.count += 1
            if self.count >= self.wanted:
                self.done.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=50_000, help="messages to publish (default 50000)")
    parser.add_argument("--qos", type=int, default=1, choices=(0, 1), help="quality of service (default 1)")
    parser.add_argument("--backlog", action="store_true",
                        help="publish while the client is away, then time its draining of the broker's queue")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, LocalBroker(Path(folder)) as broker:
        check = ParameterCheck()
        spec = inbound_spec({"broker": {"port": broker.port}, "topics": [{"topic": "bench/#", "output": "x",
                             "value": "v", "time": "ts"}], "qos": args.qos}, check)  # fmt: skip
        check.done()
        feed = CountingFeed(args.samples)
        ingest = Ingest(spec, feed, "bench-in", lambda posix: posix)
        ingest.open()
        command = [sys.executable, "-c", PUBLISHER, str(broker.port), str(args.samples), str(args.qos)]
        if args.backlog:  # subscribed with a persistent session, then away while the device publishes
            ingest.close()
            subprocess.run(command, check=True, timeout=300)
            feed = CountingFeed(args.samples)
            ingest = Ingest(spec, feed, "bench-in", lambda posix: posix)
            start = time.perf_counter()
            ingest.open()
            finished = feed.done.wait(300)
            wall = time.perf_counter() - start
        else:
            start = time.perf_counter()
            sender = subprocess.Popen(command)
            finished = feed.done.wait(300)
            wall = time.perf_counter() - start
            sender.wait(60)
        ingest.close()
    received = feed.count
    how = "drained from the broker's queue" if args.backlog else "published and received"
    print(f"{broker.program.value}, QoS {args.qos}, {how}: {received:,} of {args.samples:,} samples in {wall:.2f} s = "
          f"{received / wall:,.0f} samples/s{'' if finished else ' (TIMED OUT)'}; malformed {ingest.malformed}")


if __name__ == "__main__":
    main()
