"""Security: loopback by default, CurveZMQ beyond it, keys bound to federate names, authorization."""

from __future__ import annotations

import subprocess
import sys
import threading

import msgpack
import pytest
import zmq

from federation import protocol
from federation.coordinator import Coordinator, RunOptions
from federation.errors import FederateError, FederationError
from federation.protocol import ErrorCode, Kind
from federation.scenario import load
from federation.security import client_keys, is_loopback, make_keys
from federation.store import RunStore
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

SCENARIO = """
time: {stop: 5, resolution: 1 s}
coordinator: {join_timeout: 20 s}
federates:
  clock: {type: "{HELPERS}:Clock"}
  probe: {type: "{HELPERS}:Probe", external: true}
connections:
  - clock.y -> probe.u
"""


@pytest.fixture
def keys(tmp_path):
    make_keys(tmp_path / "keys", ["probe", "intruder"])
    (tmp_path / "keys" / "clients" / "intruder.key").unlink()  # made, but never authorized
    return tmp_path / "keys"


def test_loopback_detection():
    assert is_loopback("tcp://127.0.0.1:5555") and is_loopback("tcp://localhost") and is_loopback("ipc:///tmp/x")
    assert not is_loopback("tcp://0.0.0.0:5555") and not is_loopback("tcp://10.1.2.3")


def test_binding_beyond_loopback_needs_keys(tmp_path):
    scenario = load(write_scenario(tmp_path, SCENARIO))
    with pytest.raises(FederationError, match=r"binding to tcp://0.0.0.0 needs CurveZMQ keys"):
        Coordinator(scenario, RunOptions(out=tmp_path / "x.sqlite", bind="tcp://0.0.0.0"))


def test_keys_command_writes_pairs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "federation.cli", "keys", str(tmp_path / "k"), "grid"],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 0
    names = sorted(p.relative_to(tmp_path / "k").as_posix() for p in (tmp_path / "k").rglob("*.key*"))
    assert names == ["clients/grid.key", "coordinator.key", "coordinator.key_secret", "grid.key", "grid.key_secret"]
    assert oct((tmp_path / "k" / "grid.key_secret").stat().st_mode & 0o777) == "0o600"


def _plain_hello(address: str, name: str, curve: dict | None = None, wait_ms: int = 1500) -> list | None:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if curve:
        sock.curve_secretkey, sock.curve_publickey, sock.curve_serverkey = curve["secret"], curve["public"], curve["server"]
    sock.connect(address)
    try:
        sock.send(msgpack.packb([Kind.HELLO, protocol.PROTOCOL_VERSION, name, {}]))
        return protocol.decode(sock.recv()) if sock.poll(wait_ms) else None
    finally:
        sock.close()


def test_only_known_keys_join_each_as_its_own_federate(tmp_path, keys):
    scenario = load(write_scenario(tmp_path, SCENARIO))
    coordinator = Coordinator(scenario, RunOptions(out=tmp_path / "sec.sqlite", keys=keys))
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("summary", coordinator.run()), daemon=True)
    thread.start()
    try:
        assert _plain_hello(coordinator.address, "probe") is None  # no CurveZMQ: no answer at all
        assert _plain_hello(coordinator.address, "probe", client_keys(keys, "intruder")) is None  # unknown key
        # a known key, but for another federate name, is refused
        impostor = client_keys(keys, "probe")
        reply = _plain_hello(coordinator.address, "clock", impostor)
        assert reply[:2] == [Kind.ERROR, ErrorCode.UNKNOWN_FEDERATE] and "not authorized to join as 'clock'" in reply[2]
        joined = subprocess.run(
            [sys.executable, "-m", "federation.cli", "join", "--coordinator", coordinator.address,
             "--federate", "probe", "--keys", str(keys)], capture_output=True, text=True, timeout=40)  # fmt: skip
        assert joined.returncode == 0, joined.stderr
    finally:
        thread.join(30)
    assert result["summary"].status == "completed"
    assert coordinator.curve.refused >= 1
    with RunStore(tmp_path / "sec.sqlite") as store:
        assert list(store.series("probe.obs").values) == [[t, t] for t in (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)]


AUTHZ = """
time: {stop: 5, resolution: 1 s}
federates:
  pinger: {type: "{HELPERS}:Pinger", params: {schedule: [[1.0, 1.0, ok]]}}
  listener: {type: "{HELPERS}:Listener"}
%s
"""


def test_a_message_class_without_a_route_is_refused_and_the_run_goes_on(run_scenario, caplog):
    summary, store = run_scenario(AUTHZ % "")
    assert summary.status == "completed" and summary.errors == 1
    assert store.messages() == []
    assert any("endpoint 'out' has no route in the scenario; message dropped" in r.message for r in caplog.records)


def test_publishing_an_undeclared_output_fails_the_run_naming_the_federate(tmp_path):
    scenario = load(write_scenario(tmp_path, SCENARIO))
    coordinator = Coordinator(scenario, RunOptions(out=tmp_path / "bad.sqlite"))
    errors: list = []
    thread = threading.Thread(target=lambda: errors.append(_capture(coordinator.run)), daemon=True)
    thread.start()
    from federation.runtime import Runtime

    rogue = Runtime(coordinator.address, "probe")
    try:
        rogue.start(rogue.join())
        frame = rogue.receive()
        rogue.send([Kind.DONE, frame[1], 0, {7: 1.0}, [], None])  # output 7 does not exist
    finally:
        thread.join(30)
        rogue.finalize()
        rogue.close()
    assert isinstance(errors[0], FederateError) and "DONE names output index 7" in str(errors[0])


def _capture(func):
    try:
        return func()
    except Exception as exc:  # noqa: BLE001 - returned to the test
        return exc
