"""Level-4 decision gate: policy, terminal, control endpoint, timeouts; level 5 autonomy."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading

import pytest
import zmq

from federation.decisions.gate import Autonomy
from federation.engine.coordinator import Coordinator, RunOptions
from federation.errors import ScenarioError
from federation.results.store import RunStore
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

BASE = """
time: {stop: 6, resolution: 1 s}
federates:
  operator: {type: "{HELPERS}:Proposer", params: {plan: [[1.0, 0.9], [3.0, 0.4]]}}
  plant: {type: "{HELPERS}:Actuator"}
messages:
  - operator.setting -> plant.setting
decisions:
  require_approval: [operator.setting]
"""

POLICY = BASE + """
  default: reject
  policy:
    - match: {class: operator.setting, field: value, above: 0.8}
      verdict: edit
      set: {value: 0.8}
      note: cap at 80 %%
    - match: {class: operator.*}
      verdict: %s
"""


def _values(store: RunStore) -> list[tuple[float, float]]:
    series = store.series("plant.value")
    return list(zip(series.times, series.values))


def test_policy_edits_and_approves(run_scenario):
    summary, store = run_scenario(POLICY % "approve")
    assert _values(store) == [(0.0, 0.0), (1.0, 0.8), (3.0, 0.4)]  # 0.9 was capped by the edit rule
    rows = store.decisions()
    assert [(r["time"], r["verdict"], r["decided_by"]) for r in rows] == [
        (1.0, "edited", "policy rule 1 (line 13)"),
        (3.0, "approved", "policy rule 2 (line 17)"),
    ]
    assert json.loads(rows[0]["proposal"])["value"] == 0.9 and json.loads(rows[0]["final"])["value"] == 0.8
    assert rows[0]["note"] == "cap at 80 %" and rows[0]["target"] == "plant.setting"
    assert summary.decisions == 2


def test_policy_rejection_keeps_the_old_setting(run_scenario):
    _, store = run_scenario(POLICY % "reject")
    assert _values(store) == [(0.0, 0.0), (1.0, 0.8)]
    assert [r["verdict"] for r in store.decisions()] == ["edited", "rejected"]


def test_full_autonomy_never_asks(run_scenario):
    """Level 5: an 'ask' rule falls to the default because no human is consulted."""
    _, store = run_scenario(POLICY % "ask", autonomy=Autonomy.FULL, interactive=True)
    assert [(r["verdict"], r["decided_by"]) for r in store.decisions()] == [
        ("edited", "policy rule 1 (line 13)"),
        ("rejected", "policy default (no operator)"),
    ]


def test_terminal_prompt_edit_changes_the_outcome(tmp_path):
    path = write_scenario(tmp_path, BASE)
    out = tmp_path / "run.sqlite"
    result = subprocess.run(
        [sys.executable, "-m", "federation.app.cli", "run", str(path), "--out", str(out), "--interactive"],
        input="x\ne\n{value: 0.25}\na\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "[decision 1] t=1 s  operator.setting -> plant.setting  proposes {\"reason\": \"test\", \"value\": 0.9}" in result.stderr
    assert "please answer a, r or e" in result.stderr
    assert "\x1b[" not in result.stderr and "ETA" not in result.stderr  # no progress bar in a pipe
    with RunStore(out) as store:
        assert _values(store) == [(0.0, 0.0), (1.0, 0.25), (3.0, 0.4)]
        assert [(r["verdict"], r["decided_by"]) for r in store.decisions()] == [
            ("edited", "operator at the terminal"),
            ("approved", "operator at the terminal"),
        ]


def test_control_endpoint_decides_and_the_instant_is_held(tmp_path):
    scenario = load(write_scenario(tmp_path, BASE))
    coordinator = Coordinator(scenario, RunOptions(out=tmp_path / "run.sqlite", control="tcp://127.0.0.1"))
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("summary", coordinator.run()), daemon=True)
    thread.start()
    client = zmq.Context.instance().socket(zmq.REQ)
    client.setsockopt(zmq.LINGER, 0)
    client.setsockopt(zmq.RCVTIMEO, 10_000)
    client.connect(coordinator.gate.control_address)

    (operator, token), = [(n, t) for n, t in coordinator.control_tokens.items() if n != "viewer"]

    def ask(request: dict, token: str | None = token) -> dict:
        client.send_string(json.dumps({**request, "token": token}))
        return json.loads(client.recv())

    try:
        # built from Python, not the CLI: the endpoint still needs a token (made at construction)
        assert ask({"op": "pending"}, token=None) == {"ok": False, "error": "unauthorized: the request needs a valid 'token'"}
        answers = [("edit", {"value": 0.33}), ("reject", None)]
        seen_times = []
        while answers:
            pending = ask({"op": "pending"})["pending"]
            if not pending:
                assert ask({"op": "status"})["ok"]
                continue
            proposal = pending[0]
            status = ask({"op": "status"})
            assert status["time"] <= proposal["time"]  # the federation waits at the proposal's instant
            seen_times.append(proposal["time"])
            verdict, payload = answers.pop(0)
            if not answers:  # while the run is still held: bad requests get an answer, not a hang
                assert ask({"op": "decide", "id": 99, "verdict": "approve"})["ok"] is False
                assert ask({"op": "nonsense"})["error"].startswith("unknown op")
            reply = ask({"op": "decide", "id": proposal["id"], "verdict": verdict, "payload": payload, "by": "test"})
            assert reply == {"ok": True}
    finally:
        client.close()
        thread.join(30)
    assert seen_times == [1.0, 3.0]
    assert result["summary"].status == "completed"
    with RunStore(tmp_path / "run.sqlite") as store:
        assert _values(store) == [(0.0, 0.0), (1.0, 0.33)]
        assert [r["decided_by"] for r in store.decisions()] == [f"control endpoint: {operator}"] * 2  # not 'by'


def test_unanswered_proposal_gets_the_default_after_the_timeout(run_scenario):
    text = BASE + "  timeout: 0.3 s\n  default: approve\n"
    _, store = run_scenario(text, control="tcp://127.0.0.1")
    assert [r["decided_by"] for r in store.decisions()] == ["timeout default after 0.3 s"] * 2
    assert _values(store)[-1] == (3.0, 0.4)


def test_bad_decision_section_is_a_scenario_error(tmp_path):
    text = BASE.replace("[operator.setting]", "[operator.nothing]") + "  policy:\n    - {match: {above: x}, verdict: maybe}\n"
    with pytest.raises(ScenarioError) as info:
        load(write_scenario(tmp_path, text))
    text = str(info.value)
    assert "decisions.require_approval[0]: no endpoint 'operator.nothing'" in text
    assert "decisions.policy[0].verdict: expected approve, edit, reject or ask" in text


def test_control_endpoint_refuses_an_edit_that_does_not_fit(tmp_path):
    """Through the real CLI: a refused edit is answered with the reason, and the proposal stays pending."""
    path = write_scenario(tmp_path, BASE)
    out = tmp_path / "run.sqlite"
    users = tmp_path / "users"
    users.write_text("ops operator ops-token-0123456789\n")
    users.chmod(0o600)
    argv = [sys.executable, "-m", "federation.app.cli", "run", str(path), "--out", str(out), "--control", "tcp://127.0.0.1",
            "--users", str(users)]  # the control endpoint authenticates every request (docs/console.md)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    client = zmq.Context.instance().socket(zmq.REQ)
    client.setsockopt(zmq.LINGER, 0)
    client.setsockopt(zmq.RCVTIMEO, 10_000)

    def ask(request: dict) -> dict:
        client.send_string(json.dumps({**request, "token": "ops-token-0123456789"}))
        return json.loads(client.recv())

    def pending() -> list[dict]:
        while not (found := ask({"op": "pending"})["pending"]):
            pass  # each request is a round trip to the coordinator: it waits for the proposal
        return found

    try:
        banner = proc.stderr.readline()
        assert banner.startswith("federation: decision control endpoint at tcp://127.0.0.1:"), banner
        client.connect(banner.rsplit(" ", 1)[1].strip())
        first = pending()[0]
        refused = {
            "value 0.3": "an edit is a mapping of the payload's fields to new values, e.g. {value: 0.9}; "
                         "got 'value 0.3'",
            "[0.3]": "an edit is a mapping of the payload's fields to new values, e.g. {value: 0.9}; got [0.3]",
            '{"value": "0.3"}': "value: expected float, got str '0.3' (as operator.setting declares)",
            '{"value": -0.1}': "value: must be in [0, 1], got -0.1 (as operator.setting declares)",
            '{"reason": 7}': "reason: expected a text like the proposal's 'test', got 7",
            '{"level": 0.3}': "level: no such field in the proposal (it has value, reason)",
        }  # fmt: skip
        for payload, error in refused.items():
            reply = ask({"op": "decide", "id": first["id"], "verdict": "edit", "payload": json.loads(payload)}
                        if payload.startswith(("{", "[")) else
                        {"op": "decide", "id": first["id"], "verdict": "edit", "payload": payload})  # fmt: skip
            assert reply == {"ok": False, "error": error}
            assert [p["id"] for p in ask({"op": "pending"})["pending"]] == [first["id"]]
        assert ask({"op": "decide", "id": first["id"], "verdict": "edit", "payload": {"value": 1}}) == {"ok": True}
        second = pending()[0]
        assert ask({"op": "decide", "id": second["id"], "verdict": "approve"}) == {"ok": True}
        assert proc.wait(30) == 0, proc.stderr.read()
    finally:
        client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(20)
        proc.stderr.close()
    with RunStore(out) as store:
        assert _values(store) == [(0.0, 0.0), (1.0, 1.0), (3.0, 0.4)]
        rows = store.decisions()
        assert json.loads(rows[0]["final"]) == {"value": 1, "reason": "test"}


def test_a_policy_edit_that_does_not_fit_leaves_the_proposal_to_the_default(run_scenario, caplog):
    """The rule's set: breaks the declared range of operator.setting: the rule does not decide."""
    text = BASE + "  default: approve\n  policy:\n    - {match: {field: value, above: 0.8}, verdict: edit, set: {value: 2}}\n"
    _, store = run_scenario(text)
    assert [(r["time"], r["verdict"], r["decided_by"]) for r in store.decisions()] == [
        (1.0, "approved", "policy default (no operator)"),
        (3.0, "approved", "policy default"),
    ]
    assert _values(store) == [(0.0, 0.0), (1.0, 0.9), (3.0, 0.4)]
    assert ("decision 1: policy rule 1 (line 12) cannot edit operator.setting: value: must be in [0, 1], got 2 "
            "(as operator.setting declares); it is decided as 'ask'") in caplog.messages  # fmt: skip
