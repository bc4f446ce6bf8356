"""The federate runtime: runs one Python federate in its own process.

It connects a DEALER socket to the coordinator, joins (HELLO, WELCOME, DECLARE), then
answers every GRANT with exactly one DONE until STOP.  Started by the coordinator as
``python -m federation.runtime --connect ADDR --name NAME`` or by hand through
``federation join``.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import traceback
from typing import Any, Sequence

import zmq

from . import protocol
from .errors import FederationError, ProtocolError
from .federate import Context, Federate, Message
from .protocol import ErrorCode, Kind
from .registry import resolve

__all__ = ["Runtime", "main"]

log = logging.getLogger("federation.runtime")

FATAL_CODES = {ErrorCode.VERSION, ErrorCode.UNKNOWN_FEDERATE, ErrorCode.DUPLICATE, ErrorCode.INTERFACE,
               ErrorCode.SHUTDOWN}  # fmt: skip


class CoordinatorLost(FederationError):
    """The coordinator stopped answering; the federate ends itself."""


class Runtime:
    """Drives one :class:`~federation.Federate` instance over the wire protocol."""

    def __init__(self, address: str, name: str, *, heartbeat: float = 2.0, curve: dict[str, bytes] | None = None):
        self.address, self.name, self.heartbeat = address, name, heartbeat
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 2000)
        if curve:
            self.sock.curve_secretkey = curve["secret"]
            self.sock.curve_publickey = curve["public"]
            self.sock.curve_serverkey = curve["server"]
        self.sock.connect(address)
        self._timeout = -1
        self.parent = os.getppid()
        self.spawned = bool(os.environ.get("FEDERATION_SPAWNED"))
        self.federate: Federate | None = None
        self.saved_state: Any = None
        self.current_inputs: dict[str, Any] = {}
        self.time = 0.0

    # ------------------------------------------------------------------ wire
    def send(self, frame: list[Any]) -> None:
        self.sock.send(protocol.encode(frame))  # small frames: copying beats zero-copy bookkeeping

    def receive(self) -> list[Any]:
        """Next frame; answers PING; raises CoordinatorLost after ``heartbeat`` s of silence.

        While waiting, the federate pings the coordinator every quarter heartbeat, so a
        vanished coordinator is noticed within one heartbeat interval.  A heartbeat of 0
        (``--debug``) waits forever.
        """
        beat = self.heartbeat
        slice_ms = max(1, int(beat * 250)) if beat > 0 else 1000
        if slice_ms != self._timeout:  # a receive timeout instead of a poll per frame
            self.sock.setsockopt(zmq.RCVTIMEO, slice_ms)
            self._timeout = slice_ms
        recv, decode = self.sock.recv, protocol.decode
        silent = 0  # receive timeouts in a row: no clock reads on the per-frame path
        while True:
            try:
                data = recv()
            except zmq.Again:
                silent += 1
                self._silence(beat, silent * slice_ms / 1000.0)
                continue
            silent = 0
            try:
                frame = decode(data)
            except ProtocolError as exc:
                self.send([Kind.ERROR, exc.code, f"{self.name}: {exc}"])
                continue
            kind = frame[0]
            if kind == _PING:
                self.send([Kind.PONG])
            elif kind != _PONG:
                return frame

    def _silence(self, beat: float, seconds: float) -> None:
        """No frame for ``seconds``: check that the coordinator is still there."""
        if beat <= 0:
            return
        if self.spawned:  # our parent is the coordinator: its death is seen exactly, load or not
            if os.getppid() != self.parent:
                raise CoordinatorLost(f"{self.name}: the coordinator process is gone")
            return
        if seconds >= beat:
            raise CoordinatorLost(f"{self.name}: no answer from the coordinator at {self.address} for {seconds:.1f} s")
        self.send([Kind.PING])

    # ------------------------------------------------------------------ life cycle
    def join(self, options: dict[str, Any] | None = None) -> dict[str, Any]:
        self.send([Kind.HELLO, protocol.PROTOCOL_VERSION, self.name, {"pid": os.getpid(), "lang": "python",
                                                                      **(options or {})}])  # fmt: skip
        frame = self.receive()
        if frame[0] == Kind.ERROR:
            raise FederationError(f"{self.name}: join refused: {frame[2]}")
        if frame[0] != Kind.WELCOME:
            raise FederationError(f"{self.name}: expected WELCOME, got {Kind(frame[0]).name}")
        return frame[1]

    def start(self, config: dict[str, Any]) -> None:
        cls = resolve(config["type"], config.get("base_dir"))
        context = Context(
            name=config["name"], seed=config["seed"], start=config["start"], stop=config["stop"],
            resolution=config["resolution"], period=config.get("period"), offset=config.get("offset", 0.0),
        )  # fmt: skip
        params = dict(config["params"])
        if config["type"] == "fmu" or getattr(cls, "resolves_paths", False):
            params["_base_dir"] = config.get("base_dir")
        self.iterate = bool(config.get("iterate"))
        self.per_second = 1.0 / config["resolution"]
        self.exact = abs(self.per_second - round(self.per_second)) < 1e-9 * self.per_second and self.per_second >= 1
        fed = cls(params, context)
        self.federate = fed
        decl = fed.declaration
        self.input_names = [s.name for s in decl.inputs]
        self.output_names = [s.name for s in decl.outputs]
        self.current_inputs = dict(fed.inputs)
        self.last_sent: dict[str, Any] = {}
        fed.setup()
        self.send([Kind.DECLARE, decl.to_wire()])

    def seconds(self, tick: int) -> float:
        return tick / round(self.per_second) if self.exact else tick / self.per_second

    def ticks(self, seconds: float) -> int:
        return int(round(seconds * self.per_second))

    def next_tick(self, seconds: float) -> int:
        """First tick at or after ``seconds`` (an event between ticks happens at the next one)."""
        x = seconds * self.per_second
        return int(math.ceil(x - 1e-9 * max(1.0, abs(x))))

    def serve(self) -> int:
        """Answer grants until STOP; return the process exit code."""
        fed = self.federate
        assert fed is not None
        send, encode, receive, step = self.sock.send, protocol.encode, self.receive, self.step
        while True:
            frame = receive()
            kind = frame[0]
            if kind == _GRANT:
                send(encode(step(frame)))
            elif kind == Kind.STOP:
                self.finalize()
                self.send([Kind.BYE, {"time": self.time}])
                return 0
            elif kind == Kind.ERROR:
                log.warning("%s: coordinator says: %s", self.name, frame[2])
                if frame[1] in FATAL_CODES:
                    self.finalize()
                    return 1
            else:
                self.send([Kind.ERROR, ErrorCode.OUT_OF_TURN, f"{self.name}: unexpected {Kind(kind).name} frame"])

    def step(self, frame: list[Any]) -> list[Any]:
        fed = self.federate
        assert fed is not None
        _, tick, iteration, inputs, messages = frame
        names = self.input_names
        current = self.current_inputs
        for key, value in inputs.items():
            current[names[key]] = value
        if self.iterate:
            if iteration == 0:
                self.saved_state = fed.get_state()
            else:
                fed.set_state(self.saved_state)
        fed.inputs = dict(current) if self.iterate else current
        t = self.seconds(tick)
        self.time = fed.time = t
        fed.inbox = [Message(self.seconds(m[0]), m[1], m[2], m[3]) for m in messages] if messages else []
        fed._outbox = []
        nxt = fed.step(t)
        outputs: dict[int, Any] = {}
        last = self.last_sent
        for i, name in enumerate(self.output_names):
            value = fed.outputs[name]
            if type(value) not in _PLAIN:
                value = _plain(value)
            if self.iterate or name not in last or last[name] != value:
                outputs[i] = value
                last[name] = value
        out_messages = [[m.endpoint, m.payload, None if m.time is None else self.ticks(m.time), m.to]
                        for m in fed._outbox]  # fmt: skip
        next_tick = None if nxt is None or fed.context.period is not None else self.next_tick(nxt)
        return [Kind.DONE, tick, iteration, outputs, out_messages, next_tick]

    def finalize(self) -> None:
        if self.federate is not None:
            fed, self.federate = self.federate, None
            fed.finalize()

    def close(self) -> None:
        self.sock.close()


_PLAIN = (float, int, bool, str, type(None))
_GRANT, _PING, _PONG = int(Kind.GRANT), int(Kind.PING), int(Kind.PONG)


def _plain(value: Any) -> Any:
    """Numpy scalars and arrays (and tuples) as the msgpack-native values they stand for."""
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def run(address: str, name: str, *, heartbeat: float = 2.0, curve: dict[str, bytes] | None = None) -> int:
    """Join, serve and leave; report a failure of the federate's code to the coordinator."""
    runtime = Runtime(address, name, heartbeat=heartbeat, curve=curve)
    try:
        config = runtime.join()
        runtime.heartbeat = float(config.get("heartbeat", heartbeat))
        runtime.start(config)
        return runtime.serve()
    except CoordinatorLost as exc:
        print(f"federation: {exc}; exiting", file=sys.stderr)
        runtime.finalize()
        return 3
    except FederationError as exc:
        _report(runtime, f"{type(exc).__name__}: {exc}")
        return 1
    except Exception as exc:
        _report(runtime, _describe(exc))
        return 1
    finally:
        runtime.close()


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _report(runtime: Runtime, text: str) -> None:
    print(f"federation: federate '{runtime.name}' failed: {text}", file=sys.stderr)
    traceback.print_exc()
    try:
        runtime.send([Kind.ERROR, ErrorCode.FEDERATE_FAILED, text])
        runtime.finalize()
    except Exception:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m federation.runtime", description=__doc__)
    parser.add_argument("--connect", required=True, help="coordinator address, e.g. tcp://127.0.0.1:5555")
    parser.add_argument("--name", required=True, help="the federate's name in the scenario")
    parser.add_argument("--heartbeat", type=float, default=2.0, help="seconds of silence after which the coordinator is taken as gone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"%(levelname)s {args.name}: %(message)s")
    from .security import client_keys_from_env

    return run(args.connect, args.name, heartbeat=args.heartbeat, curve=client_keys_from_env())


if __name__ == "__main__":
    sys.exit(main())
