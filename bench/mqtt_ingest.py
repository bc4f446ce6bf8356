"""Ingest throughput of mqtt-in: MQTT messages per second into a LiveFeed or into the store, none lost.

A real broker (Mosquitto, else amqtt) on a free loopback port; a field device in a process
of its own publishes N JSON samples (QoS 1 by default) as fast as the broker takes them:

* ``--publisher paho`` (default): a plain paho client, as a field device would be;
* ``--publisher raw``: pre-encoded MQTT PUBLISH packets written on a socket, the broker's
  PUBACKs counted -- a device that is not the bottleneck (paho publishes about 10,000/s).

Where the samples go:

* by default, mqtt-in's client (:class:`~federates.mqtt.ingest.Ingest`) in this process,
  into a :class:`~federation.LiveFeed`; the figure is the time from the publisher's start
  (``--backlog``: from the client's connection) to the last sample in the feed, and the CPU
  time this process spent per sample;
* ``--store``: ``federation run`` of a scenario with one ``mqtt-in``, paced at 1x; the figure
  is the samples in the store's ``external_samples`` over the wall time from the first
  arrival to the step that applied the last one (a sample's stamp is its publication: one
  that waited in the broker is late, applied at the first open tick, its lateness recorded).

``--backlog`` takes the device out of the figure: the client's persistent session exists,
the samples are published while it is away and wait in the broker; the client drains them
when it connects.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from federates.mqtt.inbound import inbound_spec
from federates.mqtt.ingest import Ingest
from federates.mqtt.localbroker import LocalBroker
from federation import ExternalSample, LiveFeed, ParameterCheck

PAHO_PUBLISHER = """
import json, sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, count, qos = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
client = mqtt.Client(CallbackAPIVersion.VERSION2)
client.max_queued_messages_set(0)
client.connect("127.0.0.1", port)
client.loop_start()
infos = [client.publish("bench/s1", json.dumps({"v": i * 0.5, "ts": time.time()}), qos=qos) for i in range(count)]
infos[-1].wait_for_publish(300)
client.disconnect()
client.loop_stop()
"""

RAW_PUBLISHER = """
import json, os, socket, struct, sys, threading, time
port, count, qos = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def packet(command, body):
    n, length = len(body), bytearray()
    while True:
        n, digit = divmod(n, 128)
        length.append(digit | (128 if n else 0))
        if not n:
            return bytes([command]) + bytes(length) + body

def text(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b

def read(sock, size):
    data = b""
    while len(data) < size:
        more = sock.recv(size - len(data))
        if not more:
            raise SystemExit("the broker closed the connection")
        data += more
    return data

sock = socket.create_connection(("127.0.0.1", port))
sock.sendall(packet(0x10, text("MQTT") + bytes([4, 2]) + struct.pack("!H", 60) + text(f"raw-{os.getpid()}")))
if read(sock, 4) != bytes([0x20, 2, 0, 0]):
    raise SystemExit("the broker refused the connection")
topic, now = text("bench/s1"), time.time()
packets = b"".join(packet(0x32, topic + struct.pack("!H", i % 65535 + 1) + json.dumps({"v": i * 0.5, "ts": now}).encode())
                   if qos else packet(0x30, topic + json.dumps({"v": i * 0.5, "ts": now}).encode())
                   for i in range(count))
sender = threading.Thread(target=sock.sendall, args=(packets,))
sender.start()
if qos:
    acks = read(sock, 4 * count)
    assert all(acks[k] == 0x40 for k in range(0, len(acks), 4)), "not all PUBACKs"
sender.join()
sock.sendall(bytes([0xE0, 0]))
sock.close()
"""

SCENARIO = """
name: ingest-bench
time: {{start: now, pace: 1, stop: {stop}, resolution: 0.001}}
federates:
  field:
    type: mqtt-in
    params:
      broker: {{port: {port}, client_id: bench-in}}
      session: persistent
      qos: {qos}
      topics: [{{topic: "bench/#", output: x, value: v, time: ts}}]
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


def _publisher(args: argparse.Namespace, port: int) -> list[str]:
    source = RAW_PUBLISHER if args.publisher == "raw" else PAHO_PUBLISHER
    return [sys.executable, "-c", source, str(port), str(args.samples), str(args.qos)]


def _subscribe_away(port: int, qos: int) -> None:
    """Make mqtt-in's persistent session (client id bench-in, subscribed), then leave it: the broker keeps its messages."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-in", clean_session=False)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe("bench/#", qos)
    if not subscribed.wait(10):
        raise SystemExit("the broker did not confirm the subscription")
    client.disconnect()
    client.loop_stop()


def in_process(args: argparse.Namespace, broker: LocalBroker) -> None:
    check = ParameterCheck()
    spec = inbound_spec({"broker": {"port": broker.port}, "topics": [{"topic": "bench/#", "output": "x",
                         "value": "v", "time": "ts"}], "qos": args.qos}, check)  # fmt: skip
    check.done()
    feed = CountingFeed(args.samples)
    ingest = Ingest(spec, feed, "bench-in", lambda posix: posix)
    ingest.open()
    if args.backlog:  # subscribed with a persistent session, then away while the device publishes
        ingest.close()
        subprocess.run(_publisher(args, broker.port), check=True, timeout=300)
        feed = CountingFeed(args.samples)
        ingest = Ingest(spec, feed, "bench-in", lambda posix: posix)
        start, cpu = time.perf_counter(), time.process_time()
        ingest.open()
        finished = feed.done.wait(300)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    else:
        start, cpu = time.perf_counter(), time.process_time()
        sender = subprocess.Popen(_publisher(args, broker.port))
        finished = feed.done.wait(300)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        sender.wait(60)
    ingest.close()
    received = feed.count
    how = "drained from the broker's queue" if args.backlog else f"published ({args.publisher}) and received"
    print(f"{_broker(args, broker)}, QoS {args.qos}, {how}: {received:,} of {args.samples:,} samples in {wall:.2f} s = "
          f"{received / wall:,.0f} samples/s{'' if finished else ' (TIMED OUT)'}; client CPU "
          f"{cpu / max(received, 1) * 1e6:.1f} us/sample; malformed {ingest.malformed}")


def _broker(args: argparse.Namespace, broker: LocalBroker) -> str:
    return broker.program.value + (f" (max_inflight_messages {args.inflight})" if args.inflight is not None else "")


def _query(store: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        return db.execute(sql).fetchall()


def _wait_stepping(store: Path, run: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        try:
            if len(_query(store, "SELECT key FROM run WHERE key IN ('epoch', 'live_sources')")) == 2:
                return
        except sqlite3.Error:
            pass
        time.sleep(0.02)  # another process writes the file: polling it is the only way to see
    raise SystemExit(f"{store}: the run did not start stepping")


def into_store(args: argparse.Namespace, broker: LocalBroker, folder: Path) -> None:
    scenario, store = folder / "ingest.yaml", folder / "ingest.sqlite"
    scenario.write_text(SCENARIO.format(stop=args.stop, port=broker.port, qos=args.qos))
    if args.backlog:
        _subscribe_away(broker.port, args.qos)
        subprocess.run(_publisher(args, broker.port), check=True, timeout=300)
    run = subprocess.Popen([sys.executable, "-m", "federation.app.cli", "run", str(scenario), "--out", str(store),
                            "-q"], stdout=subprocess.DEVNULL)  # fmt: skip
    if not args.backlog:
        _wait_stepping(store, run)
        subprocess.run(_publisher(args, broker.port), check=True, timeout=300)
    if run.wait(args.stop + 120):
        raise SystemExit(f"the run failed (logs: {folder})")
    n, distinct, first, last, late = _query(store, "SELECT count(*), count(DISTINCT value), min(arrival), "
                                                   "max(arrival), max(lateness) FROM external_samples "
                                                   "WHERE output='x'")[0]  # fmt: skip
    # the wall instant each sample was applied: the grant of its tick (the pacing table)
    end, wait = _query(store, "SELECT max(p.granted), max(p.granted - e.arrival) FROM external_samples e "
                              "JOIN pacing p ON p.tick = e.tick WHERE e.output='x'")[0]  # fmt: skip
    steps = _query(store, "SELECT grants FROM federates WHERE name='field'")[0][0]
    gaps = _query(store, "SELECT count(*) FROM external_samples WHERE output='gap_s'")[0][0]
    how = "drained from the broker's queue" if args.backlog else f"published ({args.publisher})"
    print(f"{_broker(args, broker)}, QoS {args.qos}, {how} into the store: {n:,} of {args.samples:,} samples in "
          f"external_samples ({args.samples - distinct:,} lost, {n - distinct:,} twice), {n / (end - first):,.0f} samples/s from the first arrival "
          f"to the step that applied the last ({n / (last - first):,.0f}/s arriving); {steps:,} steps of mqtt-in; "
          f"each applied at most {wait * 1000:.1f} ms after its arrival; lateness at most {late:.3f} s; "
          f"gaps recorded {gaps}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=50_000, help="messages to publish (default 50000)")
    parser.add_argument("--qos", type=int, default=1, choices=(0, 1), help="quality of service (default 1)")
    parser.add_argument("--publisher", choices=("paho", "raw"), default="paho", help="the device (default paho)")
    parser.add_argument("--backlog", action="store_true",
                        help="publish while the client is away, then time its draining of the broker's queue")
    parser.add_argument("--store", action="store_true", help="through `federation run` into the store")
    parser.add_argument("--stop", type=float, default=15.0, help="--store: wall seconds of the run (default 15)")
    parser.add_argument("--inflight", type=int, metavar="N",
                        help="Mosquitto's max_inflight_messages: unacknowledged QoS 1 messages it sends a client "
                             "(Mosquitto's default 20; the broker the project starts: 1000)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="write the broker's files, scenario and store here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        extra = f"max_inflight_messages {args.inflight}" if args.inflight is not None else ""
        with LocalBroker(folder / "broker", extra=extra) as broker:
            if args.store:
                into_store(args, broker, folder)
            else:
                in_process(args, broker)


if __name__ == "__main__":
    main()
