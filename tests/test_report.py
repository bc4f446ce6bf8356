"""`federation report`: one self-contained HTML file with metadata, KPIs, plots, messages, decisions, scenario."""

from __future__ import annotations

import base64
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from federation.errors import ScenarioError
from federation.results.report import build_report, write_report
from federation.results.store import RunStore
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(90)

# A proposer asks for settings; the policy edits the first (cap), approves the second, rejects the third.
SCENARIO = """
# operator <b>settings</b> & "caps"
name: report-demo
time: {stop: 8, resolution: 1 s}
federates:
  operator: {type: "{HELPERS}:Proposer", params: {plan: [[1.0, 0.9], [3.0, 0.4], [5.0, 0.1]]}}
  plant: {type: "{HELPERS}:Actuator"}
  meter:
    type: formula
    params:
      inputs: {value: {}}
      outputs: {percent: {expr: "value * 100", unit: "%"}, low: {expr: "value < 0.5", type: bool}}
connections:
  - plant.value -> meter.value
messages:
  - operator.setting -> plant.setting
decisions:
  require_approval: [operator.setting]
  default: reject
  policy:
    - match: {class: operator.setting, field: value, above: 0.8}
      verdict: edit
      set: {value: 0.8}
      note: capped at 80 %
    - match: {class: operator.setting, field: value, above: 0.2}
      verdict: approve
kpis:
  final_percent: {signal: meter.percent, reduce: last, unit: "%", description: "final setting"}
  time_low: {signal: meter.low, reduce: time_true, description: "seconds below half"}
  peak_value: {signal: plant.value, reduce: max}
report:
  title: Setting approvals
  messages: 1
  panels:
    - {title: Plant setting, signals: [plant.value, meter.percent]}
    - {title: Low flag, signals: [meter.low]}
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.app.cli", *args], capture_output=True, text=True, timeout=60)


def _pngs(text: str) -> list[bytes]:
    return [base64.b64decode(b, validate=True) for b in re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def report_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run store of the scenario, run through the command line."""
    folder = tmp_path_factory.mktemp("report")
    path = write_scenario(folder, SCENARIO)
    store = folder / "run.sqlite"
    run = _cli("run", str(path), "--out", str(store), "-q")
    assert run.returncode == 0, run.stderr
    return store


@pytest.fixture(scope="module")
def report(report_store: Path) -> str:
    """The scenario's report, written through the command line, as a user does."""
    folder = report_store.parent
    result = _cli("report", str(report_store), "-o", str(folder / "report.html"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {folder / 'report.html'}"
    return (folder / "report.html").read_text(encoding="utf-8")


def test_the_page_is_the_shipped_template_a_user_can_replace(report_store: Path, tmp_path: Path) -> None:
    """The report is rendered from federation/results/templates/report.html.j2; --template renders another,
    with autoescaping on whatever the file is called."""
    from federation.results.report import TEMPLATE

    assert TEMPLATE.is_file() and TEMPLATE.name == "report.html.j2"
    mine = tmp_path / "mine.txt"
    mine.write_text("<h1>{{ title }}</h1>{% for k in kpis %}<i>{{ k.name }}={{ k.display() }}</i>{% endfor %}"
                    "<pre>{{ scenario_text }}</pre>")  # fmt: skip
    result = _cli("report", str(report_store), "-o", str(tmp_path / "mine.html"), "--template", str(mine))
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "mine.html").read_text(encoding="utf-8")
    assert text.startswith("<h1>Setting approvals</h1><i>final_percent=40</i>")
    assert "&lt;b&gt;settings&lt;/b&gt;" in text and "<b>" not in text  # escaped in a template of any name
    broken = tmp_path / "broken.j2"
    broken.write_text("line one\n{% for x in %}\n")
    result = _cli("report", str(report_store), "-o", str(tmp_path / "b.html"), "--template", str(broken))
    assert result.returncode == 1 and f"{broken}:2: report template:" in result.stderr, result.stderr


def test_one_self_contained_html_file(report):
    assert report.startswith("<!DOCTYPE html>") and report.rstrip().endswith("</html>")
    assert report.count("<html") == 1 and "<style>" in report
    links = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]*)""", report)
    assert links and all(link.startswith(("data:image/png;base64,", "#")) for link in links), links
    assert not re.search(r"<(script|link|iframe|object)\b", report)
    assert not re.search(r"url\(", report)


def test_title_and_run_metadata(report):
    assert "<h1>Setting approvals</h1>" in report
    assert "<span class='status completed'>completed</span>" in report
    for row in ("<td>scenario</td><td>report-demo</td>", "<td>seed</td><td>0</td>", "<td>started</td>",
                "<td>wall time</td>", "federation 0.1.0", "pyzmq "):  # fmt: skip
        assert row in report, row


def test_kpi_table_values(report):
    table = re.search(r"<table class='kpis'>.*?</table>", report, re.S).group(0)
    rows = re.findall(r"<tr><td>(.*?)</td><td><span class='num'>(.*?)</span></td><td>(.*?)</td><td>(.*?)</td></tr>", table)
    # plant.value: 0 until t=1, 0.8 (edited) until t=3, 0.4 (approved) to the end (0.1 was rejected):
    # below half for 1 s + 5 s
    assert rows == [("final_percent", "40", "%", "final setting"), ("time_low", "6", "s", "seconds below half"),
                    ("peak_value", "0.8", "", "")]  # fmt: skip


def test_decision_rows(report):
    table = re.search(r"<table class='decisions'>.*?</table>", report, re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]
    assert len(rows) == 3
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td>(.*?)</td>", rows[0])]
    assert cells[:3] == ["1 s", "operator.setting", "plant.setting"]
    assert "&#34;value&#34;: 0.9" in cells[3] and cells[4] == "edited"
    assert cells[5] == "policy rule 1 (line 21)" and "&#34;value&#34;: 0.8" in cells[6] and cells[7] == "capped at 80 %"
    verdicts = [re.search(r"class='verdict (\w+)'", r).group(1) for r in rows]
    assert verdicts == ["edited", "approved", "rejected"]
    assert "policy default" in rows[2]


def test_message_summary(report):
    routes = re.search(r"<table class='routes'>.*?</table>", report, re.S).group(0)
    assert "<td>operator.setting</td><td>plant.setting</td><td>2</td><td>1 s</td><td>3 s</td>" in routes
    assert "<h3>Messages (first 1)</h3>" in report  # report.messages: 1 of the 2 delivered (the rejected one was not)
    log = re.search(r"<table class='log'>.*?</table>", report, re.S).group(0)
    assert re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>", log) == [("1 s", "operator.setting", "plant.setting")]
    assert "&#34;value&#34;: 0.8" in log  # what was delivered: the edited payload


def test_scenario_text_is_escaped(report):
    pre = re.search(r"<pre class='scenario'>(.*?)</pre>", report, re.S).group(1)
    assert "# operator &lt;b&gt;settings&lt;/b&gt; &amp; &#34;caps&#34;" in pre
    assert "<b>" not in report
    assert "require_approval: [operator.setting]" in pre


def test_embedded_plots_decode(report):
    images = _pngs(report)
    assert len(images) == 2  # one per panel
    for data in images:
        width, height = _png_size(data)
        assert width > 500 and height > 100
    assert "<figcaption>Plant setting</figcaption>" in report and "<figcaption>Low flag</figcaption>" in report


def test_federates_and_grants(report):
    table = re.search(r"<table class='federates'>.*?</table>", report, re.S).group(0)
    assert "<td>operator</td>" in table and "<td>meter</td><td>formula</td><td>event-driven</td>" in table
    assert re.search(r"<td>plant</td><td>[^<]*Actuator</td><td>1 s</td><td>9</td><td>done</td>", table)  # 0 .. 8


def test_default_panels_and_kpis_computed_for_the_report(run_scenario, tmp_path):
    """Without `report:`, one panel per federate; a store without KPI rows gets them computed for the report."""
    _, store = run_scenario("""
    time: {stop: 5, resolution: 1 s}
    federates:
      a: {type: "{HELPERS}:Clock"}
      b:
        type: formula
        period: 1 s
        params: {outputs: {u: "t", v: "2 * t", w: "3 * t", x: "4 * t", y: "5 * t"}}
    kpis:
      clock_end: {signal: a.y, reduce: last}
    """)
    assert [k[0] for k in store.kpis()] == ["clock_end"]  # every completed run stores its KPIs
    import sqlite3

    with sqlite3.connect(store.path) as db:  # a store from before KPIs were declared
        db.execute("DELETE FROM kpis")
    with RunStore(store.path) as old:  # opened anew: a closed store is read as immutable
        assert old.kpis() == []
        text = build_report(old)
    assert re.findall(r"<figcaption>(.*?)</figcaption>", text) == ["a", "b"]
    assert len(_pngs(text)) == 2
    assert "<td>clock_end</td><td><span class='num'>5</span></td><td>s</td>" in text  # a.y = t at the stop
    assert "No message was recorded." in text and "No proposal needed a decision." in text


def test_report_of_a_failed_run_shows_the_reason(run_scenario, tmp_path):
    from federation.errors import FederateError

    with pytest.raises(FederateError):
        run_scenario("""
        time: {stop: 10, resolution: 1 s}
        federates:
          bad: {type: "{HELPERS}:Crasher", params: {at: 3.0, how: raise}}
        """)
    out = write_report(tmp_path / "scenario.sqlite", tmp_path / "failed.html")
    text = out.read_text()
    assert "<span class='status failed'>failed</span>" in text
    assert "ValueError: boom at 3.0" in text
    _png_size(_pngs(text)[0])


def test_report_section_is_validated(tmp_path):
    path = write_scenario(tmp_path, """
    time: {stop: 5, resolution: 1 s}
    federates:
      a: {type: "{HELPERS}:Clock"}
    report:
      colour: blue
      messages: -1
      panels:
        - {title: Clock, signals: [a.y, a.nope]}
        - {signals: []}
        - just a string
    """)
    with pytest.raises(ScenarioError) as info:
        load(path)
    text = str(info.value)
    for expected in (":6:3: report.colour: unknown key (expected one of: messages, panels, title)",
                     ":7:3: report.messages: expected a number of rows (0 or more), got -1",
                     ":9:37: report.panels[0].signals[1]: federate 'a' has no output 'nope'",
                     ":10:8: report.panels[1].signals: expected a non-empty list of 'federate.output'",
                     ":11:7: report.panels[2]: a panel is a mapping {title, signals}"):  # fmt: skip
        assert expected in text, f"{expected!r} not in:\n{text}"


def test_report_of_a_missing_store_is_a_clear_error(tmp_path):
    result = _cli("report", str(tmp_path / "nope.sqlite"))
    assert result.returncode == 1
    assert "no run store at" in result.stderr and "Traceback" not in result.stderr


def test_default_output_name(tmp_path, run_scenario):
    summary, _ = run_scenario("""
    time: {stop: 2, resolution: 1 s}
    federates:
      a: {type: "{HELPERS}:Clock"}
    """)
    result = _cli("report", str(summary.store))
    assert result.returncode == 0, result.stderr
    assert Path(summary.store).with_suffix(".html").is_file()


def test_times_are_written_in_days_hours_and_minutes():
    from federation.timebase import format_time

    assert format_time(309360) == "3 d 13 h 56 min"
    assert format_time(630.5) == "10 min 30.5 s"
    assert format_time(0) == "0 s" and format_time(42) == "42 s" and format_time(7200) == "2 h"
    assert format_time(86401.25) == "1 d 1.25 s"


def test_message_and_decision_times_in_the_report_are_readable(run_scenario):
    """The report used to print message times as raw seconds (309360)."""
    _, store = run_scenario("""
    time: {stop: 4 d, resolution: 1 s}
    federates:
      log: {type: "{HELPERS}:Listener"}
    events:
      - {at: 309360, send: log.inbox, payload: {level: 3}}
    """)
    text = build_report(store)
    routes = re.search(r"<table class='routes'>.*?</table>", text, re.S).group(0)
    assert "<td>scenario</td><td>log.inbox</td><td>1</td><td>3 d 13 h 56 min</td><td>3 d 13 h 56 min</td>" in routes
    assert "<tr><td>3 d 13 h 56 min</td><td>scenario</td><td>log.inbox</td>" in text
    assert "<td>simulated time</td><td>0 s to 4 d (resolution 1 s)</td>" in text
