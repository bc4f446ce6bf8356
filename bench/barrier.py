"""The floor: a bare pyzmq + msgpack lock-step barrier running the ring workload.

One ROUTER coordinator (this process) and N DEALER worker processes over TCP loopback.
Per step the coordinator sends every worker its input u (one frame), then waits for all
N replies y = 0.5*u + 1, and routes y[i-1] to worker i for the next step.  No schema
check, no recording, no liveness checks, no time management: the least a central
coordinator must do per step, so a framework built on one cannot beat it.

Usage: ``python bench/barrier.py [--sizes 2 8 32] [--steps 2000]`` (bench/ring.py runs it
next to the project).  ``--worker ADDRESS INDEX`` is how the coordinator starts a worker.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ring_common import PREFIX, A, B, RingResult, check, cpu_seconds, now, print_runs

JOIN_TIMEOUT_MS = 60_000


def worker(address: str, index: int) -> int:
    """Answer every input with y = A*u + B until an empty frame arrives."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, b"w%d" % index)
    sock.setsockopt(zmq.LINGER, 1000)
    sock.connect(address)
    packb, unpackb = msgpack.packb, msgpack.unpackb
    sock.send(b"ready")
    while True:
        data = sock.recv()
        if not data:
            break
        u = unpackb(data)
        sock.send(packb(A * u + B))
    sock.close()
    ctx.term()
    return 0


def run(n: int, steps: int) -> RingResult:
    """Run the ring on the bare barrier; check the values; return the timings."""
    t0 = now()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", address, str(i)]) for i in range(n)]
    try:
        ids = [b"w%d" % i for i in range(n)]
        index = {ident: i for i, ident in enumerate(ids)}
        joined: set[bytes] = set()
        while len(joined) < n:
            if not sock.poll(JOIN_TIMEOUT_MS):
                raise RuntimeError(f"barrier: only {len(joined)} of {n} workers joined")
            ident, _ = sock.recv_multipart()
            joined.add(ident)
        t_joined = now()
        cpu0 = time.thread_time(), sum(cpu_seconds(p.pid) for p in procs)
        packb, unpackb = msgpack.packb, msgpack.unpackb
        send, recv = sock.send_multipart, sock.recv_multipart
        y = [0.0] * n
        prefixes: list[list[float]] = [[] for _ in range(n)]
        for k in range(steps):
            for i in range(n):
                send([ids[i], packb(y[i - 1])])  # y[-1] is y[n-1]: the ring wraps
            new = [0.0] * n
            for _ in range(n):
                ident, data = recv()
                new[index[ident]] = unpackb(data)
            y = new
            if k < PREFIX:
                for i in range(n):
                    prefixes[i].append(y[i])
        t_done = now()
        cpu1 = time.thread_time(), sum(cpu_seconds(p.pid) for p in procs)
        for ident in ids:
            send([ident, b""])
        for p in procs:
            p.wait(30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        sock.close(0)
        ctx.term()
    t_end = now()
    cpu = {"cpu_coordinator_ms": (cpu1[0] - cpu0[0]) / steps * 1e3, "cpu_federates_ms": (cpu1[1] - cpu0[1]) / steps * 1e3}
    return RingResult(
        "barrier", n, steps, t_done - t_joined, t_end - t0, t_joined - t0, check(n, steps, prefixes, y), cpu
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[2, 8, 32], help="ring sizes N (default: 2 8 32)"
    )
    parser.add_argument("--steps", type=int, default=2000, help="steps S per run (default: 2000)")
    parser.add_argument("--worker", nargs=2, metavar=("ADDRESS", "INDEX"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker[0], int(args.worker[1]))
    print_runs(run, args.sizes, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
