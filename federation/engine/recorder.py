"""Writing the run store: one SQLite file per run, written by the coordinator.

The tables, the schema version and the SQL are :mod:`federation.results.store`'s (see
docs/architecture.md, "The run store"); the recorder decides what is written when: the
run's metadata, the samples and messages of each step in (tick, federate, output) order so
that two runs of the same scenario and seed give identical rows, decisions, external samples,
pacing, KPIs and the final marks.

The file is in WAL mode and committed in batches, so it survives a crash of any process
with everything up to the last commit.  Each commit refreshes ``run.heartbeat_at``; with the
coordinator's host and pid (``coordinator_*``) it lets readers tell a live run from one
whose coordinator died (:mod:`federation.results.liveness`).

The recorder writes into a file claimed for it (:func:`federation.results.claim.claim_store`).  A
write that fails (a full disk, an I/O error) raises :class:`~federation.errors.OutputError`
naming the store and the OS error; :meth:`Recorder.close` still marks the run: the recorder
keeps ``RESERVE_BYTES`` of disk in a file beside the store (``<store>-reserve``) for the whole
run and frees them before it writes the final marks, so that a full disk can still take them.
"""

from __future__ import annotations

import json
import logging
import platform
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from .. import __version__
from ..errors import OutputError
from ..results.liveness import Owner
from ..results.store import StoreError, StoreWriter, describe_error
from ..scenario.model import TimeSpec
from ..scenario.synchronisation import RECORD_OUTPUT
from .plan import Plan
from .scheduler import Sample, SentMessage

__all__ = ["Recorder", "RunStatus", "to_sql"]

log = logging.getLogger(__name__)

class RunStatus:
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


def to_sql(value: Any) -> Any:
    """A signal value as SQLite stores it: numbers as numbers, the rest as JSON text."""
    if isinstance(value, (int, float, str)) or value is None:
        return value
    return json.dumps(value, separators=(",", ":"), default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return repr(value)


class Recorder:
    """Writes one run; use as a context manager or call :meth:`close`."""

    COMMIT_SECONDS = 0.5
    RESERVE_BYTES = 64 * 1024  # far more than the final marks need (a few pages of the write-ahead log)

    def __init__(self, path: str | Path, plan: Plan) -> None:
        """Open the claimed store file ``path`` (absent or empty) and write the run's metadata."""
        self.path = Path(path)
        self.plan = plan
        self.failure: OutputError | None = None  # the write error that ended the run, if any
        self.marked = False  # close() recorded the final status
        self.rows = 0
        if self.path.exists() and self.path.stat().st_size:
            raise OutputError(self.path, "is not empty; a recorder writes only a claimed file "
                                         "(federation.results.claim.claim_store)")  # fmt: skip
        try:
            self.db: StoreWriter = StoreWriter(self.path)
            self.db.create()
        except StoreError as exc:
            raise self._failed(exc, during_run=False) from exc
        try:
            self.db.begin()
            self._write_metadata()
            self.db.commit()
            self.db.begin()
        except StoreError as exc:
            self.db.close()
            raise self._failed(exc, during_run=False) from exc
        self._last_commit = time.monotonic()
        self._reserve()

    @classmethod
    def resume(cls, path: str | Path, plan: Plan, tick: int) -> Recorder:
        """Open the store of an earlier run to append to it from its checkpoint at ``tick`` (docs/what-if.md).

        What it recorded at or after ``tick`` is removed first (:meth:`StoreWriter.discard_after`).
        """
        self = cls.__new__(cls)
        self.path, self.plan, self.failure, self.marked, self.rows = Path(path), plan, None, False, 0
        self._sync_ids = frozenset(s.id for s in plan.signals if s.name == RECORD_OUTPUT)
        try:
            self.db = StoreWriter.reopen(self.path)
        except StoreError as exc:
            raise self._failed(exc, during_run=False) from exc
        try:
            self.db.begin()
            removed = self.db.discard_after(tick)
            self.db.put_meta({"status": RunStatus.RUNNING, "reason": "", "resumed_from_tick": str(tick),
                              "resumed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                              **Owner.this_process().to_meta()}.items())  # fmt: skip
            self.db.commit()
            self.db.begin()
        except StoreError as exc:
            self.db.close()
            raise self._failed(exc, during_run=False) from exc
        log.info("%s: resuming at tick %d; removed the rows recorded since: %s", self.path, tick,
                 ", ".join(f"{n} {k}" for k, n in removed.items() if n) or "none")  # fmt: skip
        self._last_commit = time.monotonic()
        self._reserve()
        return self

    @property
    def reserve(self) -> Path:
        return Path(f"{self.path}-reserve")

    def _reserve(self) -> None:
        """Take the disk space the final marks will need, before the run can fill the disk."""
        try:
            with open(self.reserve, "wb") as fh:
                fh.write(bytes(self.RESERVE_BYTES))
        except OSError as exc:
            self.db.close()
            self.reserve.unlink(missing_ok=True)
            raise OutputError(self.reserve, f"cannot set disk space aside for the run store: {exc.strerror}") from exc

    def _failed(self, exc: StoreError, *, during_run: bool) -> OutputError:
        self.failure = OutputError(self.path, f"cannot write the run store: {describe_error(exc)}", during_run=during_run)
        return self.failure

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn an SQLite error into an OutputError naming the store (a run in progress fails)."""
        try:
            yield
        except StoreError as exc:
            raise self._failed(exc, during_run=True) from exc

    def _write_metadata(self) -> None:
        sc = self.plan.scenario
        meta = {
            "scenario_name": sc.name,
            "scenario_file": str(Path(sc.file).resolve()),
            "scenario_text": sc.text,
            "seed": str(sc.seed),
            "start": repr(sc.time.start),
            "stop": repr(sc.time.stop),
            "resolution": repr(sc.time.resolution),
            "federation_version": __version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "status": RunStatus.RUNNING,
            "heartbeat_at": repr(time.time()),
            **Owner.this_process().to_meta(),
            **_clock_meta(sc.time),
        }
        meta.update(_versions())
        self.db.put_meta(meta.items())
        for i, name in enumerate(self.plan.names):
            spec = sc.federates[name]
            period = self.plan.periods[i]
            self.db.add_federate(i, name, spec.type or "external",
                                 self.plan.base.seconds(period) if period is not None else None)  # fmt: skip
        self.db.add_signals((s.id, s.federate, s.name, s.unit, s.type) for s in self.plan.signals
                            if s.record and s.name != RECORD_OUTPUT)  # fmt: skip
        self._write_sync_pairs()

    def write(self, samples: Iterable[Sample], messages: Iterable[SentMessage], *, record_messages: bool = True) -> None:
        plan = self.plan
        seconds = plan.base.seconds
        ids = plan.signal_ids
        if self._sync_ids:
            samples = self._write_corrections(samples)
        rows = [(tick, seconds(tick), ids[fed][out], to_sql(value)) for tick, fed, out, value in samples]
        with self._writing():
            self.db.add_samples(rows)
            self.rows += len(rows)
            if record_messages:
                mrows = [(m.tick, seconds(m.tick), m.sent_at, m.source, m.target, to_sql(m.payload)) for m in messages]
                self.db.add_messages(mrows)
                self.rows += len(mrows)
        self.beat()

    # ---------------------------------------------------------- synchronise: (docs/synchronise.md)
    _sync_ids: frozenset[int] = frozenset()  # signal ids of the hidden outputs that carry correction records

    def _write_sync_pairs(self) -> None:
        self._sync_ids = frozenset(s.id for s in self.plan.signals if s.name == RECORD_OUTPUT)
        settings = ("tau", "model_variance", "measurement_variance", "initial_variance", "stale_after", "max_jump",
                    "blind_after", "alarm", "clear_within", "alarm_after", "clear_after")  # fmt: skip
        self.db.add_sync_pairs([(p.id, p.measured, p.model, p.method.value, p.unit, p.acceptable,
                              json.dumps({k: getattr(p, k) for k in settings if getattr(p, k) is not None}))
                                for p in self.plan.sync])  # fmt: skip

    def _write_corrections(self, samples: Iterable[Sample]) -> list[Sample]:
        """Write the correction records among ``samples`` (each sample of a hidden output holds a step's
        records); return the other samples."""
        sync, ids, seconds = self._sync_ids, self.plan.signal_ids, self.plan.base.seconds
        rest, records = [], []
        for sample in samples:
            tick, fed, out, value = sample
            if ids[fed][out] not in sync:
                rest.append(sample)
            elif value is not None:
                records += [(tick, seconds(tick), *record[1:]) for record in value]
        if records:
            with self._writing():
                self.db.add_corrections(records)
        return rest

    def decision(self, row: dict[str, Any]) -> int:
        """Record a decision; return its id (the ``id`` of its :class:`~federation.DecisionRecord`)."""
        with self._writing():
            return self.db.add_decision({k: to_sql(v) if k in ("proposal", "final") else v for k, v in row.items()})

    def external(self, rows: Iterable[tuple[int, int, int, str, float, float, float, Any]]) -> None:
        """External samples (federation.engine.live): (tick, federate, seq, output, stamp, arrival, lateness, value)."""
        seconds, names = self.plan.base.seconds, self.plan.names
        with self._writing():
            self.db.add_external([(tick, seconds(tick), names[fed], seq, output, stamp, arrival, lateness, to_sql(value))
                                  for tick, fed, seq, output, stamp, arrival, lateness, value in rows])  # fmt: skip

    def pacing(self, rows: Iterable[tuple[int, float, float, float, float, int]]) -> None:
        """Rows of the ``pacing`` table (see :class:`federation.engine.pacer.Pacer`)."""
        with self._writing():
            self.db.add_pacing(rows)

    def kpis(self, values: Iterable[tuple[str, float, str, str]]) -> None:
        with self._writing():
            self.db.put_kpis(values)

    def federate_status(self, name: str, status: str, grants: int | None = None) -> None:
        with self._writing():
            self.db.federate_status(name, status, grants)

    def federate_pid(self, name: str, pid: int) -> None:
        with self._writing():
            self.db.federate_pid(name, pid)

    def meta(self, **values: Any) -> None:
        with self._writing():
            self.db.put_meta((k, str(v)) for k, v in values.items())

    def beat(self) -> None:
        """Commit when the last commit is older than ``COMMIT_SECONDS``: readers judge liveness by it."""
        if time.monotonic() - self._last_commit > self.COMMIT_SECONDS:
            self.commit()

    def commit(self) -> None:
        """Commit what was written, with a fresh heartbeat, and open the next transaction."""
        with self._writing():
            self.db.put_meta([("heartbeat_at", repr(time.time()))])
            if self.db.in_transaction:
                self.db.commit()
            self.db.begin()
        self._last_commit = time.monotonic()

    _last_commit = 0.0

    def close(self, status: str, reason: str = "", federates: Iterable[tuple[str, str, int]] = (),
              meta: Iterable[tuple[str, str]] = ()) -> None:
        """Mark the run and each federate (name, status, grants), with ``meta`` (key, value) of the run's
        end (the federates' step times), and make the file whole.

        After a write failure this is best effort: the batch that failed is rolled back and
        the marks are tried in a transaction of their own; ``marked`` tells whether they landed.
        """
        if self.db is None:
            return
        db = self.db
        self.reserve.unlink(missing_ok=True)  # the space set aside for these marks
        try:
            if self.failure is not None and db.in_transaction:
                db.rollback()  # the batch that did not fit
            if not db.in_transaction:
                db.begin()
            db.federates_final(federates)
            db.put_meta([*meta, ("status", status), ("reason", reason),
                         ("ended_at", time.strftime("%Y-%m-%dT%H:%M:%S%z"))])  # fmt: skip
            db.commit()
            self.marked = True
            db.checkpoint()
        except StoreError as exc:
            if not self.marked and self.failure is None:  # a run that went well until its close
                self._failed(exc, during_run=True)
            if self.marked:  # the marks are in the write-ahead log, which readers read too
                log.debug("%s: could not checkpoint the write-ahead log: %s", self.path, describe_error(exc))
            else:
                log.warning("%s: could not mark the run %s: %s", self.path, status, describe_error(exc))
        finally:
            db.close()
            self.db = None  # type: ignore[assignment]

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(RunStatus.FAILED if exc[0] else RunStatus.COMPLETED)


def _clock_meta(spec: TimeSpec) -> dict[str, str]:
    """How the run is tied to the wall clock: its epoch (UTC instant of t = 0) and its pace."""
    meta = {}
    if spec.epoch is not None:
        meta["epoch"] = repr(spec.epoch)
        meta["epoch_utc"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(spec.epoch)) + f".{int(spec.epoch % 1 * 1e6):06d}Z"
    if spec.pace is not None:
        meta["pace"] = repr(spec.pace.factor)
        meta["hold_back"] = repr(spec.hold_back)
        if spec.pace.max_lag is not None:
            meta["max_lag"] = repr(spec.pace.max_lag)
        if spec.pace.realtime is not None:
            meta["pace_realtime"] = str(spec.pace.realtime)  # the coordinator's SCHED_FIFO priority
    return meta


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("pyzmq", "msgpack", "numpy", "scipy", "simpy", "fmpy", "networkx"):
        try:
            out[f"version_{pkg}"] = version(pkg)
        except PackageNotFoundError:
            pass
    return out
