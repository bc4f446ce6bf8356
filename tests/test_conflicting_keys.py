"""Keys that exclude each other are errors: the scenario never silently ignores one of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.errors import ScenarioError
from federation.scenario.loader import load
from tests.conftest import located, write_scenario

pytestmark = pytest.mark.timeout(60)


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write_scenario(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load(path)
    return [located(p, path) for p in info.value.problems]


def test_a_federate_is_external_or_started_by_a_command_not_both(tmp_path):
    found = problems(tmp_path, """\
        time: {stop: 5}
        federates:
          remote:
            external: true
            command: [./model, "{address}"]
            interface: {outputs: {y: {}}}
        """)
    assert found == ["5: federates.remote.command: an external federate is started by hand, so the coordinator "
                     "would never run this command (keep 'external: true' or 'command')"]


def test_connection_and_route_ends_are_given_one_way(tmp_path):
    found = problems(tmp_path, """\
        time: {stop: 5}
        federates:
          a: {type: "{HELPERS}:Clock"}
          b: {type: "{HELPERS}:Probe"}
          p: {type: "{HELPERS}:Pinger"}
          l: {type: "{HELPERS}:Listener"}
        connections:
          - {connect: a.y -> b.u, from: a.y}
          - {from: a.y}
          - {to: b.u}
        messages:
          - {route: p.out -> l.inbox, from: p.out, to: l.inbox}
          - {lookahead: 1}
        """)
    assert found == [
        "8: connections[0]: give the ends either in 'connect' or in 'from' and 'to', not both",
        "9: connections[1]: missing: to",
        "10: connections[2]: missing: from",
        "12: messages[0]: give the ends either in 'route' or in 'from' and 'to', not both",
        "13: messages[1]: missing: route (or from and to)",
    ]


def test_other_keys_that_would_be_ignored(tmp_path):
    found = problems(tmp_path, """\
        time: {stop: 5}
        federates:
          a: {type: "{HELPERS}:Clock", interface: {outputs: {y: {}}}}
          l: {type: "{HELPERS}:Listener", offset: 2}
          x: {type: "{HELPERS}:Loop", restart: scratch}
          y: {type: "{HELPERS}:Loop"}
          hand: {type: "{HELPERS}:Clock", external: true, restart: scratch}
        connections:
          - {from: x.x_out, to: y.x_in, iterate: pair, interpolate: linear}
          - {from: y.x_out, to: x.x_in, iterate: pair}
        iterate:
          pair: {}
        events:
          - {at: 1, set: l.u, value: 1.0, payload: 2.0}
          - {at: 1, send: l.inbox, value: 3}
        """)
    assert found == [
        "3: federates.a.interface: a federate with a type has the interface its class declares; "
        "'interface' is for federates without one",
        "4: federates.l.offset: an event-driven federate (no period) ignores an offset; give it a period or "
        "remove the offset",
        "5: federates.x.restart: 'x' is a member of iterate group 'pair', which steps as one and cannot restart "
        "a member",
        "7: federates.hand.restart: an external federate is started by hand, so the coordinator cannot restart it",
        "9: connections[0]: linear interpolation needs a direct connection, not an iterated one",
        "14: events[0].payload: a 'set' event takes 'value', not 'payload'",
        "15: events[1].value: a 'send' event takes 'payload', not 'value'",
    ]
