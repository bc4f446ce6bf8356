"""The coordinator: starts the federates, runs the clock over ZeroMQ, records the run.

One ROUTER socket; every federate a DEALER.  The loop is single-threaded: it waits on
the socket (never sleeps), hands DONE reports to the :class:`~federation.engine.scheduler.Scheduler`,
sends the grants that become possible, and between frames checks that the federate
processes are alive and flushes final samples to the recorder.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import secrets
import shlex
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import zmq

from .. import protocol
from ..access import Access
from ..address import BindAddress, is_loopback
from ..decisions.gate import Answer, Autonomy, DecisionGate
from ..errors import FederateError, FederationError, OutputError, ProtocolError, RunInterrupted
from ..protocol import ErrorCode, Kind
from ..results.claim import Claim, StorePolicy, claim_store, logs_folder
from ..results.kpi import record_kpis
from ..results.residuals import record_residual_kpis
from ..scenario.model import PROCESS_OWN, PROCESS_SHARED, CoordinatorSpec, RestartPolicy, Scenario
from .checkpoint import Checkpoints, Resume
from .forecast import Forecasts
from .health import Health
from .holding import DecisionHolds
from .launcher import Launcher
from .live import LiveSources
from .member import STEP_WINDOW as STEP_WINDOW  # the console's step-time window, also named here
from .member import Member as _Member
from .pacer import PacedLoop, PacedScheduler, Pacer, PacingSummary
from .plan import Plan
from .recorder import Recorder, RunStatus
from .scheduler import Grant, Scheduler
from .security import ENV_TOKEN, CurveServer, HandshakeMonitor, JoinTokens

if TYPE_CHECKING:
    from types import TracebackType

    from .replay import Replay

__all__ = ["Coordinator", "RunOptions", "RunSummary"]

log = logging.getLogger(__name__)

HARD_FRAME_CAP = 64 * 1024 * 1024  # ZeroMQ drops peers past this; frames under it get an error reply
_SNDMORE = int(zmq.SNDMORE)
_GRANTS, _DONE = int(Kind.GRANTS), int(Kind.DONE)
_WAITING = "waiting for a grant"
_PONG = protocol.Pong().encode()


@dataclass(frozen=True)
class RunOptions:
    """How to run a scenario (the CLI fills it from its flags).

    Settings left at ``None`` come from the scenario's ``coordinator:`` section.
    """

    out: Path
    store_policy: StorePolicy = StorePolicy.REFUSE  # when ``out`` exists (see federation.results.claim)
    bind: str | None = None  # tcp://HOST[:PORT]; default loopback, random port
    keys: Path | None = None  # CurveZMQ keys folder (required to bind beyond loopback)
    join_timeout: float | None = None
    grant_timeout: float | None = None  # wall seconds a federate may take for one step; math.inf: no limit
    heartbeat: float | None = None
    liveness: float | None = None  # wall seconds between process checks
    frame_limit: int | None = None
    debug: bool = False  # suspends liveness checks and grant timeouts
    progress: Callable[[float], None] | None = None
    autonomy: Autonomy = Autonomy.ASSISTED
    interactive: bool = False  # ask decisions at the terminal
    control: str | None = None  # bind a control endpoint for decisions (e.g. tcp://127.0.0.1:5600)
    prompt_in: Any = None  # the terminal prompt's input (default stdin)
    prompt_out: Any = None  # its output: a progress.StatusLine shared with the progress bar, or a stream (stderr)
    replay: Replay | None = None  # re-run a recorded live run (``federation replay``)
    access: Access | None = None  # users and roles the control endpoint requires (docs/console.md); None with
    # a control endpoint: tokens are made for the login name and a viewer (Coordinator.control_tokens)
    resume: Resume | None = None  # continue a run in its store from this checkpoint (``federation resume``)
    answers: Mapping[int, Answer] = field(default_factory=dict)  # decision id -> given answer (``federation fork --answer``)
    fork_at: int | None = None  # take a checkpoint at this tick and end there (a fork replaying up to its point)


def resolve_settings(spec: CoordinatorSpec, options: RunOptions) -> CoordinatorSpec:
    """The scenario's coordinator settings with the run options' overrides applied."""
    changes = {key: getattr(options, key) for key in ("bind", "join_timeout", "grant_timeout", "heartbeat",
                                                      "liveness", "frame_limit")
               if getattr(options, key) is not None}  # fmt: skip
    if options.keys is not None:
        changes["keys"] = str(options.keys)
    if changes.get("grant_timeout") == math.inf:
        changes["grant_timeout"] = None  # the scenario's spelling of "no limit"
    return replace(spec, **changes)


@dataclass(frozen=True)
class RunSummary:
    scenario: str
    store: Path
    status: str
    reason: str
    wall_seconds: float
    startup_seconds: float
    stepping_seconds: float
    sim_seconds: float
    grants: Mapping[str, int]
    messages: int
    samples: int
    errors: int
    logs: Path
    decisions: int = 0
    kpis: tuple[Any, ...] = ()  # KpiValue, computed from the store after a completed run
    pacing: PacingSummary | None = None  # a paced run's grant lateness

    @property
    def steps(self) -> int:
        return sum(self.grants.values())


@dataclass(frozen=True)
class Peer:
    """What ZeroMQ knows of a connection that has not joined: for refusals and the log."""

    address: str  # the client's IP address ("" when the transport has none)
    user: str | None  # CurveZMQ: the client's public key (Z85) as the authenticator accepted it

    @classmethod
    def of(cls, part: zmq.Frame, curve: bool) -> Peer:
        try:
            address = str(part.get("Peer-Address"))
        except zmq.ZMQError:
            address = ""
        return cls(address, str(part.get("User-Id")) if curve else None)


class Coordinator:
    """Runs one scenario to its stop time; ``run()`` returns a :class:`RunSummary`.

    It owns its socket and the federate processes it starts: use it as a context manager
    (``with Coordinator(scenario, options) as c: c.run()``), and leaving the block -- normally,
    by an exception or by Ctrl-C -- stops every process it started and closes the socket.
    Its parts are objects it holds: ``health`` (process, heartbeat and progress checks,
    restarts), ``live`` (live sources), ``checkpoints``, and when the run needs them ``holds``
    (steps held for decisions) and ``paced`` (the loop of a run paced to the wall clock).
    """

    def __init__(self, scenario: Scenario, options: RunOptions) -> None:
        if scenario.time.start_now:  # `start: now`: this run's epoch, in the plan's WELCOME and the store
            scenario = replace(scenario, time=scenario.time.tied(time.time()))
        self.scenario = scenario
        self.options = options
        self.settings = resolve_settings(scenario.coordinator, options)
        self.wait_ms = int(self.settings.liveness * 1000)  # longest wait for a frame now (the paced loop lowers it)
        self._frame_limit = self.settings.frame_limit
        self.plan = Plan.build(scenario)
        self.members = [_Member(i, n, self.plan.base) for i, n in enumerate(self.plan.names)]
        self.by_name = {m.name: m for m in self.members}
        self.by_identity: dict[bytes, _Member] = {}
        self.errors = 0
        self.messages = 0
        self.samples = 0
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.sock.setsockopt(zmq.MAXMSGSIZE, HARD_FRAME_CAP)
        try:
            self._build(scenario, options)
        except BaseException:  # nothing is left open when the coordinator cannot be made
            self._release_sockets()
            raise

    def _build(self, scenario: Scenario, options: RunOptions) -> None:
        """Everything after the socket: its security and address, the scheduler, the parts, last the store's claim."""
        self.curve = self._security()
        self.handshakes = HandshakeMonitor(self.sock, self.curve)
        self.address = self._bind(self.settings.bind or "tcp://127.0.0.1")
        self.handshakes.address = self.address
        self.tokens = self._issue_tokens()
        self._sender: Callable[..., Any] = self.sock.send  # bytes out (an identity, then a frame protocol.py encoded)
        self.pacer = Pacer(scenario.time) if scenario.time.pace else None
        paced = self.plan.scheduler(PacedScheduler) if scenario.time.pace else None
        assert paced is None or isinstance(paced, PacedScheduler)
        self.scheduler: Scheduler = paced if paced is not None else self.plan.scheduler(Scheduler)
        self.recorder: Recorder | None = None
        self.hooks: list[Callable[[Coordinator], None]] = []
        self.run_id = secrets.token_hex(6)  # published by output bridges (Context.run_id)
        self.control_tokens: dict[str, str] = {}  # name -> token, made when a control endpoint has no users
        self.decisions = 0
        self.live = LiveSources(self, self.plan, self.scheduler, self.pacer, options.replay, self.run_id)
        self.gate = self._make_gate()
        self.claim = self._claim()
        self.out = self.claim.store  # the store this run writes (the next free name, with that policy)
        self.log_dir = self.claim.logs
        self.launcher = Launcher(self.log_dir)
        self.health = Health(self, self.plan, self.scheduler, self.launcher, self.settings, self.members,
                             self.by_identity, directory=scenario.directory, debug=options.debug)  # fmt: skip
        self.checkpoints = Checkpoints(self, self.plan, self.scheduler, self.members, self.settings, scenario, self.gate,
                                       resume=options.resume, debug=options.debug, fork_at=options.fork_at)  # fmt: skip
        self.hooks.append(lambda _coordinator: self.checkpoints.asked_for())
        self.forecasts = self._make_forecasts()
        self.holds = None if self.gate is None else DecisionHolds(self, self.gate, self.plan, self.scheduler,
                                                                  self.members, self.sock)  # fmt: skip
        self.paced = None if self.pacer is None or paced is None else PacedLoop(
            self, self.pacer, paced, self.plan, self.members, self.health, liveness=self.settings.liveness)  # fmt: skip

    # ------------------------------------------------------------------ a context manager: owns socket and processes
    def __enter__(self) -> Coordinator:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        """Stop every process this coordinator started and close its socket (again: nothing happens).

        ``run()`` does this itself when it ends; a coordinator that is never run, or whose
        run is cut short from outside, is closed here.
        """
        launcher = getattr(self, "launcher", None)
        if launcher is not None:
            launcher.kill_all()
        if self.recorder is not None and self.recorder.db is not None:
            self._close_store(RunStatus.INTERRUPTED, "the coordinator was closed before its run ended")
        self._release_sockets()

    # ------------------------------------------------------------------ what the parts may call (their hosts)
    def send_grants(self, grants: list[Grant]) -> None:
        """Send grants the way this run sends them (paced, batched, several steps)."""
        self._send(grants)

    def send_message(self, identity: bytes, message: protocol.Message) -> None:
        self._send_message(identity, message)

    def receive(self, timeout_ms: int) -> bool:
        return self._receive(timeout_ms)

    def drain(self) -> None:
        self._drain()

    def pump(self) -> None:
        self._pump()

    def refuse(self, identity: bytes, code: ErrorCode, text: str) -> None:
        self._refuse(identity, code, text)

    def report_rejections(self) -> None:
        self._report_rejections()

    def check_processes(self) -> None:
        self.health.check_processes()

    def done(self, member: _Member, frame: list[Any]) -> None:
        self._done(member, frame)

    def hold_snapshot_due(self) -> None:
        self.checkpoints.hold_snapshot_due()

    @property
    def forecasting(self) -> bool:
        return self.forecasts is not None

    def roll_back(self, restarted: _Member) -> None:
        self.checkpoints.roll_back(restarted)

    def request_checkpoint(self) -> None:
        """Take a checkpoint at the next safe point (a signal handler or the control endpoint calls it)."""
        self.checkpoints.request_checkpoint()

    @property
    def resumed_seconds(self) -> float:
        """Wall seconds a resumed run took to restore its checkpoint."""
        return self.checkpoints.resumed_seconds

    def _unreachable(self, member: _Member, exc: zmq.ZMQError) -> None:
        self.health.unreachable(member, exc)

    def _claim(self) -> Claim:
        """Create the store file and the logs folder last, so that nothing is left if construction fails."""
        if self.options.resume is not None:  # the run's own store, appended to
            store = self.options.resume.store
            return Claim(store, logs_folder(store), store)
        try:
            return claim_store(self.options.out, self.options.store_policy)
        except OutputError:
            self._release_sockets()
            raise

    def _make_gate(self) -> DecisionGate | None:
        spec = self.scenario.decisions  # parsed with the scenario, checked against the endpoints by Plan.build
        if not spec.classes:
            return None
        o = self.options
        if o.replay is not None:  # the recorded answers, in the order they were given
            replayed: DecisionGate = o.replay.gate(spec, schemas={f"{n}.{e.name}": e.fields for n, d in zip(self.plan.names, self.plan.declarations)
                                                for e in d.endpoints if e.fields})  # fmt: skip
            return replayed
        schemas = {f"{n}.{e.name}": e.fields for n, d in zip(self.plan.names, self.plan.declarations)
                   for e in d.endpoints if e.fields}  # fmt: skip
        access = o.access
        if o.control is not None and access is None:  # never an open endpoint: tokens made now (docs/console.md)
            access, self.control_tokens = Access.generate()
        gate = DecisionGate(spec, autonomy=o.autonomy, interactive=o.interactive, control=o.control, context=self.ctx,
                            prompt_in=o.prompt_in, prompt_out=o.prompt_out, schemas=schemas,
                            access=access, answers=o.answers)  # fmt: skip
        gate.on_checkpoint = self.request_checkpoint
        gate.status = lambda: {"time": self.plan.base.seconds(min(self.scheduler.gvt(), self.plan.stop)),
                               "stop": self.scenario.time.stop, "decisions": self.decisions}  # fmt: skip
        return gate

    def _make_forecasts(self) -> Forecasts | None:
        """Forecasts at held decisions, when a rule asks for them (docs/decisions.md)."""
        gate = self.gate
        if gate is None or self.options.replay is not None or not any(r.forecast for r in gate.spec.rules):
            return None
        if not gate.has_humans:  # nobody to hold a proposal for (a fork, a run without --interactive or --control)
            return None

        def write(rows: list[dict[str, Any]]) -> None:
            assert self.recorder is not None
            with self.recorder._writing():
                self.recorder.db.add_forecasts(rows)

        forecasts = Forecasts(gate, self.out, self.log_dir / "forecasts", self.scenario.time.stop,
                              lambda: self.checkpoints.last_saved, write, snapshot=self.checkpoints.request_hold_snapshot,
                              launcher=self.launcher, paced=self.pacer is not None)  # fmt: skip
        gate.on_held = forecasts.start
        self.hooks.append(lambda _coordinator: forecasts.preload())  # once the fork server is up
        return forecasts

    def _security(self) -> CurveServer | None:
        """CurveZMQ when keys are given; refuse to listen beyond loopback without them."""
        bind = self.settings.bind or "tcp://127.0.0.1"
        keys = self.settings.keys
        if keys is None:
            if not is_loopback(bind):
                raise FederationError(f"binding to {bind} needs CurveZMQ keys (coordinator: keys, or --keys DIR; "
                                      "make them with 'federation keys DIR NAME ...')")  # fmt: skip
            return None
        folder = Path(keys)
        if self.options.keys is None and not folder.is_absolute():
            folder = self.scenario.directory / folder
        server = CurveServer(folder, self.ctx)
        server.secure(self.sock)
        return server

    def _issue_tokens(self) -> JoinTokens:
        """A token for every federate this coordinator starts, and for external ones when it has no keys."""
        tokens = JoinTokens()
        for name in self.plan.names:
            if not self.plan.spec(self.by_name[name].index).external or self.curve is None:
                tokens.issue(name)
        return tokens

    def join_token(self, name: str) -> str | None:
        """The token an external federate ``name`` joins with (None when keys bind names instead)."""
        if self.curve is not None or not self.tokens.required(name):
            return None
        return self.tokens.issue(name)

    def _bind(self, bind: str) -> str:
        """Bind (a free port when none is given); return the address federates connect to."""
        try:
            self.sock.bind(str(BindAddress.parse(bind)))
        except (ValueError, zmq.ZMQError) as exc:
            raise FederationError(f"cannot bind the coordinator to {bind!r}: {exc}") from exc
        return str(self.sock.getsockopt_string(zmq.LAST_ENDPOINT))

    # ------------------------------------------------------------------ the run
    def run(self) -> RunSummary:
        t0 = time.monotonic()
        status, reason = RunStatus.FAILED, ""
        t_joined = t_done = t0
        try:
            resume = self.options.resume
            self.recorder = Recorder(self.out, self.plan) if resume is None else Recorder.resume(self.out, self.plan,
                                                                                                 resume.saved.tick)
        except OutputError:  # nothing started: leave nothing behind
            self.claim.release()
            self._release_sockets()
            raise
        self._trace = log.isEnabledFor(logging.DEBUG)  # the per-frame logs cost one test each when off
        log.info("run of scenario '%s' (%s): %d federates, t=%g s to %g s, coordinator at %s%s, store %s",
                 self.scenario.name, self.scenario.file, len(self.members), self.scenario.time.start,
                 self.scenario.time.stop, self.address, " with CurveZMQ" if self.curve else "",
                 self.out)  # fmt: skip
        try:
            self._launch()
            self._join()
            gc.freeze()  # the plan, the scheduler's slots and histories live for the run: out of the collector's way
            t_joined = time.monotonic()
            log.info("all %d federates joined in %.2f s; stepping", len(self.members), t_joined - t0)
            self._mark_all("running")
            self.live.begin()
            self.recorder.commit()  # pids and status are on disk before the first step
            self._start_pacing()
            first = self.checkpoints.begin()
            if self._trace:
                self._trace_waits([m.index for m in self.members], first)
            self._send(first)
            pump = self._pump if self.paced is None else self.paced.pump
            while self.scheduler.busy or not self.scheduler.finished:
                pump()
            t_done = time.monotonic()
            self._flush(final=True)
            self._stop_all("end of run")
            status = RunStatus.COMPLETED
        except KeyboardInterrupt:
            status, reason = RunStatus.INTERRUPTED, "interrupted by the operator"
            raise RunInterrupted(reason) from None
        except RunInterrupted as exc:
            status, reason = RunStatus.INTERRUPTED, str(exc)
            raise
        except FederationError as exc:
            reason = str(exc)
            raise
        except Exception as exc:
            reason = f"internal error: {type(exc).__name__}: {exc}"
            raise
        finally:
            gc.unfreeze()
            log.info("run %s after %.2f s%s", status, time.monotonic() - t0, f": {reason}" if reason else "")
            if status != RunStatus.COMPLETED:
                self._abort(reason)
            self._close(status, reason)
        if self.recorder.failure is not None:  # the run completed but its store could not be closed
            raise self.recorder.failure

        kpis = tuple(record_kpis(self.scenario, self.out))  # every completed run gets its KPIs
        if self.plan.sync:  # and a synchronised one those of its residuals (docs/synchronise.md)
            kpis += tuple(record_residual_kpis(self.out))
        t_end = time.monotonic()
        return RunSummary(
            scenario=self.scenario.name, store=self.out, status=status, reason=reason,
            wall_seconds=t_end - t0, startup_seconds=t_joined - t0, stepping_seconds=t_done - t_joined,
            sim_seconds=self.scenario.time.stop - self.scenario.time.start,
            grants={s.name: s.grants for s in self.scheduler.slots}, messages=self.messages,
            samples=self.samples, errors=self.errors, logs=self.log_dir, decisions=self.decisions, kpis=kpis,
            pacing=self._pacing_summary,
        )  # fmt: skip

    # ------------------------------------------------------------------ start-up
    def _launch(self) -> None:
        self._preload()
        groups = self._worker_groups()
        self._group_of = {name: group for group, names in groups.items() for name in names}
        for member in self.members:
            spec = self.plan.spec(member.index)
            if spec.process != PROCESS_OWN:
                continue  # started below, with its worker group
            if spec.external:
                log.info("waiting for external federate '%s' at %s", member.name, self.address)
                continue
            env = self.curve.spawned_keys(member.name) if self.curve is not None else {}
            env[ENV_TOKEN] = self.tokens.issue(member.name)
            if spec.command:
                argv = [a.replace("{address}", self.address).replace("{name}", member.name) for a in spec.command]
                env.update(FEDERATION_COORDINATOR=self.address, FEDERATION_NAME=member.name)
            else:
                argv = Launcher.python_argv(self.address, member.name, self.settings.heartbeat, debug=self.options.debug)
            try:
                child = self.launcher.spawn(member.name, argv, env, cwd=self.scenario.directory)
            except OSError as exc:
                raise FederateError(member.name, str(exc), doing="starting") from exc
            log.info("started federate '%s' (pid %d), log %s", member.name, child.process.pid, child.log_path)
            log.debug("federate '%s' runs %s", member.name, shlex.join(argv))  # the token is in its environment
        for group, names in groups.items():
            members: dict[str, dict[str, object]] = {}
            for name in names:
                keys = self.curve.spawned_keys(name) if self.curve is not None else None
                members[name] = {"token": self.tokens.issue(name),
                                 "keys": dict(zip(("public", "secret", "server"), keys.values())) if keys else None}
            try:
                children = self.launcher.spawn_group(group, members, self.address, self.settings.heartbeat,
                                                     debug=self.options.debug, cwd=self.scenario.directory)  # fmt: skip
            except OSError as exc:
                raise FederateError(names[0], str(exc), doing="starting") from exc
            log.info("started worker group '%s' (pid %d) for %d federates: %s", group, children[0].process.pid,
                     len(names), ", ".join(names))  # fmt: skip

    def _worker_groups(self) -> dict[str, list[str]]:
        """Federates that share a worker process, by group: named groups, then the pool of ``process: shared``."""
        groups: dict[str, list[str]] = {}
        pooled: list[str] = []
        for member in self.members:
            process = self.plan.spec(member.index).process
            if process == PROCESS_SHARED:
                pooled.append(member.name)
            elif process != PROCESS_OWN:
                groups.setdefault(process, []).append(member.name)
        if pooled:
            workers = min(len(pooled), self.settings.workers or os.cpu_count() or 1)
            for i, name in enumerate(pooled):  # contiguous slices: neighbours in the scenario share a worker
                groups.setdefault(f"shared.{i * workers // len(pooled) + 1}", []).append(name)
        return groups

    def _preload(self) -> None:
        """Import the federate types given by short name once, in the fork server, before forking each federate."""
        specs = [self.plan.spec(m.index) for m in self.members]
        started = [s for s in specs if not s.external and not s.command]
        if started:
            short = sorted({s.type for s in started if s.type and ":" not in s.type})
            self.launcher.preload(short, cwd=self.scenario.directory)

    def _join(self) -> None:
        deadline = time.monotonic() + self.settings.join_timeout
        while not all(m.declared for m in self.members):
            if self._stop_reason:
                raise RunInterrupted(self._stop_reason)
            if self._receive(int(self.settings.liveness * 1000)):
                self._drain()
            self.health.check_processes()
            if self.recorder is not None:
                self.recorder.beat()
            self.handshakes.poll()
            if time.monotonic() > deadline and not self.options.debug:
                missing = [m.name for m in self.members if not m.declared]
                hint = {n: f" (start it with: {self.command_hint(n, secret=False)}"
                           + (", TOKEN as printed when the run started)" if self.join_token(n) else ")")
                        for n in missing if self.plan.spec(self.by_name[n].index).external}  # fmt: skip
                raise FederateError(missing[0], f"did not join within {self.settings.join_timeout:g} s"
                                    + hint.get(missing[0], ""), doing="joining")  # fmt: skip

    # ------------------------------------------------------------------ main loop
    def request_stop(self, reason: str) -> None:
        """Ask the run to end at the next safe point (signal handlers call this; it never raises)."""
        self._stop_reason = reason

    _stop_reason = ""

    def _pump(self) -> None:
        if self._stop_reason:
            raise RunInterrupted(self._stop_reason)
        if self.holds is not None:
            self.holds.pump()
        else:
            self._receive(self.wait_ms)  # one frame per turn: the run loop re-checks its end after each
        now = time.monotonic()
        if now - self._last_check >= self.settings.liveness and not (
                self.paced is not None and self.paced.instant_near(now, self._last_check)):  # fmt: skip
            self._last_check = now
            health = self.health
            health.check_processes()
            self.handshakes.poll()
            health.check_hangs(now)
            health.report_stall(now)
            self._flush()
            for hook in self.hooks:
                hook(self)
            if self.options.progress is not None:
                gvt = min(self.scheduler.gvt(), self.plan.stop)
                self.options.progress(self.plan.base.seconds(gvt))
        if not self.scheduler.busy and not self.scheduler.finished and not self.checkpoints.due():
            self._deadlock()

    _last_check = 0.0

    def _start_pacing(self) -> None:
        """A paced run: from now on every grant goes out through the paced loop, which records its lag."""
        paced = self.paced
        if paced is None:
            return
        self._send = paced.start(self._send)  # type: ignore[method-assign,assignment]  # an instance attribute: the
        # unpaced loop keeps the class's method, and pays nothing for pacing
        self.hooks.append(lambda _coordinator: paced.record())

    def _deadlock(self) -> None:
        """No federate busy, none granted: a deadlock, unless everyone waits for the wall clock."""
        if self.live.waiting or (self.paced is not None and self.paced.waiting):
            return
        self.health.deadlock()

    def _drain(self, budget: int = 10_000) -> None:
        """Handle the frames already queued, without waiting."""
        receive = self._receive
        for _ in range(budget):
            if not receive(0):
                return

    def _receive(self, timeout_ms: int) -> bool:
        """Wait up to ``timeout_ms`` for one frame and handle it; False when none came.

        The socket's receive timeout does the waiting, so a busy run costs two ``recv`` and
        one ``getsockopt`` per frame (a poll, or ``recv_multipart``, costs several times that).
        """
        sock = self.sock
        if timeout_ms != self._timeout:
            sock.setsockopt(zmq.RCVTIMEO, timeout_ms)
            self._timeout = timeout_ms
        try:
            identity = sock.recv()
        except zmq.Again:
            return False
        if identity in self.by_identity:
            data, peer = sock.recv(), None  # a ROUTER message always has a part after the identity
        else:  # not joined: keep what ZeroMQ knows of the connection
            part = sock.recv(copy=False)
            data, peer = part.bytes, Peer.of(part, self.curve is not None)
        if sock.getsockopt(zmq.RCVMORE):
            extra = 1
            while sock.getsockopt(zmq.RCVMORE):
                sock.recv()
                extra += 1
            self._refuse(identity, ErrorCode.MALFORMED,
                         f"a frame must be exactly one message part, got {extra}")  # fmt: skip
            return True
        self._handle(identity, data, peer)
        return True

    _timeout = -2  # RCVTIMEO currently set on the socket (ZeroMQ's default, -1, is "forever")

    def _handle(self, identity: bytes, data: bytes, peer: Peer | None = None) -> None:
        member = self.by_identity.get(identity)
        if member is not None:
            member.last_heard = time.monotonic()
        try:
            frame = protocol.decode(data, limit=self._frame_limit)
        except ProtocolError as exc:
            who = member.name if member else f"unknown peer {identity.hex()}"
            self._refuse(identity, ErrorCode(exc.code), f"{who}: {exc}")
            return
        kind = frame[0]
        if kind == Kind.DONE and member is not None:
            self._done(member, frame)
        elif kind == Kind.DONES and member is not None:
            self._dones(member, frame)
        elif kind == Kind.STEPS_DONE and member is not None:
            self._steps_done(member, frame)
        elif kind == Kind.PING:
            try:  # a peer that pinged and vanished is not worth an error: its process check tells
                self.sock.send_multipart([identity, _PONG], zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
        elif kind == Kind.PONG:
            pass
        elif kind == Kind.WAKE and member is not None:
            self.live.wake(member, frame[1])
        elif member is None:
            if kind == Kind.HELLO:
                self._hello(identity, protocol.Hello.of(frame), peer or Peer("", None))
            else:
                self._refuse(identity, ErrorCode.UNKNOWN_FEDERATE,
                             f"{Kind(kind).name} from a peer that has not joined (send HELLO first)")  # fmt: skip
        elif kind == Kind.DECLARE and not member.declared:
            self._declare(member, protocol.Declare.of(frame).interface)
        elif kind == Kind.ERROR:
            self._federate_error(member, protocol.Error.of(frame))
        elif kind == Kind.STATE:
            self.checkpoints.state(member, protocol.State.of(frame))
        elif kind == Kind.BYE and self._stopping:
            member.said_bye = True
            log.debug("federate '%s' said BYE", member.name)
        else:
            self._refuse(identity, ErrorCode.OUT_OF_TURN, f"{member.name}: {Kind(kind).name} frame out of turn")

    def _refuse(self, identity: bytes, code: ErrorCode, text: str) -> None:
        self.errors += 1
        log.warning("refused frame: %s", text)
        self._reply_error(identity, code, text)

    def _reply_error(self, identity: bytes, code: ErrorCode, text: str) -> None:
        try:
            self.sock.send_multipart([identity, protocol.Error(code, text[:2000]).encode()], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # the peer is gone or not reachable: nothing to tell

    def _send_message(self, identity: bytes, message: protocol.Message) -> None:
        try:
            self.sock.send_multipart([identity, message.encode()])
        except zmq.ZMQError as exc:
            member = self.by_identity.get(identity)
            if member is not None:
                raise FederateError(member.name, f"cannot reach its process ({exc})", doing=member.doing) from exc

    # ------------------------------------------------------------------ join frames
    def _hello(self, identity: bytes, hello: protocol.Hello, peer: Peer) -> None:
        name = hello.name
        options = hello.options or {}
        refusal = self._hello_refusal(hello.version, name, options, peer)
        if refusal is not None:
            code, why = refusal
            self.errors += 1
            where = f"{peer.address or 'a local socket'} (connection {identity.hex()})"
            log.warning("refused a HELLO as %.80r from %s: %.500s", name, where, why)  # a stranger's name can be long
            self._reply_error(identity, code, why)
            return
        member = self.by_name[name]
        member.identity = identity
        member.doing = "declaring its interface"
        self.by_identity[identity] = member
        welcome = self.plan.welcome(member.index)
        decl = self.plan.declarations[member.index]
        welcome["inputs"] = [s.name for s in decl.inputs]
        welcome["outputs"] = [s.name for s in decl.outputs]
        welcome["heartbeat"] = 0.0 if self.options.debug else self.settings.heartbeat
        welcome["index"] = member.index  # its number in GRANTS and DONES frames (batched steps)
        self.live.welcome(member.index, welcome)
        member.pid = options["pid"] if type(options.get("pid")) is int else 0
        member.steps_ok = self._may_batch(member, options)
        log.info("federate '%s' joined (pid %s, %s, from %s)", name, member.pid or "unknown",
                 options.get("lang", "unknown language"), peer.address or "a local socket")  # fmt: skip
        self._send_message(identity, protocol.Welcome(welcome))

    def _hello_refusal(self, version: int, name: str, options: Mapping[str, Any],
                       peer: Peer) -> tuple[ErrorCode, str] | None:  # fmt: skip
        """Why a HELLO may not join (error code and text for the sender), or None when it may."""
        if self.curve is not None and not self.curve.may_join(peer.user or "", name):
            return ErrorCode.UNKNOWN_FEDERATE, f"this key is not authorized to join as {name!r}"
        if version != protocol.PROTOCOL_VERSION:
            return ErrorCode.VERSION, (f"protocol version {version} not supported "
                                       f"(this coordinator speaks {protocol.PROTOCOL_VERSION})")  # fmt: skip
        member = self.by_name.get(name)
        if member is None:
            return ErrorCode.UNKNOWN_FEDERATE, f"no federate named {name!r} in scenario {self.scenario.name!r}"
        if not self.tokens.admits(name, options.get("token")):
            return ErrorCode.UNKNOWN_FEDERATE, self._token_refusal(name, "token" in options)
        if member.identity is not None:
            return ErrorCode.DUPLICATE, f"federate {name!r} has already joined"
        return None

    def _token_refusal(self, name: str, shown: bool) -> str:
        what = "a wrong token" if shown else "no token"
        if self.plan.spec(self.by_name[name].index).external:
            return (f"HELLO as {name!r} with {what}: join with the token 'federation run' printed for it "
                    f"(federation join ... --token TOKEN, or ${ENV_TOKEN})")  # fmt: skip
        return (f"HELLO as {name!r} with {what}: {name!r} is a federate this coordinator starts itself, "
                f"and only that process has its token (${ENV_TOKEN})")  # fmt: skip

    def _declare(self, member: _Member, wire: Mapping[str, Any]) -> None:
        expected = self.plan.declarations[member.index].to_wire()
        problems = []
        for side in ("inputs", "outputs"):
            want = [(n, t, u) for n, t, u, _ in expected[side]]
            got = [tuple(x[:3]) for x in wire.get(side, [])]
            if [w[0] for w in want] != [g[0] for g in got]:
                problems.append(f"{side} {[g[0] for g in got]} differ from the scenario's {[w[0] for w in want]}")
            else:
                for (n, t, u), (_, t2, u2) in zip(want, got):
                    if (t, u) != (t2, u2):
                        problems.append(f"{side[:-1]} '{n}' declared as {t2} [{u2}], expected {t} [{u}]")
        if sorted(wire.get("endpoints", [])) != sorted(expected["endpoints"]):
            problems.append(f"endpoints {wire.get('endpoints')} differ from {expected['endpoints']}")
        if problems:
            text = "; ".join(problems)
            self._reply_error(member.identity or b"", ErrorCode.INTERFACE, text)
            raise FederateError(member.name, f"interface does not match the scenario: {text}", doing="joining")
        if wire.get("live"):
            self.live.declared(member)
        if wire.get(protocol.BATCH) is not None:
            self._declared_batch(member, wire[protocol.BATCH])
        member.declared = True
        member.doing = "waiting for its first grant"
        log.debug("federate '%s' declared its interface", member.name)
        if member.restarts:
            self.health.rejoined(member)

    def _federate_error(self, member: _Member, error: protocol.Error) -> None:
        code, text = error.code, error.text
        slot = self.scheduler.slots[member.index]
        when = self.plan.base.seconds(slot.granted) if slot.granted >= 0 else None
        if code == ErrorCode.FEDERATE_FAILED:
            if self.health.may_restart(member):
                log.warning("federate '%s' failed at t=%s: %s", member.name, when, text)
                member.doing = "failed; restarting"
                return  # the process exits next; Health.check_processes restarts it
            raise FederateError(member.name, text, time=when, doing=member.doing)
        self.errors += 1
        log.warning("federate '%s' reports error %s: %s", member.name, code, text)

    # ------------------------------------------------------------------ stepping
    def _done(self, member: _Member, frame: list[Any]) -> None:
        extras = frame.pop() if len(frame) == 7 else None
        _, tick, iteration, outputs, messages, next_tick = frame
        slot = self.scheduler.slots[member.index]
        if not slot.busy or tick != slot.granted:
            self._refuse(member.identity or b"", ErrorCode.OUT_OF_TURN,
                         f"{member.name}: DONE for tick {tick} but its grant is {slot.granted} "
                         f"({'busy' if slot.busy else 'not granted'})")  # fmt: skip
            return
        if extras is not None:
            self.live.record(member, tick, extras)
        limit = self.settings.max_messages_per_step
        if len(messages) > limit:
            self._refuse(member.identity or b"", ErrorCode.RATE_LIMIT,
                         f"{member.name}: {len(messages)} messages in one step exceed the limit of {limit}; "
                         f"the first {limit} are kept")  # fmt: skip
            del messages[limit:]
        if self.holds is not None and messages and self.holds.hold(member, frame):
            return
        grants = self.scheduler.done(member.index, tick, iteration, outputs, messages, next_tick)
        member.activity, member.stepping = _WAITING, None  # the `doing` setter, without its call
        member.timed(member.last_heard - member.granted_at)
        if self._trace:
            self._trace_done(member, frame, grants)
        if self.scheduler.rejected:
            self._report_rejections()
        if grants:
            self._send(grants)

    _trace = False  # log every frame of the stepping loop (DEBUG is on)

    def _trace_done(self, member: _Member, frame: list[Any], grants: list[Grant]) -> None:
        _, tick, iteration, outputs, messages, next_tick = frame
        nxt = "" if next_tick is None else f", next t={self.plan.base.seconds(next_tick):g} s"
        log.debug("federate '%s' done t=%g s%s: %d outputs, %d messages%s", member.name,
                  self.plan.base.seconds(tick), f" (iteration {iteration})" if iteration else "",
                  len(outputs), len(messages), nxt)  # fmt: skip
        self._trace_waits([member.index], grants)

    def _trace_waits(self, indices: list[int], grants: list[Grant]) -> None:
        """Log on whom each of these federates waits, unless it was just granted."""
        granted = {g.federate for g in grants}
        for index in indices:
            wait = self.scheduler.wait(index) if index not in granted else ""
            if wait:
                log.debug("%s", wait)

    def _report_rejections(self) -> None:
        for index, why in self.scheduler.rejected:
            member = self.members[index]
            self._refuse(member.identity or b"", ErrorCode.REJECTED, f"{member.name}: {why}")
        self.scheduler.rejected.clear()

    # ------------------------------------------------------------------ several steps per grant (STEPS)
    _STEP_BUDGET = 0.02  # wall seconds a STEPS frame may take at the measured cost: far below any grant timeout,
    # and above the few ms a loaded machine's scheduler takes a process away (which inflates a measurement)
    _WARM_UP = 4  # plain grants first: they measure the step (a slow one is never batched), and a first step
    # that fails or hangs is reported at its own time

    def _may_batch(self, member: _Member, options: Mapping[str, Any]) -> bool:
        """Whether ``member`` may be sent STEPS frames: it said so in HELLO, it runs in its own process, is not
        restarted (a restart repeats one grant), and no decision gate holds steps in this run."""
        spec = self.plan.spec(member.index)
        return (options.get(protocol.STEPS_OPTION) is True and self.settings.steps_per_grant > 1
                and self.gate is None and spec.process == PROCESS_OWN
                and spec.restart is RestartPolicy.FAIL and self.scheduler.may_extend(member.index))  # fmt: skip

    def _send_steps(self, grants: list[Grant]) -> list[Grant]:
        """Send a STEPS frame for each grant that may take further steps with it; return the other grants."""
        rest: list[Grant] = []
        members, most = self.members, self.settings.steps_per_grant
        for g in grants:
            member = members[g.federate]
            more = self.scheduler.extend(g, self._steps_for(member, most)) if member.steps_ok else []
            if not more:
                if member.steps_ok:
                    self._measure(member)
                rest.append(g)
                continue
            steps = [g, *more]
            member.granted_at = time.monotonic()
            member.last_grant = member.stepping = g
            member.steps = [s.tick for s in steps]
            member.batches += 1
            member.last_count = len(steps)
            self.messages += sum(len(s.messages) for s in steps)
            if self._trace:
                log.debug("grant '%s' %d steps t=%g..%g s", member.name, len(steps), self.plan.base.seconds(g.tick),
                          self.plan.base.seconds(steps[-1].tick))  # fmt: skip
            try:
                self._sender(member.identity, _SNDMORE)
                self._sender(protocol.Steps([[s.tick, s.inputs, s.messages] for s in steps]).encode())
            except zmq.ZMQError as exc:
                self._unreachable(member, exc)
        return rest

    def _measure(self, member: _Member) -> None:
        """A plain grant goes out: the time since the grant before, per step it held, bounds a step's cost (round
        trip and any wait for others included: an overestimate makes the next STEPS frame shorter, never wrong)."""
        if member.granted_at:
            self._cost(member, (time.monotonic() - member.granted_at) / member.last_count)
        member.plain += 1
        member.last_count = 1

    @staticmethod
    def _cost(member: _Member, seconds: float) -> None:
        """Take a measurement of the cost per step: the mean with the one before (one outlier halves, not rules)."""
        member.step_cost = seconds if member.step_cost <= 0.0 else (member.step_cost + seconds) / 2

    def _steps_for(self, member: _Member, most: int) -> int:
        """How many steps to grant at once: as many as fit in the budget at the measured cost, at most ``most``."""
        if member.plain < self._WARM_UP or member.step_cost <= 0.0:
            return 1
        return max(1, min(most, int(self._STEP_BUDGET / member.step_cost)))

    def _steps_done(self, member: _Member, frame: list[Any]) -> None:
        reports = frame[1]
        if not member.steps:
            self._refuse(member.identity or b"", ErrorCode.OUT_OF_TURN, f"{member.name}: STEPS_DONE without STEPS")
            return
        ticks, member.steps = member.steps, []
        per_step = (time.monotonic() - member.granted_at) / len(ticks)
        self._cost(member, per_step)
        for _ in ticks:  # as that many steps of the frame's mean duration (docs/console.md)
            member.timed(per_step)
        limit = self.settings.max_messages_per_step
        for report in reports:
            if len(report[2]) > limit:
                self._refuse(member.identity or b"", ErrorCode.RATE_LIMIT,
                             f"{member.name}: {len(report[2])} messages in one step exceed the limit of {limit}; "
                             f"the first {limit} are kept")  # fmt: skip
                del report[2][limit:]
        grants = self.scheduler.done_steps(member.index, ticks, reports)
        member.activity, member.stepping = _WAITING, None
        if self.scheduler.rejected:
            self._report_rejections()
        if grants:
            self._send(grants)

    def _send(self, grants: list[Grant]) -> None:
        if self._collecting is not None:  # within a DONES frame: its grants go out together at its end
            self._collecting.extend(grants)
            return
        if self._leaders:
            grants = self._send_batched(grants)
        if self.settings.steps_per_grant > 1:
            grants = self._send_steps(grants)
        now = time.monotonic()
        encode, members, send, trace = protocol.encode_grant, self.members, self._sender, self._trace
        for g in grants:
            member = members[g.federate]
            member.granted_at = now
            member.last_grant = member.stepping = g
            if g.messages:
                self.messages += len(g.messages)
            if trace:
                log.debug("grant '%s' t=%g s%s: %d inputs, %d messages", member.name, self.plan.base.seconds(g.tick),
                          f" (iteration {g.iteration})" if g.iteration else "", len(g.inputs), len(g.messages))  # fmt: skip
            try:
                send(member.identity, _SNDMORE)
                send(encode(g.tick, g.iteration, g.inputs, g.messages))
            except zmq.ZMQError as exc:
                self._unreachable(member, exc)

    # ------------------------------------------------------------------ batched steps (worker groups)
    _collecting: list[Grant] | None = None  # grants made while a DONES frame is handled
    _leaders: dict[str, _Member] = {}  # per worker group that batches: the member whose connection takes its GRANTS

    def _declared_batch(self, member: _Member, group: Any) -> None:
        """A member of a worker asks for batched steps: its group must be the one the scenario gives it."""
        expected = self._group_of.get(member.name)
        if group != expected or self.plan.spec(member.index).process == PROCESS_OWN:
            text = f"batched steps asked for worker group {group!r}, but its group is {expected!r}"
            self._reply_error(member.identity or b"", ErrorCode.INTERFACE, text)
            raise FederateError(member.name, text, doing="joining")
        member.batch = group
        if not self._leaders:
            self._leaders, self._batch_out, self._batch_waiting = {}, {}, {}
        if group not in self._leaders:
            log.info("worker group '%s' steps its members batched (GRANTS and DONES over '%s')", group, member.name)
            self._leaders[group] = member
        self._batch_out.setdefault(group, 0)
        self._batch_waiting.setdefault(group, [])

    _group_of: dict[str, str] = {}  # federate name -> the worker group the coordinator started it in
    _batch_out: dict[str, int] = {}  # per batching group: GRANTS frames sent and not yet answered (0 or 1)
    _batch_waiting: dict[str, list[list[Any]]] = {}  # per batching group: entries made while a frame was out

    def _dones(self, member: _Member, frame: list[Any]) -> None:
        """The reports of several members of one worker: each handled as its own DONE, their grants sent together."""
        group = member.batch
        if group is not None and self._batch_out.get(group):
            self._batch_out[group] -= 1  # the answer to its GRANTS frame: the worker is free again
        collected: list[Grant] = []
        self._collecting = collected
        try:
            if self.gate is None and not self._trace:
                self._take_dones(member, group, frame[1], collected)
            else:
                self._done_each(member, group, frame[1])
        finally:
            self._collecting = None
        self._send(collected)  # also what waited for this group while its frame was out

    def _done_each(self, member: _Member, group: str | None, entries: list[list[Any]]) -> None:
        """The entries of a DONES frame, each handled as the DONE of its federate (decisions, tracing)."""
        members, heard = self.members, member.last_heard
        for entry in entries:
            index = entry[0]
            target = members[index] if index < len(members) else None
            if target is None or group is None or target.batch != group:
                self._refuse_entry(member, group, index)
                continue
            target.last_heard = heard
            entry[0] = _DONE
            self._done(target, entry)

    def _refuse_entry(self, member: _Member, group: str | None, index: int) -> None:
        self._refuse(member.identity or b"", ErrorCode.OUT_OF_TURN,
                     f"{member.name}: DONES entry for federate {index}, which is not in its batch "
                     f"(worker group {group!r})")  # fmt: skip

    def _take_dones(self, member: _Member, group: str | None, entries: list[list[Any]], collected: list[Grant]) -> None:
        """The entries of a DONES frame, in order: runs of ordinary reports go to the scheduler at once
        (:meth:`Scheduler.done_many`); a report it must refuse, hold or look into goes through :meth:`_done`."""
        members, slots, heard = self.members, self.scheduler.slots, member.last_heard
        limit, count, done_many = self.settings.max_messages_per_step, len(members), self.scheduler.done_many
        run: list[list[Any]] = []
        for entry in entries:
            index = entry[0]
            target = members[index] if index < count else None
            if target is None or group is None or target.batch != group:
                if run:
                    collected.extend(done_many(run))
                    run = []
                self._refuse_entry(member, group, index)
                continue
            target.last_heard = heard
            slot = slots[index]
            if len(entry) == 6 and slot.busy and entry[1] == slot.granted and len(entry[4]) <= limit:
                target.activity, target.stepping = _WAITING, None  # the `doing` setter, without its call
                run.append(entry)
                continue
            if run:
                collected.extend(done_many(run))
                run = []
            entry[0] = _DONE
            self._done(target, entry)
        if run:
            collected.extend(done_many(run))
        if self.scheduler.rejected:
            self._report_rejections()

    def _send_batched(self, grants: list[Grant]) -> list[Grant]:
        """Send the grants of batched members, one GRANTS frame per worker group; return the others.

        A worker has at most one GRANTS frame out: the grants made for it while it steps
        wait here and go out together when its DONES comes (the worker could not start on
        them earlier anyway); otherwise a ring's dependencies across workers split each
        worker's step into many small frames.
        """
        rest: list[Grant] = []
        batches = self._batch_waiting
        now, members, trace = time.monotonic(), self.members, self._trace
        for g in grants:
            member = members[g.federate]
            group = member.batch
            if group is None:
                rest.append(g)
                continue
            member.granted_at = now
            member.last_grant = member.stepping = g
            if g.messages:
                self.messages += len(g.messages)
            if trace:
                log.debug("grant '%s' t=%g s%s: %d inputs, %d messages (batched, group '%s')", member.name,
                          self.plan.base.seconds(g.tick), f" (iteration {g.iteration})" if g.iteration else "",
                          len(g.inputs), len(g.messages), group)  # fmt: skip
            batches[group].append([g.federate, g.tick, g.iteration, g.inputs, g.messages])
        send, encode, out = self._sender, protocol.encode, self._batch_out
        for group, entries in batches.items():
            if not entries or out[group]:
                continue
            batches[group] = []
            out[group] = 1
            leader = self._leaders[group]
            try:
                send(leader.identity, _SNDMORE)
                send(encode([_GRANTS, entries]))
            except zmq.ZMQError as exc:
                self._unreachable(leader, exc)
        return rest

    # ------------------------------------------------------------------ recording
    def _mark_all(self, status: str) -> None:
        assert self.recorder is not None
        for m in self.members:
            self.recorder.federate_status(m.name, status)
            if m.pid:
                self.recorder.federate_pid(m.name, m.pid)

    # ------------------------------------------------------------------ recording
    def _flush(self, final: bool = False) -> None:
        if self.recorder is None or self.recorder.db is None:
            return
        samples, messages = self.scheduler.take_all() if final else self.scheduler.take_final()
        self.samples += len(samples)
        self.recorder.write(samples, messages, record_messages=self.scenario.record.messages)
        if self.live.external:
            self.live.flush(final)

    # ------------------------------------------------------------------ shutdown
    _stopping = False

    def _stop_all(self, reason: str) -> None:
        """End of run: STOP to everyone, collect the BYEs; a federate that fails to finalize is reported."""
        self._stopping = True
        log.info("stopping every federate: %s", reason)
        for member in self.members:
            if member.identity is not None:
                member.doing = "finalizing"
                try:
                    self.sock.send_multipart([member.identity, protocol.Stop(reason).encode()], zmq.NOBLOCK)
                except zmq.ZMQError:
                    pass
        deadline = time.monotonic() + 10.0
        pending = [m for m in self.members if m.identity is not None]
        while time.monotonic() < deadline:
            exited = dict(self.launcher.exited())  # before receiving: a BYE sent before the exit is read first
            if self._receive(50):
                self._drain()
            if self.recorder is not None:
                self.recorder.beat()
            pending = [m for m in pending if not m.said_bye and exited.get(m.name) is None]
            if not pending:
                break
        for name, code in self.launcher.exited():
            if code != 0 and not self.by_name[name].said_bye:
                log.warning("federate '%s' exited with code %s while finalizing", name, code)
        if pending:
            log.warning("no BYE within 10 s from: %s", ", ".join(m.name for m in pending))
        self.launcher.wait_all(5.0)

    def _abort(self, reason: str) -> None:
        """After a failure: tell every joined federate, then make sure every process is gone."""
        log.info("telling every federate to shut down")
        for member in self.members:
            if member.identity is not None and not member.said_bye:
                self._reply_error(member.identity, ErrorCode.SHUTDOWN, f"run failed: {reason.splitlines()[0] if reason else ''}")
        self.launcher.wait_all(2.0)

    def _close(self, status: str, reason: str) -> None:
        try:
            self._close_store(status, reason)
        finally:
            self.launcher.kill_all()
            self._release_sockets()

    def _close_store(self, status: str, reason: str) -> None:
        """Write what is still buffered (unless writing is what failed) and mark the run and each federate."""
        recorder = self.recorder
        if recorder is None or recorder.db is None:
            return
        if status != RunStatus.COMPLETED and recorder.failure is None:
            try:
                self._flush(final=True)
            except OutputError as exc:  # the run already failed for another reason: that one is reported
                log.warning("%s", exc)
        if recorder.failure is None and self.paced is not None:
            self._pacing_summary = self.paced.close()
        federates = [(slot.name, "done" if status == RunStatus.COMPLETED else status, slot.grants)
                     for slot in self.scheduler.slots]  # fmt: skip
        steps = json.dumps({m.name: m.step_summary() for m in self.members}, separators=(",", ":"))
        recorder.close(status, reason, federates, meta=[("step_times", steps)])

    _pacing_summary: PacingSummary | None = None

    _released = False

    def _release_sockets(self) -> None:
        """Close what holds a socket or a thread, once (the parts made so far, when construction failed)."""
        if self._released:
            return
        self._released = True
        forecasts: Forecasts | None = getattr(self, "forecasts", None)
        if forecasts is not None:
            forecasts.close()
        gate: DecisionGate | None = getattr(self, "gate", None)
        if gate is not None:
            gate.close()
        handshakes: HandshakeMonitor | None = getattr(self, "handshakes", None)
        if handshakes is not None:
            handshakes.close()
        self.sock.close(0)
        curve: CurveServer | None = getattr(self, "curve", None)
        if curve is not None:
            curve.stop()
        self.ctx.term()

    def command_hint(self, name: str, *, secret: bool = True) -> str:
        """The ``federation join`` command for external federate ``name``.

        With ``secret`` it holds the join token: show it to the operator only (never log
        or record it); without, the token is written as ``TOKEN``.
        """
        argv = ["federation", "join", "--coordinator", self.address, "--federate", name]
        token = self.join_token(name)
        if token is not None:
            argv += ["--token", token if secret else "TOKEN"]
        elif self.curve is not None:
            argv += ["--keys", "DIR"]
        return shlex.join(argv)
