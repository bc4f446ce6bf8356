"""Where the coordinator listens is checked when the scenario is validated, not when the run binds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from federation.errors import ScenarioError
from federation.keys import make_keys
from federation.results.store import RunStore
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

SCENARIO = """\
time: {{stop: 3, resolution: 1 s}}
coordinator:
  {coordinator}
federates:
  clock: {{type: "{{HELPERS}}:Clock"}}
  probe: {{type: "{{HELPERS}}:Probe", external: {external}}}
connections:
  - clock.y -> probe.u
"""


def problems(tmp_path: Path, coordinator: str, external: str = "false") -> list[str]:
    path = write_scenario(tmp_path, SCENARIO.format(coordinator=coordinator, external=external))
    with pytest.raises(ScenarioError) as info:
        load(path)
    return [str(p).removeprefix(f"{path}:") for p in info.value.problems]


@pytest.mark.parametrize("bind, message", [
    ("tcp://127.0.0.1:99999", "port '99999' is not a number from 1 to 65535 (or * for a free one)"),
    ("tcp://127.0.0.1:-1", "port '-1' is not a number from 1 to 65535 (or * for a free one)"),
    ("tcp://127.0.0.1:0", "port '0' is not a number from 1 to 65535 (or * for a free one)"),
    ("garbage", "expected tcp://HOST[:PORT] or ipc://PATH, got 'garbage'"),
    ("udp://127.0.0.1:5555", "transport 'udp' is not supported (expected tcp://HOST[:PORT] or ipc://PATH)"),
    ("tcp://[::1]:5555", "IPv6 addresses are not supported; use an IPv4 address or a host name"),
    ("tcp://300.1.2.3:5555", "'300.1.2.3' is not a host name, an IPv4 address or *"),
    ("tcp://0.0.0.0:5555", "listening on tcp://0.0.0.0:5555, beyond loopback, needs CurveZMQ keys"),
    ("tcp://*", "listening on tcp://*, beyond loopback, needs CurveZMQ keys"),
])  # fmt: skip
def test_a_bad_bind_address_is_a_scenario_error_at_its_line(tmp_path, bind, message):
    found = problems(tmp_path, f"bind: {bind!r}")
    assert len(found) == 1 and found[0].startswith(f"3:3: coordinator.bind: {message}"), found


def test_loopback_addresses_need_no_keys(tmp_path):
    for bind in ("tcp://127.0.0.1", "tcp://localhost:5555", "tcp://127.0.0.1:*", "ipc:///tmp/f.sock"):
        load(write_scenario(tmp_path, SCENARIO.format(coordinator=f"bind: {bind!r}", external="false")))


def test_a_keys_folder_must_hold_what_the_run_needs(tmp_path):
    found = problems(tmp_path, "{bind: 'tcp://0.0.0.0:5555', keys: nowhere}")
    assert found == [f"3:32: coordinator.keys: keys folder {tmp_path}/nowhere does not exist "
                     f"(make it with 'federation keys {tmp_path}/nowhere NAME ...')"]
    (tmp_path / "empty").mkdir()
    found = problems(tmp_path, "{bind: 'tcp://0.0.0.0:5555', keys: empty}")
    assert len(found) == 2 and all(p.startswith("3:32: coordinator.keys: cannot read key file") for p in found)
    make_keys(tmp_path / "keys", [])  # the coordinator's pair, but no key for the external probe
    found = problems(tmp_path, "{bind: 'tcp://0.0.0.0:5555', keys: keys}", external="true")
    assert found == [f"3:32: coordinator.keys: {tmp_path}/keys authorizes no key for external federate 'probe', which "
                     f"could never join: there is no clients/probe.key (make it with 'federation keys "
                     f"{tmp_path}/keys probe')"]
    make_keys(tmp_path / "keys", ["probe"])
    load(write_scenario(tmp_path, SCENARIO.format(coordinator="{bind: 'tcp://0.0.0.0:5555', keys: keys}",
                                                  external="true")))  # fmt: skip


def federation(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.app.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)  # fmt: skip


def test_bind_and_keys_options_are_checked_before_the_run_and_blamed_on_the_command_line(tmp_path):
    path = write_scenario(tmp_path, SCENARIO.format(coordinator="{}", external="false"))
    out = tmp_path / "run.sqlite"
    result = federation("run", str(path), "--bind", "tcp://0.0.0.0:5555", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("--bind tcp://0.0.0.0:5555: listening on tcp://0.0.0.0:5555, beyond loopback, "
                                    "needs CurveZMQ keys"), result.stderr  # fmt: skip
    result = federation("run", str(path), "--bind", "tcp://127.0.0.1:70000", "--keys", "k", "--out", str(out),
                        cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert sorted(result.stderr.splitlines()) == [
        "--bind tcp://127.0.0.1:70000: port '70000' is not a number from 1 to 65535 (or * for a free one)",
        f"--keys k: keys folder {tmp_path}/k does not exist (make it with 'federation keys {tmp_path}/k NAME ...')",
    ]
    assert not out.exists()


def test_a_run_listens_on_an_ipc_socket(tmp_path):
    """Every other run binds tcp://127.0.0.1:* (a free port); this one a Unix socket."""
    path = write_scenario(tmp_path, SCENARIO.format(coordinator="{}", external="false"))
    out = tmp_path / "run.sqlite"
    result = federation("run", str(path), "--bind", f"ipc://{tmp_path}/coordinator.sock", "--out", str(out), "-q",
                        cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with RunStore(out) as store:
        assert store.series("probe.obs").values[-1] == [3.0, 3.0]  # the step at stop
