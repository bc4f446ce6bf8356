"""Forecasts at a pending decision: one fork per alternative answer, run ahead while a human decides.

A decision rule with ``forecast: {horizon: 24 h, alternatives: [approve, reject, {edit: {...}}]}``
(docs/decisions.md) holds a proposal for a human; while it is held, the coordinator takes a
snapshot of the federation *now* -- a checkpoint at the hold, the held step and the messages in
flight included (:meth:`federation.engine.checkpoint.Checkpoints.request_hold_snapshot`) -- and
starts one ``federation fork`` per alternative from it, answering the proposal with that
alternative, up to the proposal's time plus the horizon, as fast as possible.  No fork re-runs
the past.  When no snapshot can be taken at the hold, the forks start from the run's last
checkpoint instead and answer every decision taken since as it was taken (the forecast's
``note`` says why).

The forks are forked from the run's preloaded fork server (no fresh interpreter); with
``executor: dask`` they are tasks on the Dask cluster ``federation sweep`` uses.  At most one
fork more than there are cores runs at a time -- in a paced run one fewer than the cores (local forks), at a lower priority (``nice``), so
that the live federation keeps its core.  Each fork's KPIs, and their difference to
approving, go to the terminal prompt, to the control endpoint's ``pending`` view and to the
store's ``forecasts`` table.  A fork still running at the decision's timeout is stopped and
reported as timed out; one still running when the decision is answered is stopped too.
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
from typing import Any, Callable, Mapping

from ..decisions.gate import Answer, DecisionGate, Proposal, Verdict
from ..results.store import RunStore, Saved, StoreError
from ..scenario.decisions import ForecastExecutor
from .checkpoint import HoldSnapshot
from .priority import child_setup

__all__ = ["Forecasts", "ForecastStatus", "ForkTask", "run_fork", "PACED_NICE"]

PACED_NICE = 10
"""How much lower the forks of a paced run are scheduled than the live federation (``os.nice``)."""
CLI_MODULE = "federation.app.cli"

log = logging.getLogger("federation.engine.coordinator")


class ForecastStatus(str, enum.Enum):
    SNAPSHOT = "snapshot"  # waiting for the snapshot at the hold
    QUEUED = "queued"  # waiting for a free core
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # the fork ended with an error (its log says why)
    TIMED_OUT = "timed out"  # could not finish before the decision's timeout
    CANCELLED = "cancelled"  # the decision was answered first
    NO_CHECKPOINT = "no checkpoint"  # nothing to fork from


_FINAL = (ForecastStatus.DONE, ForecastStatus.FAILED, ForecastStatus.TIMED_OUT, ForecastStatus.CANCELLED,
          ForecastStatus.NO_CHECKPOINT)  # fmt: skip


@dataclass(frozen=True)
class ForkTask:
    """One fork of a forecast as a Dask task runs it (:func:`run_fork`): ``federation fork`` and its arguments."""

    args: tuple[str, ...]  # ``fork RUN.sqlite --at T --answer ... --until T --out OUT -q``
    out: Path
    stop_event: str = ""  # the name of a Dask Event that stops the fork when set


def run_fork(task: ForkTask) -> dict[str, Any]:
    """Run one fork to its end (the Dask task: ``federation fork`` in a process of its own on the worker);
    its KPIs as the forecasts table keeps them.  Raises RuntimeError with the last line of its log when it fails."""
    log_path = task.out.with_suffix(".log")
    with open(log_path, "wb") as err:
        process = subprocess.Popen([sys.executable, "-m", CLI_MODULE, *task.args], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)  # fmt: skip
    event: Any = None
    if task.stop_event:
        from distributed import Event

        event = Event(task.stop_event)  # type: ignore[no-untyped-call]
    try:
        while process.poll() is None:
            if event is not None and event.is_set():  # the forecast no longer wants it
                process.send_signal(signal.SIGTERM)
                process.wait(30)
                break
            try:
                process.wait(0.5)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()
        raise RuntimeError(tail[-1] if tail else f"exit status {process.returncode}")
    with RunStore(task.out, warn=False) as run:
        return {name: {"value": value, "unit": unit} for name, value, unit, _ in run.kpis()}


@dataclass
class _Job:
    """One alternative's fork."""

    proposal: Proposal
    answer: Answer
    index: int
    until: float
    out: Path
    fork_time: float = math.nan
    origin: str = ""  # "now": the snapshot at the hold; "checkpoint": the last checkpoint (the note says why)
    args: list[str] = field(default_factory=list)  # ``federation fork`` arguments
    answers: tuple[tuple[int, str], ...] = ()
    at_tick: int = 0
    status: ForecastStatus = ForecastStatus.SNAPSHOT
    process: Any = None  # a process (local) or a Dask future
    stop_event: Any = None  # Dask: the Event that stops the task
    started: float = 0.0
    wall: float = 0.0
    kpis: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"alternative": self.answer.describe(), "status": self.status.value, "fork_time": self.fork_time,
                "from": self.origin, "until": self.until, "wall": round(self.wall, 3), "kpis": self.kpis,
                "note": self.note}  # fmt: skip


class Forecasts:
    """The forecasts of a run's held decisions (the coordinator owns one; it polls it in its loop)."""

    def __init__(self, gate: DecisionGate, store: Path, folder: Path, stop: float,
                 last_checkpoint: Callable[[], Saved | None], write: Callable[[list[dict[str, Any]]], None],
                 cores: int | None = None, *, snapshot: Callable[[int, Callable[[HoldSnapshot], None]], None] | None = None,
                 launcher: Any = None, paced: bool = False) -> None:  # fmt: skip
        self.gate = gate
        self.store = Path(store)
        self.folder = Path(folder)
        self.stop = stop
        self.last_checkpoint = last_checkpoint
        self.write = write
        self.snapshot = snapshot  # asks the coordinator for a snapshot at the hold (None: forks start from checkpoints)
        self.launcher = launcher  # forks the forks from the run's fork server (None: a fresh interpreter each)
        self.cores = cores or len(os.sched_getaffinity(0))
        self.paced = paced
        # forks at a time: a paced run keeps a core for the live federation; else one more than the cores, since
        # a fork's federates wait on each other every step and one fork alone keeps less than a core busy
        self.slots = max(1, self.cores - 1) if paced else self.cores + 1
        self.nice = PACED_NICE if paced else 0
        self.jobs: list[_Job] = []  # unfinished (and finished, until their decision's forecasts are all done)
        self.finished: list[int] = []  # the proposals whose forecasts are all reported
        self.stopping: list[_Job] = []  # forks told to stop, not yet exited (reaped by poll and close)
        self._dask: Any = None  # (cluster or None, client); () while being opened; the exception if it could not be
        self._preloaded = False

    def __repr__(self) -> str:
        return f"<Forecasts {len(self.jobs)} jobs, {self.slots} at a time>"

    # ------------------------------------------------------------------ starting
    def preload(self) -> None:
        """Once the run is under way (the coordinator's hook calls it): import ``federation fork``'s modules into
        the run's fork server, and start the Dask cluster of the rules with ``executor: dask``."""
        if self._preloaded:
            return
        self._preloaded = True
        if self.launcher is not None:
            self.launcher.preload_modules([CLI_MODULE, "federation.engine.coordinator", "federation.results.kpi"])
        dask = [r.forecast for r in self.gate.spec.rules if r.forecast and r.forecast.executor is ForecastExecutor.DASK]
        if dask and self._dask is None:  # a cluster takes seconds to start: not at the first decision
            self._open_dask(dask[0].scheduler, background=True)

    def start(self, proposal: Proposal) -> None:
        """A proposal with forecasts is held: ask for a snapshot now, then queue one fork per alternative (the gate calls it)."""
        spec = proposal.forecast
        assert spec is not None
        until = min(proposal.time + spec.horizon, self.stop)
        jobs = [_Job(proposal, answer, index, until, self._out(proposal.id, index, answer))
                for index, answer in enumerate(spec.alternatives)]  # fmt: skip
        proposal.forecasts = [j.to_json() for j in jobs]
        self.jobs.extend(jobs)
        if self.snapshot is not None:
            self.snapshot(proposal.tick, lambda snap: self._from(proposal, snap))
        else:
            self._from(proposal, HoldSnapshot(None, "this run takes no snapshot at a hold"))

    def _from(self, proposal: Proposal, snap: HoldSnapshot) -> None:
        """The snapshot at the hold is taken (or not): the forks of ``proposal`` start from it (or the last checkpoint)."""
        spec = proposal.forecast
        assert spec is not None
        saved, origin, note = snap.saved, "now", ""
        answers = tuple((pid, text) for pid, text in snap.answers if pid != proposal.id)
        if saved is None:
            saved, origin, note = self.last_checkpoint(), "checkpoint", f"no snapshot at the hold: {snap.reason}"
            answers = self._earlier(proposal, saved)
        for job in self.jobs:
            if job.proposal is not proposal or job.status is not ForecastStatus.SNAPSHOT:
                continue
            job.origin, job.note = origin, note
            if saved is None or saved.tick > proposal.tick:
                job.status, job.note = ForecastStatus.NO_CHECKPOINT, "the run has no checkpoint at or before the proposal"
                continue
            job.fork_time, job.at_tick, job.status = saved.time, saved.tick, ForecastStatus.QUEUED
            job.answers = (*answers, (proposal.id, job.answer.describe()))
            given = [arg for pid, text in job.answers for arg in ("--answer", f"{pid}={text}")]
            job.args = ["fork", str(self.store.resolve()), "--at", repr(saved.time), *given, "--until", repr(job.until),
                        "--out", str(job.out.resolve()), "-q"]  # fmt: skip
        log.info("decision %d: forecasting %d alternatives to t=%g s from %s", proposal.id, len(spec.alternatives),
                 min(proposal.time + spec.horizon, self.stop),
                 "-" if saved is None else f"{'now' if origin == 'now' else 'the checkpoint'} (t={saved.time:g} s)")  # fmt: skip
        self.poll()

    def _earlier(self, proposal: Proposal, saved: Saved | None) -> tuple[tuple[int, str], ...]:
        """Every decision taken since the checkpoint: the fork answers them as this run did."""
        if saved is None:
            return ()
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
            answers.append((int(row["id"]), given))
        return tuple(answers)

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
            elif job.status in (ForecastStatus.QUEUED, ForecastStatus.SNAPSHOT):
                if limit is not None and now - job.proposal.created >= limit:
                    job.status, job.note = ForecastStatus.TIMED_OUT, f"not started before the decision's timeout ({limit:g} s)"
                elif job.proposal.id not in self.gate.pending:
                    job.status, job.note = ForecastStatus.CANCELLED, "the decision was answered first"
        running = sum(1 for j in self.jobs if j.status is ForecastStatus.RUNNING)
        for job in self.jobs:
            if running >= self.slots:
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
                self.stopping += [j for j in mine if j.process is not None and not self._ended(j)]
        self.stopping = [j for j in self.stopping if j.process is not None and not self._ended(j)]

    def _dask_executor(self, job: _Job) -> bool:
        spec = job.proposal.forecast
        return spec is not None and spec.executor is ForecastExecutor.DASK

    def _ended(self, job: _Job) -> bool:
        if job.process is None:
            return True
        if self._dask_executor(job):
            return bool(job.process.done())
        return job.process.poll() is not None

    def _launch(self, job: _Job) -> None:
        job.started = time.monotonic()
        job.status = ForecastStatus.RUNNING
        log.info("decision %d: fork %s started (%s)", job.proposal.id, job.out.name,
                 "Dask" if self._dask_executor(job) else "local")  # fmt: skip
        if self._dask_executor(job):
            try:
                self._submit(job)
            except Exception as exc:  # no cluster (a wrong address, a scheduler that is down): this fork fails
                job.status, job.note = ForecastStatus.FAILED, f"cannot run on Dask: {type(exc).__name__}: {exc}"
                job.process = None
            return
        log_path = job.out.with_suffix(".log")
        if self.launcher is not None:
            job.process = self.launcher.start_python(CLI_MODULE, job.args, log_path, nice=self.nice)
            return
        with open(log_path, "wb") as err:
            job.process = subprocess.Popen([sys.executable, "-m", CLI_MODULE, *job.args], stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                           preexec_fn=child_setup(self.nice))  # fmt: skip  # noqa: PLW1509

    def _submit(self, job: _Job) -> None:
        """The fork as a task on the Dask cluster (made at the first Dask forecast)."""
        from distributed import Event

        client = self._client(job)
        name = f"federation-forecast-{job.out.stem}-{os.getpid()}-{id(job)}"
        job.stop_event = Event(name, client=client)  # type: ignore[no-untyped-call]
        task = ForkTask(tuple(job.args), job.out, name)
        job.process = client.submit(run_fork, task, key=name, pure=False)

    def _client(self, job: _Job) -> Any:
        """The Dask client (its cluster made in the background at the start of the run, or now)."""
        spec = job.proposal.forecast
        assert spec is not None
        if self._dask is None:
            self._open_dask(spec.scheduler)
        if self._opening is not None:
            self._opening.join()
            self._opening = None
        if isinstance(self._dask, BaseException):
            raise self._dask
        return self._dask[1]

    def _open_dask(self, scheduler: str | None, background: bool = False) -> None:
        """Connect to ``scheduler``, or start a local cluster (in a thread, with ``background``)."""
        import threading

        def connect() -> None:
            from distributed import Client, LocalCluster

            try:
                if scheduler is not None:  # as ``federation sweep --scheduler``
                    self._dask = (None, Client(scheduler, timeout="10s"))  # type: ignore[no-untyped-call]
                else:  # as ``federation sweep`` without it: processes, one fork per worker at a time
                    cluster = LocalCluster(n_workers=self.slots, threads_per_worker=1, processes=True, host="127.0.0.1",  # type: ignore[no-untyped-call]
                                           dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL)  # fmt: skip
                    self._dask = (cluster, Client(cluster))  # type: ignore[no-untyped-call]
            except Exception as exc:  # reported by the first fork that needs it
                self._dask = exc

        self._dask = ()  # being opened
        if background:
            self._opening = threading.Thread(target=connect, daemon=True, name="forecast-dask")
            self._opening.start()
        else:
            connect()

    _opening: Any = None  # the thread opening the Dask client

    def _check(self, job: _Job, now: float, limit: float | None) -> None:
        assert job.process is not None
        job.wall = now - job.started
        if not self._ended(job):
            if limit is not None and now - job.proposal.created >= limit:
                self._end(job, ForecastStatus.TIMED_OUT, f"could not finish before the decision's timeout ({limit:g} s)")
            elif job.proposal.id not in self.gate.pending:
                self._end(job, ForecastStatus.CANCELLED, "the decision was answered first")
            return
        if self._dask_executor(job):
            try:
                job.kpis = job.process.result()
            except Exception as exc:  # the task's error, as Dask hands it back
                job.status, job.note = ForecastStatus.FAILED, f"{type(exc).__name__}: {exc}"
                return
            job.status = ForecastStatus.DONE
            log.info("decision %d: fork %s done in %.2f s", job.proposal.id, job.out.name, job.wall)
            return
        code = job.process.poll()
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
        log.info("decision %d: fork %s done in %.2f s", job.proposal.id, job.out.name, job.wall)

    def _end(self, job: _Job, status: ForecastStatus, note: str) -> None:
        """Stop a fork: SIGTERM to its coordinator, which stops its federates (``fork`` handles it); never wait."""
        job.status, job.note = status, note
        assert job.process is not None
        if self._dask_executor(job):
            try:
                job.stop_event.set()
                job.process.cancel()
            except Exception as exc:  # the cluster is gone: nothing left to stop
                log.debug("forecast %s: cannot stop the Dask task: %s", job.out.name, exc)
            return
        try:
            os.kill(job.process.pid, signal.SIGTERM)
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
                         "delta": delta, "store": str(job.out), "note": job.note, "from": job.origin})  # fmt: skip
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
            if job.process is None or self._dask_executor(job):
                continue
            try:
                job.process.wait(10.0)
            except subprocess.TimeoutExpired:
                log.warning("decision %d: forecast fork (pid %d) did not stop: killed", job.proposal.id,
                            job.process.pid)  # fmt: skip
                job.process.kill()
                job.process.wait()
        self.jobs, self.stopping = [], []
        if self._opening is not None:
            self._opening.join()
            self._opening = None
        if isinstance(self._dask, tuple) and self._dask:  # the tasks told to stop end with the cluster or on their own
            (cluster, client), self._dask = self._dask, None
            for part in (client, cluster):
                try:
                    if part is not None:
                        part.close()
                except Exception as exc:  # a cluster that is already gone
                    log.debug("forecasts: closing the Dask %s: %s", type(part).__name__, exc)


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
    origin = (f"now (t={first['fork_time']:g} s)" if first.get("from") == "now" else
              f"the checkpoint at t={first['fork_time']:g} s")  # fmt: skip
    head = (f"[decision {proposal.id}] forecast to t={first['until_time']:g} s from {origin}, {len(rows)} "
            f"alternatives in {seconds:.1f} s:")  # fmt: skip
    lines = [head]
    if first.get("from") == "checkpoint" and first.get("note"):
        lines.append(f"  ({first['note']})")
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
