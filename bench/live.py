"""Live operation's figures: sensor-to-twin latency, and the replay speed of a recorded live run.

Both parts use a real broker (Mosquitto, else amqtt) on a free loopback port, a field device
in a process of its own (a plain paho client) and ``federation run`` / ``federation replay``
through the command line.

1. **Latency.** The device publishes a sample every 1/RATE wall seconds (default 100/s), its
   value and its timestamp both its publication time.  The twin -- ``time: {start: now,
   pace: 1}``, ``mqtt-in`` feeding an event-driven consumer -- computes at each step the wall
   time minus the value: publish -> value at the consumer's input, through the broker,
   ``mqtt-in``, the WAKE frame, the coordinator's grants and the consumer's step.
   Printed: p50 / p99 / max over the samples, and how many were applied late.
2. **Ingest into the store.** The device publishes ``--ingest`` samples as fast as the broker
   takes them into a twin paced at 1x; printed: how many reached the store's
   ``external_samples`` (none may be lost), at how many per second (first to last arrival),
   and how long after its arrival the last one was applied.
3. **Replay.** The device plays an hour of a 1 Hz sensor at ``--replay-pace`` (default 360x:
   ten wall seconds); the twin feeds a 1 s formula and the event-driven consumer from it.
   Then ``federation replay`` re-runs that store as fast as possible: its wall time, the
   simulated time per wall second, and whether every table and the steps per federate matched.

Usage: ``python bench/live.py [--seconds 10] [--rate 100] [--ingest 20000] [--replay-pace 360]``
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from federates.mqtt.localbroker import LocalBroker

DEVICE = """
import json, sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, rate, count, epoch, pace = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
client = mqtt.Client(CallbackAPIVersion.VERSION2)
client.connect("127.0.0.1", port)
client.loop_start()
start = time.time()
for k in range(count):
    due = start + k / rate
    while (left := due - time.time()) > 0:
        time.sleep(min(0.001, left))
    now = time.time()
    stamp = now if epoch == 0 else epoch + (now - epoch) * pace  # world time of a device paced like the twin
    client.publish("bench/x", json.dumps({"v": now, "ts": stamp}), qos=1)
client.publish("bench/x", b"", qos=1).wait_for_publish(30)  # an empty payload: malformed, counted; it flushes
client.disconnect()
client.loop_stop()
"""

CONSUMER = '''
import time
from federation import Federate, Input, Output


class Latency(Federate):
    """At each step: the wall time since the sample at its input was published (ms)."""

    v = Input(default=0.0)
    latency_ms = Output(default=0.0)

    def step(self, t):
        if self.inputs["v"]:
            self.latency_ms = (time.time() - self.inputs["v"]) * 1000.0
'''

SCENARIO = """
name: live-bench
time: {{start: now, pace: {pace}, stop: {stop}, resolution: 0.001}}
federates:
  field:
    type: mqtt-in
    params:
      broker: {{port: {port}}}
      session: clean
      topics: [{{topic: bench/x, output: x, value: v, time: ts}}]
{extra}
connections:
{connections}
"""

TABLES = ("samples", "messages", "decisions", "external_samples", "signals")


def _wait_stepping(store: Path, timeout: float = 60.0) -> float:
    """The run's epoch once it steps (the live sources are in the store just before the first grant)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
                rows = dict(db.execute("SELECT key, value FROM run WHERE key IN ('epoch', 'live_sources')"))
            if len(rows) == 2:
                return float(rows["epoch"])
        except sqlite3.Error:
            pass
        time.sleep(0.02)  # another process writes the file: polling it is the only way to see
    raise SystemExit(f"{store}: the run did not start stepping")


def _live_run(folder: Path, port: int, *, pace: float, stop: float, rate: float, count: int, name: str,
              extra: str = "", connections: str = "", consumer: bool = True) -> Path:  # fmt: skip
    if consumer:  # the latency meter: the wall clock in its outputs, so it is left out of the replayed run
        extra = '  consumer: {type: "consumer.py:Latency"}\n' + extra
        connections = "  - field.x -> consumer.v\n" + connections
    scenario = folder / f"{name}.yaml"
    scenario.write_text(SCENARIO.format(pace=pace, stop=stop, port=port, extra=extra, connections=connections))
    store = folder / f"{name}.sqlite"
    run = subprocess.Popen([sys.executable, "-m", "federation.app.cli", "run", str(scenario), "--out", str(store),
                            "-q"], stdout=subprocess.DEVNULL)  # fmt: skip
    epoch = _wait_stepping(store)
    device = subprocess.run([sys.executable, "-c", DEVICE, str(port), str(rate), str(count),
                             "0" if pace == 1 else repr(epoch), repr(pace)], timeout=600, check=False)  # fmt: skip
    if run.wait(600) or device.returncode:
        raise SystemExit(f"{name}: the run or the device failed (logs: {folder / (name + '.logs')})")
    return store


def _query(store: Path, sql: str, args: tuple = ()) -> list[tuple]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        return db.execute(sql, args).fetchall()


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def latency(folder: Path, port: int, seconds: float, rate: float) -> None:
    count = int(seconds * rate)
    store = _live_run(folder, port, pace=1.0, stop=seconds + 3.0, rate=rate, count=count, name="latency")
    values = sorted(v for (v,) in _query(store, "SELECT s.value FROM samples s JOIN signals g ON s.signal = g.id "
                                                "WHERE g.federate='consumer' AND g.name='latency_ms' AND s.value > 0"))
    applied = _query(store, "SELECT count(*), sum(lateness > 0.002) FROM external_samples WHERE output='x'")[0]
    print(f"sensor-to-twin latency at {rate:g} samples/s, pace 1, resolution 1 ms, {len(values):,} of {count:,} "
          f"samples: p50 {_quantile(values, 0.5):.2f} ms, p99 {_quantile(values, 0.99):.2f} ms, "
          f"max {values[-1]:.2f} ms; mean {statistics.fmean(values):.2f} ms")
    print(f"  {applied[0]:,} samples applied, {applied[1] or 0:,} of them later than 2 ms after their stamp")


def ingest(folder: Path, port: int, count: int) -> None:
    store = _live_run(folder, port, pace=1.0, stop=12.0, rate=1e9, count=count, name="ingest", consumer=False)
    n, first, last = _query(store, "SELECT count(*), min(arrival), max(arrival) FROM external_samples WHERE output='x'")[0]
    epoch = float(_query(store, "SELECT value FROM run WHERE key='epoch'")[0][0])
    lag = _query(store, "SELECT max(? + time - arrival) FROM external_samples WHERE output='x'", (epoch,))[0][0]
    steps = _query(store, "SELECT grants FROM federates WHERE name='field'")[0][0]
    print(f"ingest into the store: {n:,} of {count:,} samples in external_samples ({count - n:,} lost), "
          f"{n / (last - first):,.0f} samples/s from the first arrival to the last; {steps:,} steps of mqtt-in; "
          f"applied at most {lag * 1000:.1f} ms after arrival")


def replay(folder: Path, port: int, pace: float) -> None:
    extra = ("  twin:\n    type: formula\n    period: 1\n    params:\n      inputs: {x: {}}\n"
             "      outputs: {y: {expr: \"2 * x + 1\"}}")  # fmt: skip
    hour = 3600.0
    store = _live_run(folder, port, pace=pace, stop=hour, rate=pace, count=int(hour) - 30, name="hour",
                      extra=extra, connections="  - field.x -> twin.x", consumer=False)  # fmt: skip
    out = folder / "hour-replay.sqlite"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "federation.app.cli", "replay", str(store), "--out", str(out)],
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    wall = time.perf_counter() - start
    found = re.search(r"completed in ([0-9.]+) s wall", done.stdout)
    if done.returncode or found is None:
        raise SystemExit(f"the replay failed: {done.stderr}")
    run_wall = float(found.group(1))
    differ = [t for t in TABLES
              if _query(store, f"SELECT * FROM {t} ORDER BY rowid") != _query(out, f"SELECT * FROM {t} ORDER BY rowid")]
    steps_of = "SELECT name, grants FROM federates ORDER BY id"
    if _query(store, steps_of) != _query(out, steps_of):
        differ.append("steps per federate")
    steps = _query(out, "SELECT sum(grants) FROM federates")[0][0]
    samples = _query(out, "SELECT count(*) FROM external_samples")[0][0]
    print(f"replay of a 1-hour live run ({samples:,} external samples, {steps:,} steps; recorded at {pace:g}x): "
          f"the run {run_wall:.2f} s wall = {hour / run_wall:,.0f}x real time ({steps / run_wall:,.0f} steps/s); "
          f"the whole command {wall:.2f} s")
    print(f"  tables {'identical' if not differ else 'DIFFERENT: ' + ', '.join(differ)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="wall seconds of the latency run (default 10)")
    parser.add_argument("--rate", type=float, default=100.0, help="samples per wall second (default 100)")
    parser.add_argument("--ingest", type=int, default=20_000, help="samples of the ingest run (default 20000)")
    parser.add_argument("--replay-pace", type=float, default=360.0, help="pace of the recorded hour (default 360)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="write the scenarios, stores and logs here, and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "consumer.py").write_text(CONSUMER)
        with LocalBroker(folder / "broker") as broker:
            print(f"broker: {broker.program.value} at {broker.address}")
            latency(folder, broker.port, args.seconds, args.rate)
            ingest(folder, broker.port, args.ingest)
            replay(folder, broker.port, args.replay_pace)


if __name__ == "__main__":
    main()
