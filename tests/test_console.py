"""The operator's web console in a real headless Chromium: a live Riverton, decisions, sign-in, the timeline.

The browser tests skip with the reason when Debian's ``chromium`` (or Playwright) is missing,
and fail under ``CI=true`` (tests/console_browser.py).  Figures measured here are printed
(run with ``-s``): update latency (coordinator snapshot -> page painted), page weight, first paint.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from console_browser import ROOT, Run, browser, figures, need_browser, screenshot

from federation.results.store import RunStore

ALICE, BOB, VICTOR = "alice-token-0123456789", "bob-token-0123456789ab", "victor-token-0123456789"
ASK_ALL = """  policy:
    - match: {class: damops.orders, field: opening, above: 0.8}
      verdict: edit
      set: {opening: 0.8}
      note: dam safety rule
    - match: {class: damops.orders}
      verdict: ask
      note: every gate order goes to the duty manager
"""


def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users"
    path.write_text(f"# name role token\nalice operator {ALICE}\nbob operator {BOB}\nvictor viewer {VICTOR}\n")
    path.chmod(0o600)
    return path


def riverton_asking(tmp_path: Path) -> Path:
    """Riverton with every gate order asked (the first at t=0, the pre-release at 11 h), paths made absolute."""
    text = (ROOT / "scenarios" / "riverton.yaml").read_text()
    start = text.index("  policy:\n", text.index("decisions:"))
    end = text.index("\nkpis:", start)
    text = text[:start] + ASK_ALL + text[end:]
    text = text.replace("timeout: 2 min", "timeout: 5 min")
    text = text.replace("../fmus/dist/", f"{ROOT / 'fmus' / 'dist'}/").replace("data/riverton-ict", f"{ROOT}/scenarios/data/riverton-ict")
    path = tmp_path / "riverton.yaml"
    path.write_text(text)
    return path


def wait_for(page: Any, script: str, arg: Any = None, timeout: float = 20_000) -> Any:
    return page.wait_for_function(script, arg=arg, timeout=timeout)


@pytest.mark.timeout(120)
def test_operators_decide_a_live_riverton_in_the_browser(tmp_path: Path) -> None:
    """Clock and plots advance; alice approves one order and edits another; a viewer cannot decide;
    a second answer is refused; a wrong token is refused; the store names who decided."""
    chromium = need_browser()
    out = tmp_path / "run.sqlite"
    run = Run([sys.executable, "-m", "federation.app.cli", "run", str(riverton_asking(tmp_path)), "--out", str(out),
               "--until", "12h", "--console", "0", "--users", str(users_file(tmp_path)), "-q"], tmp_path)  # fmt: skip
    try:
        for chrome in browser(chromium):
            refused = chrome.new_page()
            response = refused.goto(f"{run.url}?token=wrong-token-0123456789")
            assert response is not None and response.status == 401
            assert refused.locator("#login").is_visible()
            assert refused.request.get(f"{run.url}api/state").status == 401

            # bypass_csp: the test's own wait_for_function predicates are evaluated strings; the page's
            # scripts keep to the policy (the viewer's page below runs under it)
            page = chrome.new_page(viewport={"width": 1500, "height": 1300}, bypass_csp=True)
            page.goto(f"{run.url}?token={ALICE}")
            assert page.url == run.url  # the token left the address bar
            wait_for(page, "document.querySelector('#user').textContent.startsWith('alice')")
            first = page.locator("#pending .proposal").first
            first.wait_for(timeout=20_000)
            assert first.get_attribute("data-id") == "1"
            assert "every gate order goes to the duty manager" in first.inner_text()

            viewer = chrome.new_page()
            viewer.goto(f"{run.url}?token={VICTOR}")
            viewer.locator("#pending .proposal").first.wait_for(timeout=20_000)
            assert viewer.locator("#pending button.approve").count() == 0
            denied = viewer.evaluate("""async () => { const st = await (await fetch('/api/state')).json();
                const r = await fetch('/api/decide', {method: 'POST', headers: {'X-CSRF-Token': st.csrf},
                                                      body: JSON.stringify({id: 1, verdict: 'approve'})});
                return [r.status, (await r.json()).error]; }""")  # fmt: skip
            assert denied == [403, "victor is a viewer and cannot decide"]
            page.bring_to_front()  # a page behind others is not painted: the latency figures are the front page's

            clock = float(page.locator("#clock").get_attribute("data-seconds") or 0)
            points = int(page.locator("canvas.plot").first.get_attribute("data-points") or 0)
            first.locator("button.approve").click()
            wait_for(page, "t => Number(document.querySelector('#clock').dataset.seconds) > t + 3600", clock)
            wait_for(page, "n => Number(document.querySelector('canvas.plot').dataset.points) > n", points)

            bob = chrome.new_context(bypass_csp=True).new_page()  # a second operator, too late for decision 1
            bob.goto(f"{run.url}?token={BOB}")
            late = bob.evaluate("""async () => { const st = await (await fetch('/api/state')).json();
                const r = await fetch('/api/decide', {method: 'POST', headers: {'X-CSRF-Token': st.csrf},
                                                      body: JSON.stringify({id: 1, verdict: 'reject'})});
                return [r.status, (await r.json()).error]; }""")  # fmt: skip
            assert late == [409, "no pending proposal 1"]
            no_csrf = bob.evaluate("""async () => (await fetch('/api/decide', {method: 'POST',
                body: JSON.stringify({id: 2, verdict: 'reject'})})).status""")  # fmt: skip
            assert no_csrf == 403
            page.bring_to_front()

            second = page.locator('#pending .proposal[data-id="2"]')
            second.wait_for(timeout=30_000)
            bob.locator('#pending .proposal[data-id="2"]').wait_for(timeout=10_000)  # both operators see it
            second.locator("button.edit").click()
            opening = second.locator("input[name=opening]")
            assert opening.get_attribute("max") == "1"  # the declared range, on the field
            opening.fill("1.5")  # beyond it: refused before it is sent, in the coordinator's words
            second.locator("button.send-edit").click()
            refusal = "opening: must be in [0, 1], got 1.5 (as damops.orders declares)"
            wait_for(page, "t => document.querySelector('.form-error').textContent === t", refusal)
            opening.fill("0.45")
            page.locator("input[name=__note]").fill("half the pre-release: the bridge crew is still out")
            figures(page)  # before the screenshots: a page being captured is not painted meanwhile
            page.screenshot(path=screenshot(tmp_path, "console-decision.png"))
            second.locator("button.send-edit").click()
            wait_for(page, "() => document.querySelectorAll('#history tbody tr').length >= 2")
            wait_for(bob, "() => document.querySelectorAll('#history tbody tr').length >= 2")  # and both see it
            history = page.locator("#history tbody tr").all_inner_texts()
            assert "web console: alice" in history[0] and "edited" in history[0]
            page.screenshot(path=screenshot(tmp_path, "console.png"), full_page=True)
        code, _, err = run.wait(60)
        assert code == 0, err
    finally:
        run.kill()
    with RunStore(out) as store:
        decisions = store.decisions()
    assert [(d["id"], d["verdict"], d["decided_by"]) for d in decisions[:2]] == [
        (1, "approved", "web console: alice"), (2, "edited", "web console: alice")]
    assert json.loads(decisions[1]["final"])["opening"] == 0.45
    assert decisions[1]["note"] == "half the pre-release: the bridge crew is still out"
    assert ALICE not in (tmp_path / "run.logs" / "console.log").read_text()
    assert ALICE not in (tmp_path / "run.logs" / "coordinator.log").read_text()


@pytest.mark.timeout(60)
def test_a_finished_run_opens_as_a_timeline(tmp_path: Path) -> None:
    """``federation console RUN.sqlite``: the same page, with a time slider over the recorded run."""
    chromium = need_browser()
    out = tmp_path / "full.sqlite"
    made = subprocess.run([sys.executable, "-m", "federation.app.cli", "run", str(riverton_asking(tmp_path)), "--out",
                           str(out), "--until", "36h", "--autonomy", "full", "-q"], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert made.returncode == 0, made.stderr
    serve = Run([sys.executable, "-m", "federation.app.cli", "console", str(out), "--listen", "0", "--users",
                 str(users_file(tmp_path))], tmp_path, timeout=30)  # fmt: skip
    try:
        for chrome in browser(chromium):
            page = chrome.new_page(viewport={"width": 1500, "height": 1100}, bypass_csp=True)
            page.goto(f"{serve.url}?token={VICTOR}")
            page.locator("#scrubber").wait_for(state="visible", timeout=20_000)
            assert "finished run" in page.locator("#title").inner_text()
            wait_for(page, "() => Number(document.querySelector('canvas.plot').dataset.points) > 50")
            page.locator("#cursor").fill("39900")
            page.locator("#cursor").dispatch_event("input")
            wait_for(page, "() => document.querySelector('#clock').textContent.startsWith('11 h 05 min')")
            assert page.locator("#history tbody tr").count() == 2  # decisions up to the cursor
            page.locator("#cursor").fill(str(34 * 3600))  # the cascade: substations drowned, hospitals on generators
            page.locator("#cursor").dispatch_event("input")
            wait_for(page, "() => document.querySelector('[data-name=substation_a]').dataset.state.includes('flooded')")
            assert "out" in page.locator("#schematic [data-name=substation_b]").get_attribute("data-state")
            page.screenshot(path=screenshot(tmp_path, "console-timeline.png"), full_page=True)
    finally:
        serve.kill()


@pytest.mark.timeout(180)
def test_pace_lag_residuals_and_alarms_live_and_scrubbed(tmp_path: Path) -> None:
    """A paced riverton-sync: the page shows the lag behind the wall clock and the residual alarms as they come,
    the same figures as the store; then the finished run, scrubbed, shows them up to the cursor."""
    chromium = need_browser()
    scenario = tmp_path / "riverton-sync.yaml"
    free_level = "real.reservoir_level -> free.reservoir_level, method: observe, acceptable: 0.1,"
    text = (ROOT / "scenarios" / "riverton-sync.yaml").read_text()
    assert free_level in text
    scenario.write_text(text.replace(free_level, free_level + " clear_within: 0.05,"))  # a deadband (never cleared)
    out = tmp_path / "sync.sqlite"
    run = Run([sys.executable, "-m", "federation.app.cli", "run", str(scenario), "--out", str(out), "--until", "16h",
               "--pace", "3600", "--console", "0", "--users", str(users_file(tmp_path)), "-q"], tmp_path)  # fmt: skip
    try:
        for chrome in browser(chromium):
            page = chrome.new_page(viewport={"width": 1500, "height": 1700}, bypass_csp=True)
            page.goto(f"{run.url}?token={ALICE}")
            wait_for(page, "() => document.querySelector('#lag').dataset.seconds > ''")
            assert page.locator("#pace").inner_text() == "3600x"
            assert not page.locator("#sync-panel").is_hidden()
            # the reservoir of the twin left alone passes its 0.1 m at 4.75 h: an alarm, while the nudged one stays within
            wait_for(page, "() => document.querySelector('#sync-pairs tr[data-pair=\"2\"]').dataset.state === 'residual'",
                     timeout=60_000)  # fmt: skip
            assert page.locator('#sync-pairs tr[data-pair="0"]').get_attribute("data-state") == "ok"
            state = page.locator('#sync-pairs tr[data-pair="2"] td.state').inner_text()
            assert state == "ALARM: went beyond acceptable, clears within ±0.05", state
            listed = page.locator("#alarms tbody tr[data-alarm=residual]").all_inner_texts()
            assert any("free.reservoir_level" in row for row in listed), listed
            wait_for(page, "() => Number(document.querySelector('#sync-plots canvas').dataset.points) > 10")
            page.screenshot(path=screenshot(tmp_path, "console-twin.png"), full_page=True)
            code, _, err = run.wait(120)
            assert code == 0, err
            wait_for(page, "() => document.querySelector('#status').textContent.startsWith('completed')")
            wait_for(page, "() => document.querySelector('#alarm-count').dataset.raised === '2'")  # the city stage at 14.75 h
            shown_lag = float(page.locator("#lag").get_attribute("data-seconds") or "nan")
            shown_p99 = float(page.locator("#pacing").get_attribute("data-p99") or "nan")
    finally:
        run.kill()
    with RunStore(out) as store:
        pacing = store.pacing()
        meta = store.metadata()
        alarms = [(r["time"], r["pair"], r["alarm"]) for r in store.corrections() if r["alarm"]]
    assert alarms == [(17100.0, 2, "residual"), (53100.0, 3, "residual")]
    assert shown_lag == pacing[-1][4]  # the latest grant's lag, as recorded
    assert shown_p99 == float(meta["pacing_lag_p99"])  # the feed's running figures are the run's summary's

    serve = Run([sys.executable, "-m", "federation.app.cli", "console", str(out), "--listen", "0", "--users",
                 str(users_file(tmp_path))], tmp_path, timeout=30)  # fmt: skip
    try:
        for chrome in browser(chromium):
            page = chrome.new_page(viewport={"width": 1500, "height": 1700}, bypass_csp=True)
            page.goto(f"{serve.url}?token={VICTOR}")
            page.locator("#scrubber").wait_for(state="visible", timeout=20_000)
            wait_for(page, "() => document.querySelector('#alarm-count').dataset.raised === '2'")
            assert float(page.locator("#pacing").get_attribute("data-p99") or "nan") == shown_p99  # the same, from the rows
            page.locator("#cursor").fill(str(5 * 3600))  # after the level alarm, before the stage's
            page.locator("#cursor").dispatch_event("input")
            wait_for(page, "() => document.querySelector('#alarm-count').dataset.raised === '1'")
            lag_at = [row[4] for row in pacing if row[1] <= 5 * 3600][-1]
            assert float(page.locator("#lag").get_attribute("data-seconds") or "nan") == lag_at
            assert page.locator('#sync-pairs tr[data-pair="3"]').get_attribute("data-state") == "ok"
            page.screenshot(path=screenshot(tmp_path, "console-twin-timeline.png"), full_page=True)
    finally:
        serve.kill()
