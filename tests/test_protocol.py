"""Wire protocol: codec round trip, schema checks, and garbage that never harms a running federation."""

from __future__ import annotations

import threading

import msgpack
import pytest
import zmq

from federation import protocol
from federation.engine.coordinator import Coordinator, RunOptions
from federation.engine.runtime import Runtime
from federation.errors import ProtocolError
from federation.protocol import ErrorCode, Kind
from federation.results.store import RunStore
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    "frame",
    [
        [Kind.HELLO, 1, "tank", {"pid": 3}],
        [Kind.WELCOME, {"params": {"a": [1, 2.5]}, "seed": 2**62}],
        [Kind.DECLARE, {"inputs": [["u", "float", "m", 0.0]], "outputs": [], "endpoints": ["x"]}],
        [Kind.GRANT, 10**15, 0, {0: 1.5, 3: [1.0, 2.0]}, [[5, "a.b", "c", {"k": None}]]],
        [Kind.DONE, 7, 2, {1: "text", 2: True}, [["ep", {"x": 1}, None, None], ["ep", 3, 9, "b.c"]], None],
        [Kind.STOP, "end"],
        [Kind.BYE],
        [Kind.ERROR, ErrorCode.OUT_OF_TURN, "why"],
        [Kind.PING],
        [Kind.DONE, 7, 0, {0: 1.5}, [], 9, {"external": [[0, 0.0065, 1796220000.5, 1.5], [2, 0.007, 1796220000.6, "x"]]}],
        [Kind.WAKE, 12],
        [Kind.GRANTS, [[0, 5, 0, {0: 1.5}, []], [7, 5, 0, {}, [[5, "a.b", "c", None]]]]],
        [Kind.DONES, [[0, 5, 0, {0: 2.0}, [], None], [7, 5, 0, {}, [["ep", 1, None, None]], 6, {"external": []}]]],
    ],
)
def test_round_trip(frame):
    assert protocol.decode(protocol.encode(frame)) == frame


@pytest.mark.parametrize(
    "data, code",
    [
        (b"\xc1", ErrorCode.MALFORMED),
        (msgpack.packb("hello"), ErrorCode.MALFORMED),
        (msgpack.packb([]), ErrorCode.MALFORMED),
        (msgpack.packb([99, 1]), ErrorCode.UNKNOWN_KIND),
        (msgpack.packb([5, 1, 0, {}, []]), ErrorCode.BAD_SCHEMA),
        (msgpack.packb([5, -1, 0, {}, [], None]), ErrorCode.BAD_SCHEMA),
        (msgpack.packb([5, 1, 0, {"y": 1}, [], None]), ErrorCode.BAD_SCHEMA),
        (msgpack.packb([5, 1, 0, {}, [["ep"]], None]), ErrorCode.BAD_SCHEMA),
        (msgpack.packb([1, "1", "x"]), ErrorCode.BAD_SCHEMA),
        (msgpack.packb([5, 1, 0, {}, [], None, []]), ErrorCode.BAD_SCHEMA),  # extras must be a map
        (msgpack.packb([5, 1, 0, {}, [], None, {"external": [[0, 1, 2.0, 3]]}]), ErrorCode.BAD_SCHEMA),  # int stamp
        (msgpack.packb([5, 1, 0, {}, [], None, {"external": [["x", 1.0, 2.0, 3]]}]), ErrorCode.BAD_SCHEMA),
        (msgpack.packb([5, 1, 0, {}, [], None, {}, 8]), ErrorCode.BAD_SCHEMA),
        (msgpack.packb([11, -3]), ErrorCode.BAD_SCHEMA),
        (msgpack.packb([11]), ErrorCode.BAD_SCHEMA),
        (msgpack.packb([15, []]), ErrorCode.BAD_SCHEMA),  # a batch is never empty
        (msgpack.packb([15, [[-1, 5, 0, {}, []]]]), ErrorCode.BAD_SCHEMA),
        (msgpack.packb([15, [[0, 5, 0, {}]]]), ErrorCode.BAD_SCHEMA),
        (msgpack.packb([16, [[0, 5, 0, {"y": 1}, [], None]]]), ErrorCode.BAD_SCHEMA),  # as DONE: integer output keys
        (msgpack.packb([16, [0, 5, 0, {}, [], None]]), ErrorCode.BAD_SCHEMA),  # entries, not one entry
        (b"\x00" * 2000, ErrorCode.TOO_LARGE),
    ],
)
def test_bad_frames_are_refused_with_a_code(data, code):
    with pytest.raises(ProtocolError) as info:
        protocol.decode(data, limit=1024)
    assert info.value.code == code


def test_numpy_values_travel_as_plain_numbers():
    np = pytest.importorskip("numpy")
    frame = protocol.decode(protocol.encode([Kind.DONE, 1, 0, {0: np.float64(2.5), 1: np.arange(3)}, [], None]))
    assert frame[3] == {0: 2.5, 1: [0, 1, 2]}


SCENARIO = """
time: {stop: 6, resolution: 1 s}
federates:
  clock: {type: "{HELPERS}:Clock"}
  probe: {type: "{HELPERS}:Probe", external: true}
connections:
  - clock.y -> probe.u
"""


class Rogue:
    """A stranger on the coordinator's socket."""

    def __init__(self, address: str) -> None:
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(address)

    def send_raw(self, *parts: bytes) -> list:
        self.sock.send_multipart(list(parts))
        assert self.sock.poll(5000), "no error reply"
        return protocol.decode(self.sock.recv())

    def close(self) -> None:
        self.sock.close()


def test_garbage_gets_error_replies_and_the_run_continues_unharmed(tmp_path):
    scenario = load(write_scenario(tmp_path, SCENARIO))
    coordinator = Coordinator(scenario, RunOptions(out=tmp_path / "run.sqlite", frame_limit=4096, join_timeout=30))
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("summary", coordinator.run()), daemon=True)
    thread.start()
    rogue = Rogue(coordinator.address)
    probe = Runtime(coordinator.address, "probe", token=coordinator.join_token("probe"))
    try:
        garbage = [
            (b"\xc1", ErrorCode.MALFORMED),
            (msgpack.packb([42]), ErrorCode.UNKNOWN_KIND),
            (msgpack.packb([5, "x"]), ErrorCode.BAD_SCHEMA),
            (b"\x91" + b"\x00" * 5000, ErrorCode.TOO_LARGE),
            (msgpack.packb([5, 0, 0, {}, [], None]), ErrorCode.UNKNOWN_FEDERATE),
            (msgpack.packb([1, 99, "probe", {}]), ErrorCode.VERSION),
            (msgpack.packb([1, 1, "nobody", {}]), ErrorCode.UNKNOWN_FEDERATE),
        ]
        for data, code in garbage:  # while the federation is joining
            reply = rogue.send_raw(data)
            assert reply[:2] == [Kind.ERROR, code], reply
        assert rogue.send_raw(b"part1", b"part2")[1] == ErrorCode.MALFORMED
        config = probe.join()
        probe.start(config)
        reply = rogue.send_raw(msgpack.packb([1, 1, "probe", {}]))  # no token: refused as such
        assert reply[1] == ErrorCode.UNKNOWN_FEDERATE and "with no token" in reply[2]
        reply = rogue.send_raw(msgpack.packb([1, 1, "probe", {"token": coordinator.join_token("probe")}]))
        assert reply[1] == ErrorCode.DUPLICATE
        steps = 0
        while True:
            frame = probe.receive()
            if frame[0] == Kind.STOP:
                probe.send([Kind.BYE])
                break
            if frame[0] == Kind.ERROR:
                assert frame[1] == ErrorCode.OUT_OF_TURN
                continue
            assert frame[0] == Kind.GRANT
            done = probe.step(frame)
            for data, code in garbage[:5]:  # while the federation is stepping
                assert rogue.send_raw(data)[1] == code
            probe.send(done)
            if steps == 2:
                probe.send(done)  # a second DONE for the same grant: out of turn
            steps += 1
    finally:
        rogue.close()
        probe.finalize()
        probe.close()
        thread.join(30)
    summary = result["summary"]
    assert summary.status == "completed"
    assert summary.errors >= 5 * 6 + 9
    with RunStore(tmp_path / "run.sqlite") as store:
        assert list(store.series("probe.obs").values) == [[t, t] for t in (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)]
