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

import msgpack
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

    def _arm(self) -> int:
        """Set the socket's receive timeout for the current heartbeat; return it in ms."""
        beat = self.heartbeat
        slice_ms = max(1, int(beat * 250)) if beat > 0 else 1000
        if slice_ms != self._timeout:  # a receive timeout instead of a poll per frame
            self.sock.setsockopt(zmq.RCVTIMEO, slice_ms)
            self._timeout = slice_ms
        return slice_ms

    def receive(self, data: bytes | None = None) -> list[Any]:
        """Next frame (``data``: one already received); answers PING; raises CoordinatorLost.

        While waiting, the federate pings the coordinator every quarter heartbeat, so a
        vanished coordinator is noticed within one heartbeat interval.  A heartbeat of 0
        (``--debug``) waits forever.
        """
        slice_ms = self._arm()
        recv, decode = self.sock.recv, protocol.decode
        silent = 0  # receive timeouts in a row: no clock reads on the per-frame path
        while True:
            if data is None:
                try:
                    data = recv()
                except zmq.Again:
                    silent += 1
                    self._silence(self.heartbeat, silent * slice_ms / 1000.0)
                    continue
                silent = 0
            try:
                frame = decode(data)
            except ProtocolError as exc:
                self.send([Kind.ERROR, exc.code, f"{self.name}: {exc}"])
                continue
            finally:
                data = None
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
        if getattr(cls, "resolves_paths", False):
            params["_base_dir"] = config.get("base_dir")
        self.iterate = bool(config.get("iterate"))
        self.per_second = 1.0 / config["resolution"]
        self.exact = abs(self.per_second - round(self.per_second)) < 1e-9 * self.per_second and self.per_second >= 1
        self._divisor: float = round(self.per_second) if self.exact else self.per_second  # tick / divisor = seconds
        fed = cls(params, context)
        self.federate = fed
        decl = fed.declaration
        self.input_names = [s.name for s in decl.inputs]
        self.output_names = [s.name for s in decl.outputs]
        self._outputs = list(enumerate(self.output_names))
        self._last: list[Any] = [_UNSENT] * len(self.output_names)  # value last sent per output
        self._event_driven = context.period is None
        self.current_inputs = dict(fed.inputs)
        fed.setup()
        self.send([Kind.DECLARE, decl.to_wire()])

    def seconds(self, tick: int) -> float:
        return tick / self._divisor

    def ticks(self, seconds: float) -> int:
        return int(round(seconds * self.per_second))

    def next_tick(self, seconds: float) -> int:
        """First tick at or after ``seconds`` (an event between ticks happens at the next one)."""
        x = seconds * self.per_second
        return int(math.ceil(x - 1e-9 * max(1.0, abs(x))))

    def serve(self) -> int:
        """Answer grants until STOP; return the process exit code.

        This loop is the federate's side of every step, and on a machine with fewer cores
        than processes its length shows directly in the federation's speed (each process
        wakes with cold caches).  So an ordinary GRANT is unpacked, checked and stepped
        inline, with everything it needs in locals; :meth:`step` does the same for
        iterating federates, and :meth:`receive` handles every other frame.
        """
        fed = self.federate
        assert fed is not None
        slice_s = self._arm() / 1000.0
        recv, send, pack, unpackb = self.sock.recv, protocol.sender(self.sock), protocol.encode, msgpack.unpackb
        names, current, outputs, last = self.input_names, self.current_inputs, self._outputs, self._last
        divisor, event_driven, iterate = self._divisor, self._event_driven, self.iterate
        values = fed.outputs
        if not iterate:
            fed.inputs = current  # the inline step writes inputs into it
        silent = 0
        while True:
            try:
                data = recv()
            except zmq.Again:
                silent += 1
                self._silence(self.heartbeat, silent * slice_s)
                continue
            silent = 0
            try:
                frame = unpackb(data, strict_map_key=False)  # protocol.unpack, inline
            except Exception:
                frame = None  # receive() below explains the fault to the coordinator
            if type(frame) is list and len(frame) == 5 and frame[0] == _GRANT and not iterate:
                _, tick, iteration, inputs, messages = frame
                if type(tick) is int and type(inputs) is dict and type(messages) is list:
                    for key, value in inputs.items():
                        current[names[key]] = value
                    t = tick / divisor
                    fed.time = t
                    if messages:
                        fed.inbox = [Message(m[0] / divisor, m[1], m[2], m[3]) for m in messages]
                    elif fed.inbox:
                        fed.inbox = []
                    nxt = fed.step(t)
                    changed = {}
                    for i, name in outputs:
                        value = values[name]
                        if type(value) not in _PLAIN:
                            value = _plain(value)
                        if last[i] != value or last[i] is _UNSENT:
                            changed[i] = last[i] = value
                    send(pack([_DONE, tick, iteration, changed, self._sent(fed) if fed._outbox else _NONE,
                               None if nxt is None or not event_driven else self.next_tick(nxt)]))  # fmt: skip
                    continue
            frame = self.receive(data)
            kind = frame[0]
            if kind == _GRANT:
                send(pack(self.step(frame)))
            elif kind == Kind.STOP:
                self.time = fed.time
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

    def _sent(self, fed: Federate) -> list[list[Any]]:
        """The messages ``fed`` sent in this step, as wire items; empties its outbox."""
        sent = [[m.endpoint, m.payload, None if m.time is None else self.ticks(m.time), m.to] for m in fed._outbox]
        fed._outbox = []
        return sent

    def step(self, frame: list[Any]) -> list[Any]:
        """Run one granted step; return the DONE frame."""
        fed = self.federate
        assert fed is not None
        _, tick, iteration, inputs, messages = frame
        if inputs:
            names, current = self.input_names, self.current_inputs
            for key, value in inputs.items():
                current[names[key]] = value
        if self.iterate:
            if iteration == 0:
                self.saved_state = fed.get_state()
            else:
                fed.set_state(self.saved_state)
            fed.inputs = dict(self.current_inputs)
            self._last = [_UNSENT] * len(self._last)  # every iteration reports every output
        else:
            fed.inputs = self.current_inputs
        t = tick / self._divisor
        self.time = fed.time = t
        if messages:
            fed.inbox = [Message(m[0] / self._divisor, m[1], m[2], m[3]) for m in messages]
        elif fed.inbox:
            fed.inbox = []
        nxt = fed.step(t)
        outputs: dict[int, Any] = {}
        values, last = fed.outputs, self._last
        for i, name in self._outputs:
            value = values[name]
            if type(value) not in _PLAIN:
                value = _plain(value)
            if last[i] != value or last[i] is _UNSENT:
                outputs[i] = last[i] = value
        next_tick = None if nxt is None or not self._event_driven else self.next_tick(nxt)
        return [_DONE, tick, iteration, outputs, self._sent(fed) if fed._outbox else _NONE, next_tick]

    def finalize(self) -> None:
        if self.federate is not None:
            fed, self.federate = self.federate, None
            fed.finalize()

    def close(self) -> None:
        self.sock.close()


_PLAIN = (float, int, bool, str, type(None))
_GRANT, _DONE, _PING, _PONG = int(Kind.GRANT), int(Kind.DONE), int(Kind.PING), int(Kind.PONG)
_NONE: list[Any] = []  # no messages (never mutated: it is only packed)
_UNSENT: Any = object()  # compares unequal to every value


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
