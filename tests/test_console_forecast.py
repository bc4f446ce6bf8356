"""Forecasts and step times in the console, in a real headless Chromium (docs/console.md).

A live riverton whose pre-release (decision 2, t=39900 s) is held with forecasts of three answers
(docs/what-if.md): the decision card shows each alternative's status as the forks go, then its KPIs
and their difference to approving -- the values the store's ``forecasts`` table keeps.  The
federates' step-time figures are checked against the step durations the page was sent.  Then the
finished run, served by ``federation console RUN.sqlite``, shows the same forecasts in its history.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from console_browser import ROOT, Run, browser, figures, need_browser, screenshot

from federation.engine.coordinator import STEP_WINDOW
from federation.results.store import RunStore

ALICE, VICTOR = "alice-token-0123456789", "victor-token-0123456789"
ASK_NOTE = "      note: pre-release and downstream limits need the duty manager\n"
FORECAST = "      forecast: {horizon: 24 h, alternatives: [approve, reject, {edit: {opening: 0.3}}]}\n"
ALTERNATIVES = ["approve", "reject", 'edit:{"opening": 0.3}']
# every 50 ms, each alternative's status as the card shows it, when it changes
WATCH = """() => { window.seen = {}; setInterval(() => {
    for (const c of document.querySelectorAll('#pending .proposal[data-id="2"] tr.status td')) {
        const s = (window.seen[c.dataset.alt] ||= []);
        if (s[s.length - 1] !== c.dataset.status) s.push(c.dataset.status);
    } }, 50); }"""


def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users"
    path.write_text(f"alice operator {ALICE}\nvictor viewer {VICTOR}\n")
    path.chmod(0o600)
    return path


def riverton(tmp_path: Path) -> Path:
    """riverton.yaml, checkpointed every 6 h, its 'ask' rule forecasting three answers; 10 min to answer."""
    text = (ROOT / "scenarios" / "riverton.yaml").read_text()
    text = text.replace("../fmus/dist/", f"{ROOT / 'fmus' / 'dist'}/").replace("data/riverton-ict", f"{ROOT}/scenarios/data/riverton-ict")
    assert ASK_NOTE in text and "timeout: 2 min" in text
    text = text.replace(ASK_NOTE, ASK_NOTE + FORECAST).replace("timeout: 2 min", "timeout: 10 min")
    path = tmp_path / "riverton-forecast.yaml"
    path.write_text("coordinator: {checkpoint: {every: 6 h}}\n" + text)
    return path


def shown(page: Any, rows: str) -> dict[str, dict[str, tuple[float, float | None]]]:
    """alternative -> KPI -> (value, difference to approving) as a forecast table shows them."""
    cells = page.evaluate("""sel => [...document.querySelectorAll(sel + ' tr[data-kpi] td[data-value]')].map(c =>
        [c.dataset.alt, c.closest('tr').dataset.kpi, c.dataset.value, c.dataset.delta ?? null])""", rows)  # fmt: skip
    out: dict[str, dict[str, tuple[float, float | None]]] = {}
    for alt, kpi, value, delta in cells:
        out.setdefault(alt, {})[kpi] = (float(value), None if delta is None else float(delta))
    return out


def recorded(rows: list[dict[str, Any]]) -> dict[str, dict[str, tuple[float, float | None]]]:
    """The same from the store's ``forecasts`` rows."""
    out: dict[str, dict[str, tuple[float, float | None]]] = {}
    for r in rows:
        kpis, delta = json.loads(r["kpis"]), json.loads(r["delta"])
        out[r["alternative"]] = {k: (v["value"], delta.get(k)) for k, v in kpis.items() if v["value"] is not None}
    return out


def check_step_times(page: Any) -> int:
    """Each federate's p50 / p99 / max as shown equal the nearest-rank figures (numpy's inverted CDF) of the
    latest STEP_WINDOW durations the page was sent; returns how many federates have figures."""
    durations: dict[str, list[float]] = page.evaluate("window.stepDurations")
    cells = page.evaluate("""() => [...document.querySelectorAll('#federates tbody tr')].map(r => {
        const c = r.querySelector('td.step-time'); return [r.dataset.name, c.dataset.p50 ?? null, c.dataset.p99 ?? null,
        c.dataset.max ?? null, c.dataset.n ?? null]; })""")  # fmt: skip
    checked = 0
    for name, p50, p99, most, n in cells:
        window = durations.get(name, [])[-STEP_WINDOW:]
        if not window:
            assert p50 is None, name
            continue
        data = np.array(window)
        assert int(n) == len(window), (name, n, len(window))
        assert float(p50) == np.percentile(data, 50, method="inverted_cdf"), (name, p50, window)
        assert float(p99) == np.percentile(data, 99, method="inverted_cdf"), (name, p99, window)
        assert float(most) == data.max(), name
        checked += 1
    return checked


@pytest.mark.timeout(600)
def test_a_decision_card_shows_the_forecasts_as_the_forks_go(tmp_path: Path) -> None:
    chromium = need_browser()
    out = tmp_path / "run.sqlite"
    run = Run([sys.executable, "-m", "federation.app.cli", "run", str(riverton(tmp_path)), "--out", str(out),
               "--until", "30h", "--console", "0", "--users", str(users_file(tmp_path)), "-q"], tmp_path)  # fmt: skip
    try:
        for chrome in browser(chromium):
            page = chrome.new_page(viewport={"width": 1500, "height": 1300}, bypass_csp=True)
            page.goto(f"{run.url}?token={ALICE}")
            page.evaluate(WATCH)
            card = page.locator('#pending .proposal[data-id="2"]')
            card.wait_for(timeout=120_000)
            page.wait_for_function("""() => Object.values(window.seen).filter(s => s[s.length - 1] === 'done').length
                === 3""", timeout=400_000)  # fmt: skip
            live = shown(page, '#pending .proposal[data-id="2"]')
            assert set(live) == set(ALTERNATIVES), live
            seen = page.evaluate("window.seen")
            for alt in ALTERNATIVES:  # updated as it went: running, then done (first waiting for the snapshot at the
                # hold, and queued when no core was free)
                assert seen[alt][-2:] == ["running", "done"], seen
                assert set(seen[alt]) <= {"snapshot", "queued", "running", "done"}, seen
            card.screenshot(path=screenshot(tmp_path, "console-forecast.png"))
            card.locator("button.approve").click()
            code, _, err = run.wait(300)
            assert code == 0, err[-3000:]
            page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('completed')")
            assert check_step_times(page) >= 5
            figures(page)  # with the forecast table and the step times on the page
    finally:
        run.stop()
    with RunStore(out) as store:
        rows = store.forecasts()
    assert [(r["decision"], r["alternative"], r["status"]) for r in rows] == [(2, a, "done") for a in ALTERNATIVES]
    stored = recorded(rows)
    assert live == stored  # the value and the difference to approving shown for each KPI are the recorded ones
    assert any(d not in (0, None) for kpis in stored.values() for _, d in kpis.values())

    serve = Run([sys.executable, "-m", "federation.app.cli", "console", str(out), "--listen", "0", "--users",
                 str(users_file(tmp_path))], tmp_path, timeout=30)  # fmt: skip
    try:
        for chrome in browser(chromium):
            page = chrome.new_page(viewport={"width": 1500, "height": 1100}, bypass_csp=True)
            page.goto(f"{serve.url}?token={VICTOR}")
            page.locator("#scrubber").wait_for(state="visible", timeout=20_000)
            row = page.locator('#history tr[data-forecasts="2"]')
            row.wait_for(timeout=20_000)
            assert shown(page, '#history tr[data-forecasts="2"]') == stored
            page.locator("#cursor").fill("39000")  # before the decision: not in the history yet
            page.locator("#cursor").dispatch_event("input")
            row.wait_for(state="detached", timeout=10_000)
    finally:
        serve.kill()
