"""Scenario fuzzing: mutated scenario files always give a clean ScenarioError, located by file and line.

Valid scenarios (``scenarios/*.yaml`` and small texts covering every section) are mutated
by hypothesis three ways: structurally (deleted keys, wrong types, bad references,
cycles, huge and negative numbers), as text (lines cut, doubled, shifted; YAML tokens,
unicode junk and invalid UTF-8 inserted), and through a template whose fields take
hostile YAML (``1e308``, ``2**70``, ``.nan``, bad tags, alias bombs, recursive aliases,
deep nesting).  ``load()`` must then return a scenario whose values can all be sent to
the federates, or raise :class:`ScenarioError` whose every problem names the file and a
line >= 1 -- never another exception, never a hang (a CPU-time guard per example).  A few files also go through ``federation validate``.
"""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from federation import protocol
from federation.errors import ScenarioError
from federation.scenario.loader import load
from federation.scenario.model import Scenario
from tests.conftest import HELPERS, ROOT

pytestmark = pytest.mark.timeout(180)

CPU_LIMIT = 5.0  # seconds of CPU one load() may take before it counts as a hang
# No wall-clock deadline: CPU_LIMIT bounds each load() in CPU time, which a loaded machine (parallel workers,
# other users) does not stretch; a wall-clock deadline would fail on load alone.
FUZZ = settings(max_examples=400, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip

SMALL = [
    """
    name: ring
    time: {stop: 20, resolution: 1 ms}
    seed: 3
    federates:
      a: {type: "{HELPERS}:Affine", params: {a: 0.5, b: 1.0}}
      b: {type: "{HELPERS}:Affine", period: 2, offset: 1, restart: {policy: scratch, limit: 2}}
      c: {type: "{HELPERS}:Affine", period: 500 ms}
    connections:
      - a.y -> b.u
      - {from: b.y, to: c.u, interpolate: hold}
      - {connect: c.y -> a.u, delay: true}
    record: {signals: ["a.*", "c.y"], messages: false}
    coordinator: {grant_timeout: 30 s, heartbeat: 1, frame_limit: 65536, max_messages_per_step: 100}
    kpis:
      peak: {signal: c.y, reduce: max}
      both: {signal: [a.y, c.y], reduce: last, combine: sum, scale: 2.0, unit: m}
    """,
    """
    time: {start: 10, stop: 1 h, resolution: 1 s, unit: min}
    federates:
      pinger: {type: "{HELPERS}:Pinger", params: {schedule: [[0, 1, hello]]}}
      listener: {type: "{HELPERS}:Listener"}
      clock: {type: "{HELPERS}:Clock", period: 60 s}
    connections:
      - {from: clock.y, to: listener.u, interpolate: linear}
    messages:
      - {route: pinger.out -> listener.inbox, lookahead: 1}
    events:
      - {at: 20, send: listener.inbox, payload: {k: [1, 2]}}
    """,
    """
    time: {stop: 5}
    federates:
      x: {type: "{HELPERS}:Loop", params: {gain: 0.5}}
      y: {type: "{HELPERS}:Loop", params: {gain: -0.25, bias: 2.0}}
      probe: {type: "{HELPERS}:Probe"}
    connections:
      - {from: x.x_out, to: y.x_in, iterate: pair}
      - {from: y.x_out, to: x.x_in, iterate: pair}
    iterate:
      pair: {tolerance: 1.0e-10, max_iterations: 20}
    events:
      - {at: 1, set: probe.u, value: 2.5}
    """,
    """
    time: {stop: 10, resolution: 100 ms}
    federates:
      model: {type: "{HELPERS}:Affine", params: &shared {a: 0.5, b: 2.0}}
      other:
        type: "{HELPERS}:Affine"
        params: {<<: *shared, b: 3.0}
      remote:
        command: [./model, "--connect", "{address}"]
        interface:
          inputs: {u: {type: float, unit: m}}
          outputs: {y: {type: float, unit: m}, n: {type: int}}
          endpoints: [alarms]
      hand: {type: "{HELPERS}:Sine", external: true}
    connections:
      - model.y -> other.u
    """,
]


def _seeds() -> list[str]:
    """The shipped scenarios (YAML files there with a ``federates`` section; others are data) and SMALL."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "scenarios").glob("*.yaml"))]
    shipped = [t for t in texts if isinstance(yaml.safe_load(t), dict) and "federates" in yaml.safe_load(t)]
    return shipped + [_dedent(t).replace("{HELPERS}", HELPERS) for t in SMALL]


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).lstrip("\n")


SEEDS = _seeds()


# ---------------------------------------------------------------------------- the property
class Hang(Exception):
    pass


@contextmanager
def cpu_deadline(seconds: float) -> Iterator[dict[str, bool]]:
    """Interrupt the block after ``seconds`` of CPU (ITIMER_VIRTUAL: pytest-timeout keeps SIGALRM)."""
    state = {"fired": False}

    def on_timer(signum: int, frame: Any) -> None:
        state["fired"] = True
        raise Hang(f"still running after {seconds:g} s of CPU")

    previous = signal.signal(signal.SIGVTALRM, on_timer)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield state
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


def check_loads_cleanly(path: Path, data: bytes) -> None:
    """``load`` gives a scenario or a ScenarioError located by file and line; nothing else, never a hang."""
    path.write_bytes(data)
    problems: tuple = ()
    with cpu_deadline(CPU_LIMIT) as deadline:
        try:
            scenario = load(path)
        except ScenarioError as exc:
            problems = exc.problems
            assert problems, "a ScenarioError without problems"
        else:
            assert_sendable(scenario)
    assert not deadline["fired"], "load() hung (and something swallowed the interruption)"
    for problem in problems:
        assert problem.file == str(path), problem
        assert problem.line >= 1 and problem.column >= 1, f"no line or column for: {problem}"
        assert str(problem).startswith(f"{path}:{problem.line}:{problem.column}: "), problem


def assert_sendable(scenario: Scenario) -> None:
    """What validation lets through reaches federates and the store: it must encode."""
    for spec in scenario.federates.values():
        protocol.encode([spec.name, dict(spec.params)])
    for event in scenario.events:
        protocol.encode(event.value)
    scenario.name.encode("utf-8")


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """``scenarios/fuzzed.yaml`` in a mirror of the project, so that relative references still resolve."""
    for entry in ROOT.iterdir():
        if not entry.name.startswith(".") and entry.name != "scenarios":
            (tmp_path / entry.name).symlink_to(entry)
    (tmp_path / "scenarios").mkdir()
    for entry in (ROOT / "scenarios").iterdir():
        (tmp_path / "scenarios" / entry.name).symlink_to(entry)
    return tmp_path / "scenarios" / "fuzzed.yaml"


def test_the_seeds_are_valid(target):
    for text in SEEDS:
        target.write_text(text, encoding="utf-8")
        load(target)


# ---------------------------------------------------------------------------- hostile values
HUGE = [
    "1e308", "-1e308", "1e309", "-1e999", str(2**70), str(-(2**70)), "1" + "0" * 400, ".inf", "-.inf", ".nan",
    "0x7fffffffffffffffffff", "0o7777777777777777777777777", "1_000_000", "190:20:30", "-1", "-0.0", "0",
    "5e-324", "1e-320", "-5 s", "1e999 h", "2**70 s", "10 parsecs", "'1 h'", "' 2 min '",
]  # fmt: skip
BAD_TAGS = [
    "!!int abc", "!!int 0x", "!!float x", "!!bool maybe", "!!timestamp 2001-13-45", "2001-13-45",
    "2001-02-30", "!!binary '***'", "!!python/object:os.system x", "!!python/name:os.system ''", "!foo bar",
    "!!set {a}", "!!omap [1]", "!!pairs [a]", "!!null x", "!!str [1]", "!!map [1]", "!!seq {a: 1}",
    "!<tag:x> 1", "!!merge 1", "!!timestamp yesterday", "!!float .nan", "!!int 99999999999999999999999999",
]  # fmt: skip
JUNK = [
    "", "~", "null", "true", "[]", "{}", "[[]]", "{a: {b: {c: {}}}}", "[1, 2, 3]", "{x: 1}", "a.y -> b.u",
    "x -> y", "a.y => b.u", "'\\u202e\\u0000'", '"\\ud800"', '"\\U0001F600 \\x85 \\u2028"', "'é ß 中 😀'",
    "*undefined", "<<", "? a", "&", "*", "!", "@x", "`x`", "%", "'", '"', "[", "{", "]", "}", ",", "|", ">",
    "- -", "a: b: c",
]  # fmt: skip
DEEP = st.one_of(
    st.integers(1, 120).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 120).map(lambda n: "{a: " * n + "1" + "}" * n),
    st.integers(100, 100_000).map(lambda n: "[" * n + "]" * n),
)
SCALAR = st.one_of(
    st.sampled_from(HUGE),
    st.sampled_from(BAD_TAGS),
    st.sampled_from(JUNK),
    st.integers().map(str),
    st.floats().map(repr),
    st.text(max_size=16).map(json.dumps),  # JSON strings are YAML double-quoted scalars (lone surrogates too)
    DEEP,
)
NASTY = [
    1e308, -1e308, 2**70, -(2**70), 10**400, float("nan"), float("inf"), -1, -0.5, 0, True, None, "",
    "1e999 h", "-5 s", "a.y -> b.u", "x.y", "\u202e\u0000junk", "\U0001F600", [], {}, [[[[]]]],
]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(NASTY),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.recursive(
        st.integers() | st.text(max_size=4),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
        max_leaves=8,
    ),
)


# ---------------------------------------------------------------------------- structural mutations
def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _parent(data: Any, path: tuple) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def _federates(data: Any) -> list[str]:
    feds = data.get("federates") if isinstance(data, dict) else None
    return [str(k) for k in feds] if isinstance(feds, dict) else ["a"]


@st.composite
def structural(draw: st.DrawFn) -> str:
    """A seed with keys deleted, values replaced or retyped, references broken and cycles added."""
    data = copy.deepcopy(yaml.safe_load(draw(st.sampled_from(SEEDS))))
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(data))[1:] if isinstance(data, dict) else []
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(data, path), path[-1]
        ops = ["delete", "replace", "replace", "wrap", "rename", "add", "copy", "reference", "cycle"]
        op = draw(st.sampled_from(ops))
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(VALUES)
        elif op == "wrap":
            value = parent[key]
            parent[key] = draw(st.sampled_from([[value], {"x": value}, {str(value)[:8]: 1}]))
        elif op == "rename" and isinstance(parent, dict):
            new = draw(st.text(max_size=8) | st.integers() | st.sampled_from(["time", "type", "delay"]))
            parent[new] = parent.pop(key)
        elif op == "add" and isinstance(parent, dict):
            new = draw(st.text(max_size=8) | st.sampled_from(["unit", "start", "period", "external"]))
            parent[new] = draw(VALUES)
        elif op == "copy" and isinstance(parent, list):
            parent.append(parent[key])  # a shared node: dumped as an anchor and an alias
        elif op in ("reference", "cycle"):
            feds = _federates(data)
            a, b = draw(st.sampled_from(feds)), draw(st.sampled_from([*feds, "ghost", ""]))
            if op == "cycle":
                links = [f"{a}.y -> {b}.u", f"{b}.y -> {a}.u"]
            else:
                links = [f"{a}.{draw(st.text(max_size=3))} -> {b}.u"]
            if not isinstance(data.get("connections"), list):
                data["connections"] = []
            data["connections"] += links
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=200)


def fuzz_loads(target, strategy, encode: bool = True) -> int:
    """Feed every example of ``strategy`` to check_loads_cleanly; return how many there were."""
    count = 0

    @FUZZ
    @given(example=strategy)
    def fuzz(example) -> None:
        nonlocal count
        count += 1
        check_loads_cleanly(target, example.encode("utf-8", "surrogatepass") if encode else example)

    fuzz()
    return count


def test_structural_mutations_give_clean_errors(target):
    assert fuzz_loads(target, structural()) >= 400


# ---------------------------------------------------------------------------- text mutations
TOKENS = st.one_of(
    st.sampled_from([
        ": ", ":", "- ", "-", "[", "]", "{", "}", ", ", "&a ", "*a", "*a\n", "!!int ", "? ", "|\n", ">\n",
        "'", '"', "%YAML 1.1\n", "%TAG ! x\n", "---\n", "...\n", "\t", "  ", "\n", "\r", "\x00", "\x07",
        "\ufeff", "\u2028", "\x85", "\ud800", "#", "@", "`", "<<: *a\n", "~", "\\", "é",
        "\U0001d54f", "\u202e",
    ]),  # fmt: skip
    st.text(max_size=6),
)
BYTES = st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80"])


@st.composite
def textual(draw: st.DrawFn) -> bytes:
    """A seed (or a structural mutant) with lines cut, doubled, swapped, shifted and junk inserted."""
    text = draw(st.sampled_from(SEEDS) | structural())
    lines = text.splitlines(keepends=True) or [""]
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        ops = ["delete", "double", "swap", "indent", "dedent", "insert", "insert", "cut"]
        op = draw(st.sampled_from(ops))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "double":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            lines[i] = " " * draw(st.integers(1, 5)) + lines[i]
        elif op == "dedent":
            lines[i] = lines[i].lstrip(" ")
        elif op == "insert":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(TOKENS) + lines[i][at:]
        else:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
            del lines[i + 1 :]
    data = "".join(lines).encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8
    if draw(st.booleans()) and draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(BYTES) + data[at:]
    return data


def test_text_mutations_give_clean_errors(target):
    assert fuzz_loads(target, textual(), encode=False) >= 400


# ---------------------------------------------------------------------------- hostile fields
TEMPLATE = """\
description:
{anchors}
time:
  start: {start}
  stop: {stop}
  resolution: {resolution}
  unit: {unit}
seed: {seed}
federates:
  a:
    type: "{helpers}:Affine"
    period: {period}
    offset: {offset}
    external: {external}
    params:
      a: {param}
  x: {{type: "{helpers}:Loop"}}
  y: {{type: "{helpers}:Loop"}}
  pinger: {{type: "{helpers}:Pinger"}}
  listener: {{type: "{helpers}:Listener"}}
connections:
  - {{from: x.x_out, to: y.x_in, iterate: pair}}
  - {{from: y.x_out, to: x.x_in, iterate: pair}}
  - {{from: a.y, to: a.u, delay: {delay}}}
messages:
  - {{route: pinger.out -> listener.inbox, lookahead: {lookahead}}}
iterate:
  pair: {{tolerance: {tolerance}, max_iterations: {max_iterations}}}
events:
  - {{at: {at}, send: listener.inbox, payload: {payload}}}
record:
  signals: {signals}
"""
DEFAULTS = {
    "start": "0", "stop": "10", "resolution": "1 ms", "unit": "s", "seed": "1", "anchors": "  none: 0",
    "period": "1", "offset": "0", "external": "false", "param": "0.5", "delay": "true", "lookahead": "0",
    "tolerance": "1.0e-9", "max_iterations": "10", "at": "2", "payload": "hi", "signals": "all",
}  # fmt: skip


@st.composite
def anchors(draw: st.DrawFn) -> str:
    """Lines under ``description:`` (free text, never checked) that define ``&bomb`` for the fields to use."""
    kind = draw(st.sampled_from(["none", "none", "plain", "plain", "bomb", "bomb", "loop", "map-loop"]))
    if kind == "none":
        return "  none: 0"
    if kind == "loop":
        return "  loop: &bomb [1, *bomb]"
    if kind == "map-loop":
        return "  loop: &bomb {self: *bomb, <<: *bomb}"
    if kind == "plain":
        return "  shared: &bomb {a: 1}"
    depth, width = draw(st.integers(2, 12)), draw(st.integers(2, 10))
    lines = [f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, depth)]
    lines.append(f"  top: &bomb [{', '.join([f'*l{depth - 1}'] * width)}]")
    return "\n".join(lines)


@st.composite
def hostile(draw: st.DrawFn) -> str:
    """The template with some fields set to hostile YAML, possibly referring to an alias bomb."""
    fields = dict(DEFAULTS, helpers=HELPERS, anchors=draw(anchors()))
    bombs = fields["anchors"] != DEFAULTS["anchors"]
    value = SCALAR | st.sampled_from(["*bomb", "[*bomb]"]) if bombs else SCALAR
    names = st.sampled_from(sorted(set(DEFAULTS) - {"anchors"}))
    for name in draw(st.lists(names, min_size=1, max_size=3, unique=True)):
        fields[name] = draw(value)
    return TEMPLATE.format(**fields)


def test_the_template_is_valid(target):
    target.write_text(_template(), encoding="utf-8")
    load(target)


def test_hostile_values_give_clean_errors(target):
    assert fuzz_loads(target, hostile()) >= 400


# ---------------------------------------------------------------------------- through the CLI
def _template(**fields: str) -> str:
    return TEMPLATE.format(**{**DEFAULTS, "helpers": HELPERS, **fields})


BILLION_LAUGHS = "\n".join(
    [f"  l0: &l0 [{', '.join(['lol'] * 9)}]"]
    + [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["  top: &bomb [*l8, *l8]"]
)
BAD_FILES = {
    "bomb.yaml": _template(anchors=BILLION_LAUGHS, param="*bomb"),
    "loop.yaml": _template(anchors="  loop: &bomb [*bomb]", seed="*bomb"),
    "deep.yaml": _template(payload="[" * 2000 + "]" * 2000),
    "nan.yaml": _template(period=".nan", lookahead="1e308", stop="1e999"),
    "date.yaml": _template(at="2001-13-45", unit="[s]"),
    "nul.yaml": "time: {stop: 10}\nfederates:\n  a: {type: tank}\x00\n",
    "latin1.yaml": "time: {stop: 10}\n# caf\xe9\nfederates: {}\n",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_validate_command_reports_hostile_files_without_a_traceback(tmp_path, name):
    path = tmp_path / name
    text = BAD_FILES[name]
    path.write_bytes(text.encode("latin-1") if name == "latin1.yaml" else text.encode("utf-8"))
    result = subprocess.run([sys.executable, "-m", "federation.app.cli", "validate", str(path)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line[len(str(path)) + 1 :] for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    located = [line for line in lines if line.split(":")[0].isdigit()]
    assert located and all(int(line.split(":")[0]) >= 1 for line in located), result.stderr
