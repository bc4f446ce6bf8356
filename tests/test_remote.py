"""A federate on another host: a second network namespace joined by a veth pair, and loopback TCP.

The namespace test needs root and iproute2 (``ip netns``); it is skipped, with the reason,
where namespaces cannot be made.  Addresses are in 10.231.0.0/16 inside this machine only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from federation.engine.coordinator import Coordinator, RunOptions
from federation.keys import make_keys
from federation.results.store import RunStore
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(90)

SCENARIO = """
time: {stop: 20, resolution: 1 s}
coordinator: {join_timeout: 30 s}
federates:
  clock: {type: "{HELPERS}:Clock"}
  remote: {type: "{HELPERS}:Affine", external: true}
  probe: {type: "{HELPERS}:Probe"}
connections:
  - clock.y -> remote.u
  - remote.y -> probe.u
"""


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


@pytest.fixture
def namespace():
    tag = os.getpid() % 10_000
    ns, host_if, ns_if = f"fedtest{tag}", f"vfh{tag}", f"vfn{tag}"
    subnet = 1 + tag % 250
    host_ip, ns_ip = f"10.231.{subnet}.1", f"10.231.{subnet}.2"
    made = _ip("netns", "add", ns)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {made.stderr.strip() or 'ip netns add failed'}")
    try:
        steps = [
            ("link", "add", host_if, "type", "veth", "peer", "name", ns_if),
            ("link", "set", ns_if, "netns", ns),
            ("addr", "add", f"{host_ip}/30", "dev", host_if),
            ("link", "set", host_if, "up"),
            ("netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if),
            ("netns", "exec", ns, "ip", "link", "set", ns_if, "up"),
            ("netns", "exec", ns, "ip", "link", "set", "lo", "up"),
        ]
        for step in steps:
            done = _ip(*step)
            if done.returncode != 0:
                pytest.skip(f"cannot wire the namespace: ip {' '.join(step)}: {done.stderr.strip()}")
        yield ns, host_ip
    finally:
        _ip("link", "del", host_if)
        _ip("netns", "del", ns)


def _run_with_remote(tmp_path, bind: str, keys, join_prefix: list[str]) -> subprocess.CompletedProcess[str]:
    scenario = load(write_scenario(tmp_path, SCENARIO))
    coordinator = Coordinator(scenario, RunOptions(out=tmp_path / "remote.sqlite", bind=bind, keys=keys))
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("summary", coordinator.run()), daemon=True)
    thread.start()
    argv = [*join_prefix, sys.executable, "-m", "federation.app.cli", "join", "--coordinator", coordinator.address,
            "--federate", "remote"] + (["--keys", str(keys)] if keys else ["--token", coordinator.join_token("remote")])  # fmt: skip
    try:
        joined = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    finally:
        thread.join(30)
    assert joined.returncode == 0, joined.stderr
    assert result["summary"].status == "completed"
    with RunStore(tmp_path / "remote.sqlite") as store:
        assert list(store.series("probe.obs").values) == [[float(t), 0.5 * t + 1] for t in range(21)]  # 0 .. stop
    return joined


def test_remote_federate_across_network_namespaces(tmp_path, namespace):
    ns, host_ip = namespace
    keys = tmp_path / "keys"
    make_keys(keys, ["remote"])
    _run_with_remote(tmp_path, f"tcp://{host_ip}", keys, ["ip", "netns", "exec", ns])


def test_remote_federate_over_loopback_tcp(tmp_path):
    _run_with_remote(tmp_path, "tcp://127.0.0.1", None, [])
