"""Security: loopback by default, CurveZMQ beyond it, keys bound to federate names, authorization."""

from __future__ import annotations

import logging
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time

import msgpack
import pytest
import zmq

from federation import protocol
from federation.address import is_loopback
from federation.engine.coordinator import Coordinator, RunOptions
from federation.errors import FederateError, FederationError
from federation.keys import client_keys, make_keys
from federation.protocol import ErrorCode, Kind
from federation.results.store import RunStore
from federation.scenario.loader import load
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
    result = subprocess.run([sys.executable, "-m", "federation.app.cli", "keys", str(tmp_path / "k"), "grid"],
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
    sock.setsockopt(zmq.SNDTIMEO, wait_ms)  # a refused handshake that ends before the send leaves no peer to queue for
    sock.connect(address)
    try:
        try:
            sock.send(msgpack.packb([Kind.HELLO, protocol.PROTOCOL_VERSION, name, {}]))
        except zmq.Again:  # refused already (a slow or loaded test thread): nothing reached the coordinator
            return None
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
            [sys.executable, "-m", "federation.app.cli", "join", "--coordinator", coordinator.address,
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
    from federation.engine.runtime import Runtime

    rogue = Runtime(coordinator.address, "probe", token=coordinator.join_token("probe"))
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


# ---------------------------------------------------------------------------- refused joiners (issue 12, item 20)
def _join(address: str, name: str, *extra: str, timeout: float = 30) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "federation.app.cli", "join", "--coordinator", address, "--federate", name,
                           *extra], capture_output=True, text=True, timeout=timeout)  # fmt: skip
    return done, time.monotonic() - start


def _start(coordinator: Coordinator) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def run() -> None:
        try:
            result["summary"] = coordinator.run()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_a_joiner_with_a_refused_key_exits_1_in_one_line_three_times_in_a_row(tmp_path, keys):
    wrong = tmp_path / "wrong"  # the right coordinator key, but a key pair the coordinator never authorized
    wrong.mkdir()
    shutil.copy(keys / "intruder.key_secret", wrong / "probe.key_secret")
    shutil.copy(keys / "coordinator.key", wrong / "coordinator.key")
    coordinator = Coordinator(load(write_scenario(tmp_path, SCENARIO)), RunOptions(out=tmp_path / "k.sqlite", keys=keys))
    thread, result = _start(coordinator)
    try:
        for _ in range(3):
            refused, seconds = _join(coordinator.address, "probe", "--keys", str(wrong))
            assert refused.returncode == 1 and seconds < 10, (seconds, refused.stderr)
            assert refused.stderr.strip().splitlines() == [
                ("federation: federate 'probe': the coordinator refused this federate's CurveZMQ key (ZAP status 400): "
                 "its public key is not in the coordinator's clients/ folder")]
        joined, _ = _join(coordinator.address, "probe", "--keys", str(keys))
        assert joined.returncode == 0, joined.stderr
    finally:
        thread.join(30)
    assert result["summary"].status == "completed"


def test_a_joiner_without_keys_or_with_another_coordinators_key_is_told_why(tmp_path, keys):
    other = tmp_path / "other"
    make_keys(other, [])  # another coordinator's pair
    shutil.copy(keys / "probe.key_secret", other / "probe.key_secret")
    coordinator = Coordinator(load(write_scenario(tmp_path, SCENARIO)),
                              RunOptions(out=tmp_path / "k.sqlite", keys=keys, join_timeout=15))  # fmt: skip
    thread, _ = _start(coordinator)
    try:
        plain, seconds = _join(coordinator.address, "probe")
        assert plain.returncode == 1 and seconds < 10 and "Traceback" not in plain.stderr
        assert re.search(r"the coordinator (requires CurveZMQ: join|hung up during the handshake \(.*\): it probably "
                         r"requires CurveZMQ \(join) with --keys DIR", plain.stderr), plain.stderr  # which end sees it first is a race
        stranger, seconds = _join(coordinator.address, "probe", "--keys", str(other))
        assert stranger.returncode == 1 and seconds < 10 and "Traceback" not in stranger.stderr
        assert "coordinator.key is probably not this coordinator's public key" in stranger.stderr
    finally:
        coordinator.request_stop("test over")
        thread.join(30)


def test_a_joiner_with_an_unknown_name_exits_1_in_one_line(tmp_path):
    coordinator = Coordinator(load(write_scenario(tmp_path, SCENARIO)),
                              RunOptions(out=tmp_path / "n.sqlite", join_timeout=15))  # fmt: skip
    thread, _ = _start(coordinator)
    try:
        refused, seconds = _join(coordinator.address, "nobody")
        assert refused.returncode == 1 and seconds < 10
        assert refused.stderr.strip().splitlines() == [
            "federation: federate 'nobody': join refused: no federate named 'nobody' in scenario 'scenario'"]
        debug = subprocess.run([sys.executable, "-m", "federation.app.cli", "--debug", "join", "--coordinator",
                                coordinator.address, "--federate", "nobody"], capture_output=True, text=True, timeout=30)  # fmt: skip
        assert debug.returncode == 1 and "Traceback" in debug.stderr  # the traceback only with --debug
    finally:
        coordinator.request_stop("test over")
        thread.join(30)


# ---------------------------------------------------------------------------- failed handshakes (item 21)
def test_failed_handshakes_are_logged_once_then_counted(tmp_path, keys, caplog):
    caplog.set_level(logging.WARNING, logger="federation")
    coordinator = Coordinator(load(write_scenario(tmp_path, SCENARIO)), RunOptions(out=tmp_path / "h.sqlite", keys=keys))
    thread, result = _start(coordinator)
    try:
        for _ in range(5):  # clients without CurveZMQ
            assert _plain_hello(coordinator.address, "probe", wait_ms=300) is None
        assert _plain_hello(coordinator.address, "probe", client_keys(keys, "intruder"), wait_ms=300) is None
        joined, _ = _join(coordinator.address, "probe", "--keys", str(keys))
        assert joined.returncode == 0, joined.stderr
    finally:
        thread.join(30)
    assert result["summary"].status == "completed"
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    # a client without CurveZMQ fails as a mechanism mismatch or, when it hangs up first, as a broken handshake
    plain = r"(a client without CurveZMQ \(this coordinator requires keys\)|a client that hung up during the " \
            r"handshake \(Broken pipe\): most likely one without CurveZMQ)"  # fmt: skip
    assert len(lines) == 2, lines  # the first failure, then one line for all the others
    assert re.fullmatch(f"refused a connection on {re.escape(coordinator.address)}: {plain}; it cannot join or "
                        "send anything", lines[0]), lines[0]  # fmt: skip
    intruder = client_keys(keys, "intruder")["public"].decode()
    assert re.fullmatch(rf"refused (\d+) more connection\(s\) on {re.escape(coordinator.address)}: .*"
                        rf"1 x a CurveZMQ client at 127.0.0.1 with the unknown key {re.escape(intruder)}.*", lines[1]), lines[1]  # fmt: skip
    assert coordinator.handshakes.failed >= 6


# ---------------------------------------------------------------------------- names bound to processes (item 22)
STARTED = """
time: {stop: 5, resolution: 1 s}
federates:
  clock: {type: "{HELPERS}:Clock"}
  probe: {type: "{HELPERS}:Probe"}
connections:
  - clock.y -> probe.u
"""


def _hello_from_stranger(address: str, name: str, options: dict) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(address)
    sock.send(msgpack.packb([Kind.HELLO, protocol.PROTOCOL_VERSION, name, options]))
    return sock


def test_a_stranger_cannot_take_the_name_of_a_federate_the_coordinator_starts(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="federation")
    coordinator = Coordinator(load(write_scenario(tmp_path, STARTED)), RunOptions(out=tmp_path / "s.sqlite"))
    # queued before the run starts its federates: the strangers' HELLOs are the first ones the coordinator reads
    strangers = [_hello_from_stranger(coordinator.address, "probe", {}),
                 _hello_from_stranger(coordinator.address, "clock", {"token": "guessed"})]  # fmt: skip
    thread, result = _start(coordinator)
    try:
        replies = [protocol.decode(s.recv()) if s.poll(20_000) else None for s in strangers]
    finally:
        thread.join(30)
        for s in strangers:
            s.close()
    started = "is a federate this coordinator starts itself, and only that process has its token ($FEDERATION_TOKEN)"
    assert replies == [
        [Kind.ERROR, ErrorCode.UNKNOWN_FEDERATE, f"HELLO as 'probe' with no token: 'probe' {started}"],
        [Kind.ERROR, ErrorCode.UNKNOWN_FEDERATE, f"HELLO as 'clock' with a wrong token: 'clock' {started}"],
    ]
    assert result["summary"].status == "completed"  # the real federates joined and were not blamed
    warnings = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused a HELLO")]
    assert [re.sub(r"connection [0-9a-f]+", "connection X", w).split(": HELLO")[0] for w in warnings] == [
        "refused a HELLO as 'probe' from 127.0.0.1 (connection X)", "refused a HELLO as 'clock' from 127.0.0.1 (connection X)"]
    with RunStore(tmp_path / "s.sqlite") as store:
        assert list(store.series("probe.obs").values) == [[t, t] for t in (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)]


def test_join_tokens_reach_no_command_line_store_or_log(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="federation")
    coordinator = Coordinator(load(write_scenario(tmp_path, STARTED)), RunOptions(out=tmp_path / "t.sqlite", debug=True))
    coordinator.run()
    tokens = [coordinator.tokens.issue(name) for name in ("clock", "probe")]  # issue() returns the run's token
    argvs = " ".join(" ".join(child.argv) for child in coordinator.launcher.children.values())
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".yaml"]
    assert any(p.name == "probe.log" for p in files) and any(p.name.startswith("t.sqlite") for p in files)
    for token in tokens:
        assert token not in argvs and token not in caplog.text
        assert not [p for p in files if token.encode() in p.read_bytes()]


RAW_FEDERATE = '''
"""A federate speaking the wire protocol with pyzmq and msgpack only: y = t."""
import os

import msgpack
import zmq

sock = zmq.Context().socket(zmq.DEALER)
sock.connect(os.environ["FEDERATION_COORDINATOR"])
send = lambda frame: sock.send(msgpack.packb(frame))
send([1, 1, os.environ["FEDERATION_NAME"], {"token": os.environ["FEDERATION_TOKEN"], "lang": "python-raw"}])
config = msgpack.unpackb(sock.recv())[1]
send([3, {"outputs": [["y", "float", "s", 0.0]]}])
while True:
    frame = msgpack.unpackb(sock.recv(), strict_map_key=False)
    if frame[0] == 4:
        send([5, frame[1], frame[2], {0: frame[1] * config["resolution"]}, [], None])
    elif frame[0] == 6:
        send([7])
        break
sock.close(linger=1000)
'''


def test_a_command_federate_joins_with_the_token_from_its_environment(run_scenario, tmp_path):
    (tmp_path / "raw.py").write_text(RAW_FEDERATE, encoding="utf-8")
    summary, store = run_scenario(f"""
        time: {{stop: 4, resolution: 1 s}}
        federates:
          raw:
            command: ["{sys.executable}", raw.py]
            period: 1
            interface: {{outputs: {{y: {{unit: s}}}}}}
          probe: {{type: "{{HELPERS}}:Probe"}}
        connections:
          - raw.y -> probe.u
        """)
    assert summary.status == "completed"
    assert list(store.series("probe.obs").values) == [[t, t] for t in (0.0, 1.0, 2.0, 3.0, 4.0)]


def test_an_external_federate_joins_with_the_token_the_run_prints(tmp_path):
    path = write_scenario(tmp_path, SCENARIO)
    run = subprocess.Popen([sys.executable, "-m", "federation.app.cli", "run", str(path), "--out", str(tmp_path / "e.sqlite"),
                            "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert run.stderr.readline().startswith("federation: coordinator at tcp://127.0.0.1:")
        command = shlex.split(run.stderr.readline())  # federation join --coordinator ADDR --federate probe --token T
        assert command[:2] == ["federation", "join"] and command[-2] == "--token"
        stranger, _ = _join(command[3], "probe")  # the same command without the token
        assert stranger.returncode == 1 and "HELLO as 'probe' with no token" in stranger.stderr
        joined = subprocess.run([sys.executable, "-m", "federation.app.cli", *command[1:]], capture_output=True, text=True,
                                timeout=40)  # fmt: skip
        assert joined.returncode == 0, joined.stderr
        _, stderr = run.communicate(timeout=30)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == 0, stderr
    assert "refused a HELLO as 'probe' from 127.0.0.1" in stderr  # the coordinator says who it refused


def test_join_tokens_are_never_read_as_command_line_options():
    from federation.engine.security import JoinTokens

    tokens = JoinTokens()
    issued = [tokens.issue(f"f{i}") for i in range(2000)]
    assert not [t for t in issued if t.startswith("-")]
    assert len(set(issued)) == len(issued) and all(len(t) == 48 for t in issued)
