"""Limits: frame size, number of federates, messages per step -- and what happens past them."""

from __future__ import annotations

import pytest

from federation.errors import ScenarioError
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)


def test_messages_past_the_per_step_limit_are_refused_and_the_rest_kept(run_scenario, caplog):
    schedule = [[1.0, 1.0, i] for i in range(5)]
    summary, store = run_scenario(f"""
        time: {{stop: 3, resolution: 1 s}}
        coordinator: {{max_messages_per_step: 3}}
        federates:
          pinger: {{type: "{{HELPERS}}:Pinger", params: {{schedule: {schedule}}}}}
          listener: {{type: "{{HELPERS}}:Listener"}}
        messages:
          - pinger.out -> listener.inbox
        """)
    assert [m[3] for m in store.messages()] == [0, 1, 2]
    assert summary.errors == 1
    assert any("5 messages in one step exceed the limit of 3" in r.message for r in caplog.records)


def test_too_many_federates_is_a_scenario_error(tmp_path):
    feds = "\n".join(f"  f{i}: {{type: \"{{HELPERS}}:Clock\"}}" for i in range(4))
    path = write_scenario(tmp_path, f"time: {{stop: 1}}\ncoordinator: {{max_federates: 3}}\nfederates:\n{feds}\n")
    with pytest.raises(ScenarioError, match=r"4 federates exceed the limit of 3 \(coordinator.max_federates\)"):
        load(path)


def test_bad_coordinator_settings_are_reported(tmp_path):
    path = write_scenario(tmp_path, """
        time: {stop: 1}
        coordinator: {heartbeat: -1, frame_limit: 0, grant_timeout: soon, wat: 1}
        federates:
          a: {type: "{HELPERS}:Clock"}
        """)
    with pytest.raises(ScenarioError) as info:
        load(path)
    text = str(info.value)
    for want in ("coordinator.heartbeat: must be a positive time", "coordinator.frame_limit: expected an integer",
                 "coordinator.grant_timeout: expected a duration", "coordinator.wat: unknown key"):
        assert want in text
