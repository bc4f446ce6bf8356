"""Forecasts at a pending decision: one fork per alternative answer, run ahead while a human decides.

A decision rule with ``forecast: {horizon: 24 h, alternatives: [approve, reject, {edit: {...}}]}``
(docs/decisions.md) holds a proposal for a human; while it is held, the coordinator starts one
``federation fork`` process per alternative, from the run's last checkpoint (at or before the
proposal), answering the proposal with that alternative and every decision taken since the
checkpoint as it was taken, up to the proposal's time plus the horizon, as fast as possible.
At most one fork per core runs at a time.  Each fork's KPIs, and their difference to
approving, go to the terminal prompt, to the control endpoint's ``pending`` view and to the
store's ``forecasts`` table.  A fork still running at the decision's timeout is stopped and
reported as timed out; one still running when the decision is answered is stopped too.

Runs are deterministic, so a fork re-runs the parent's past exactly from the checkpoint to
the proposal and differs from there on only by the answer (docs/what-if.md).
"""

from __future__ import annotations

import enum
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Mapping

from ..decisions.gate import Answer, DecisionGate, Proposal, Verdict
from ..results.store import RunStore, Saved, StoreError
from .priority import child_setup

__all__ = ["Forecasts", "ForecastStatus"]

log = logging.getLogger("federation.engine.coordinator")


class ForecastStatus(str, enum.Enum):
    QUEUED = "queued"  # waiting for a free core
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # the fork ended with an error (its log says why)
    TIMED_OUT = "timed out"  # could not finish before the decision's timeout
    CANCELLED = "cancelled"  # the decision was answered first
    NO_CHECKPOINT = "no checkpoint"  # nothing to fork from


_FINAL = (ForecastStatus.DONE, ForecastStatus.FAILED, ForecastStatus.TIMED_OUT, ForecastStatus.CANCELLED,
          ForecastStatus.NO_CHECKPOINT)  # fmt: skip


@dataclass
class _Job:
    """One alternative's fork."""

    proposal: Proposal
    answer: Answer
    index: int
    until: float
    fork_time: float
    argv: list[str]
    out: Path
    status: ForecastStatus = ForecastStatus.QUEUED
    process: subprocess.Popen[bytes] | None = None
    stderr: IO[bytes] | None = None
    started: float = 0.0
    wall: float = 0.0
    kpis: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"alternative": self.answer.describe(), "status": self.status.value, "fork_time": self.fork_time,
                "until": self.until, "wall": round(self.wall, 3), "kpis": self.kpis, "note": self.note}  # fmt: skip


class Forecasts:
    """The forecasts of a run's held decisions (the coordinator owns one; it polls it in its loop)."""

    def __init__(self, gate: DecisionGate, store: Path, folder: Path, stop: float,
                 last_checkpoint: Callable[[], Saved | None], write: Callable[[list[dict[str, Any]]], None],
                 cores: int | None = None) -> None:  # fmt: skip
        self.gate = gate
        self.store = Path(store)
        self.folder = Path(folder)
        self.stop = stop
        self.last_checkpoint = last_checkpoint
        self.write = write
        self.cores = cores or len(os.sched_getaffinity(0))
        self.jobs: list[_Job] = []  # unfinished (and finished, until their decision's forecasts are all done)
        self.finished: list[int] = []  # the proposals whose forecasts are all reported
        self.stopping: list[_Job] = []  # forks told to stop, not yet exited (reaped by poll and close)

    def __repr__(self) -> str:
        return f"<Forecasts {len(self.jobs)} jobs, {self.cores} at a time>"

    # ------------------------------------------------------------------ starting
    def start(self, proposal: Proposal) -> None:
        """A proposal with forecasts is held: queue one fork per alternative (the gate calls it)."""
        spec = proposal.forecast
        assert spec is not None
        saved = self.last_checkpoint()
        until = min(proposal.time + spec.horizon, self.stop)
        jobs = []
        for index, answer in enumerate(spec.alternatives):
            out = self._out(proposal.id, index, answer)
            argv = [sys.executable, "-m", "federation.app.cli", "fork", str(self.store), "--at",
                    repr(saved.time if saved is not None else 0.0), *self._earlier(proposal, saved),
                    "--answer", f"{proposal.id}={answer.describe()}", "--until", repr(until), "--out", str(out), "-q"]  # fmt: skip
            job = _Job(proposal, answer, index, until, saved.time if saved is not None else math.nan, argv, out)
            if saved is None or saved.tick > proposal.tick:
                job.status, job.note = ForecastStatus.NO_CHECKPOINT, "the run has no checkpoint at or before the proposal"
            jobs.append(job)
        proposal.forecasts = [j.to_json() for j in jobs]
        self.jobs.extend(jobs)
        log.info("decision %d: forecasting %d alternatives to t=%g s from the checkpoint at t=%s s", proposal.id,
                 len(jobs), until, "-" if saved is None else f"{saved.time:g}")  # fmt: skip
        self.poll()

    def _earlier(self, proposal: Proposal, saved: Saved | None) -> list[str]:
        """``--answer`` for every decision taken since the checkpoint: the fork answers them as this run did."""
        if saved is None:
            return []
        answers = []
        for row in self.gate.history:
            if row["id"] == proposal.id or row["time"] < saved.time:
                continue
            verdict = {"approved": "approve", "rejected": "reject", "edited": "edit"}[row["verdict"]]
            if verdict == "edit":
                final = row["final"]
                given = "edit:" + json.dumps(final if isinstance(final, dict) else {}, sort_keys=True)
            else:
                given = verdict
            answers += ["--answer", f"{row['id']}={given}"]
        return answers

    def _out(self, decision: int, index: int, answer: Answer) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        label = answer.verdict.value if answer.verdict is not Verdict.EDIT else f"edit{index}"
        base = f"decision-{decision}-{label}"
        out, n = self.folder / f"{base}.sqlite", 1
        while out.exists():  # a decision asked again (a resumed run): keep the earlier forecast
            n += 1
            out = self.folder / f"{base}-{n}.sqlite"
        return out

    # ------------------------------------------------------------------ polling
    def poll(self) -> None:
        """Reap finished forks, stop late ones, start queued ones on free cores, report complete decisions."""
        if not self.jobs:
            return
        now = time.monotonic()
        limit = self.gate.spec.timeout
        for job in self.jobs:
            if job.status is ForecastStatus.RUNNING:
                self._check(job, now, limit)
            elif job.status is ForecastStatus.QUEUED:
                if limit is not None and now - job.proposal.created >= limit:
                    job.status, job.note = ForecastStatus.TIMED_OUT, f"not started before the decision's timeout ({limit:g} s)"
                elif job.proposal.id not in self.gate.pending:
                    job.status, job.note = ForecastStatus.CANCELLED, "the decision was answered first"
        running = sum(1 for j in self.jobs if j.status is ForecastStatus.RUNNING)
        for job in self.jobs:
            if running >= self.cores:
                break
            if job.status is ForecastStatus.QUEUED:
                self._launch(job)
                running += 1
        for proposal in {j.proposal.id: j.proposal for j in self.jobs}.values():
            mine = [j for j in self.jobs if j.proposal is proposal]
            proposal.forecasts = [j.to_json() for j in mine]
            if all(j.status in _FINAL for j in mine):
                self._report(proposal, mine)
                self.jobs = [j for j in self.jobs if j.proposal is not proposal]
                self.stopping += [j for j in mine if j.process is not None and j.process.poll() is None]
        self.stopping = [j for j in self.stopping if j.process is not None and j.process.poll() is None]

    def _launch(self, job: _Job) -> None:
        job.stderr = open(job.out.with_suffix(".log"), "wb")  # noqa: SIM115 (closed when the fork ends)
        job.process = subprocess.Popen(job.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=job.stderr, start_new_session=True, preexec_fn=child_setup())  # fmt: skip
        job.started = time.monotonic()
        job.status = ForecastStatus.RUNNING

    def _check(self, job: _Job, now: float, limit: float | None) -> None:
        assert job.process is not None
        code = job.process.poll()
        job.wall = now - job.started
        if code is None:
            if limit is not None and now - job.proposal.created >= limit:
                self._end(job, ForecastStatus.TIMED_OUT, f"could not finish before the decision's timeout ({limit:g} s)")
            elif job.proposal.id not in self.gate.pending:
                self._end(job, ForecastStatus.CANCELLED, "the decision was answered first")
            return
        if job.stderr is not None:
            job.stderr.close()
        if code != 0:
            tail = job.out.with_suffix(".log").read_text(errors="replace").strip().splitlines()
            job.status, job.note = ForecastStatus.FAILED, tail[-1] if tail else f"exit status {code}"
            return
        try:
            with RunStore(job.out, warn=False) as run:
                job.kpis = {name: {"value": value, "unit": unit} for name, value, unit, _ in run.kpis()}
        except (StoreError, OSError) as exc:
            job.status, job.note = ForecastStatus.FAILED, f"cannot read the fork's store: {exc}"
            return
        job.status = ForecastStatus.DONE

    def _end(self, job: _Job, status: ForecastStatus, note: str) -> None:
        """Stop a fork: SIGTERM to its coordinator, which stops its federates (``fork`` handles it); never wait."""
        job.status, job.note = status, note
        assert job.process is not None
        try:
            job.process.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass

    # ------------------------------------------------------------------ reporting
    def _report(self, proposal: Proposal, jobs: list[_Job]) -> None:
        reference = next((j.kpis for j in jobs if j.answer.verdict is Verdict.APPROVE and j.status is ForecastStatus.DONE), None)
        rows = []
        for job in jobs:
            delta = _delta(job.kpis, reference) if job.status is ForecastStatus.DONE and reference is not None else {}
            entry = job.to_json()
            entry["delta"] = delta
            rows.append({"decision": proposal.id, "tick": proposal.tick, "time": proposal.time,
                         "alternative": job.answer.describe(), "status": job.status.value,
                         "fork_time": job.fork_time, "until_time": job.until, "wall": job.wall, "kpis": job.kpis,
                         "delta": delta, "store": str(job.out), "note": job.note})  # fmt: skip
            proposal.forecasts[job.index] = entry
        self.finished.append(proposal.id)
        self.write(rows)
        text = describe(proposal, rows, time.monotonic() - proposal.created)
        for line in text.splitlines():
            log.info("%s", line)
        self.gate.say(text)

    def close(self) -> None:
        """The run ends: stop every fork still running."""
        for job in self.jobs:
            if job.status is ForecastStatus.RUNNING:
                self._end(job, ForecastStatus.CANCELLED, "the run ended first")
        for job in (*self.jobs, *self.stopping):
            if job.process is not None:
                try:
                    job.process.wait(10.0)
                except subprocess.TimeoutExpired:
                    log.warning("decision %d: forecast fork (pid %d) did not stop: killed", job.proposal.id,
                                job.process.pid)  # fmt: skip
                    job.process.kill()
                    job.process.wait()
            if job.stderr is not None:
                job.stderr.close()
        self.jobs, self.stopping = [], []


def _delta(kpis: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, float | None]:
    """Each KPI minus approving's (None where either is not a number)."""
    out: dict[str, float | None] = {}
    for name, entry in kpis.items():
        value, ref = entry.get("value"), reference.get(name, {}).get("value")
        out[name] = value - ref if isinstance(value, (int, float)) and isinstance(ref, (int, float)) else None
    return out


def describe(proposal: Proposal, rows: list[dict[str, Any]], seconds: float) -> str:
    """The forecasts of one decision as the terminal shows them."""
    first = rows[0]
    head = (f"[decision {proposal.id}] forecast to t={first['until_time']:g} s from the checkpoint at "
            f"t={first['fork_time']:g} s, {len(rows)} alternatives in {seconds:.1f} s:")  # fmt: skip
    lines = [head]
    for row in rows:
        if row["status"] != ForecastStatus.DONE.value:
            lines.append(f"  {row['alternative']}: {row['status']} ({row['note']})")
            continue
        parts = []
        for name, entry in row["kpis"].items():
            value = entry["value"]
            shown = "-" if value is None else f"{value:.4g}"
            change = row["delta"].get(name)
            diff = f" ({change:+.4g})" if change and row["alternative"] != "approve" else ""
            parts.append(f"{name} {shown}{(' ' + entry['unit']) if entry['unit'] else ''}{diff}")
        lines.append(f"  {row['alternative']}: " + ", ".join(parts))
    return "\n".join(lines)
