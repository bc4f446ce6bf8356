"""The ``federation`` command line.

Exit codes (documented in the README and docs/scenarios.md):

* 0 -- success;
* 1 -- the run failed (a federate crashed, hung or raised; no convergence; deadlock);
* 2 -- bad usage or an invalid scenario (every problem printed as FILE:LINE: key.path: message);
* 3 -- internal error (a bug in federation: please report it with ``--debug`` output);
* 130 -- interrupted (Ctrl-C or SIGTERM); the store is kept and marked as interrupted;
* 141 -- the reader of the output went away (``federation plot RUN | head``), as for a program ended by SIGPIPE.

A file or folder that cannot be written, or may not be replaced (see :mod:`federation.results.claim`
and :mod:`federation.results.output`), is one line naming it: exit 2 when nothing had started, 1 when
it ended a run.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import yaml

from .. import __version__
from ..errors import FederationError, OutputError, RunInterrupted, ScenarioError
from ..logs import LOG_FORMAT, configure_logging
from ..results.claim import Claim
from ..scenario.model import REALTIME_PRIORITY
from ..scenario.overrides import TIME_START, Override
from .progress import ProgressBar, StatusLine, format_duration

if TYPE_CHECKING:
    from ..decisions.gate import Answer
    from ..engine.coordinator import RunSummary
    from ..scenario.model import Scenario

__all__ = ["main", "ExitCode"]

log = logging.getLogger("federation")

class ExitCode:
    OK = 0
    RUN_FAILED = 1
    USAGE = 2
    INTERNAL = 3
    INTERRUPTED = 130
    PIPE_CLOSED = 141  # 128 + SIGPIPE, as a shell reports a program its closed pipe ended


def _assignment(text: str) -> Override:
    try:
        return Override.assignment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _limit(text: str) -> float:
    """A wall-time limit on the command line: a duration, or ``none`` (math.inf)."""
    from ..scenario.model import is_no_limit, parse_duration

    if is_no_limit(text):
        return math.inf
    try:
        seconds = parse_duration(yaml.safe_load(text))
    except (ValueError, yaml.YAMLError):
        raise argparse.ArgumentTypeError(f"expected a duration such as 90, '30 min' or '1 h', or none; got {text!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration, or none; got {text!r}")
    return seconds


def _pace(text: str) -> float:
    """``--pace F``: simulated seconds per wall second; ``none`` (math.inf): as fast as possible."""
    from ..scenario.model import is_no_limit

    if is_no_limit(text):
        return math.inf
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number (simulated seconds per wall second), "
                                         f"or none; got {text!r}")  # fmt: skip
    return value


def _add_pace_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pace", type=_pace, metavar="F",
                   help="pace the run to the wall clock: F simulated seconds per wall second (1: real time); "
                        "none: as fast as possible (default: the scenario's time.pace, else as fast as possible)")
    p.add_argument("--realtime", type=int, nargs="?", const=REALTIME_PRIORITY, metavar="PRIORITY",
                   help="give the paced coordinator real-time priority (SCHED_FIFO, default priority "
                        f"{REALTIME_PRIORITY}) so it grants on time on a busy machine; needs CAP_SYS_NICE "
                        "(default: the scenario's time.pace.realtime)")


def paced(scenario: Scenario, pace: float | None, realtime: int | None = None) -> Scenario:
    """``scenario`` with ``--pace`` applied: a factor replaces time.pace's (its max_lag stays); inf: unpaced.

    ``realtime`` (``--realtime``) sets time.pace.realtime; the run must then be paced.
    """
    from dataclasses import replace

    from ..scenario.model import PaceSpec

    old = scenario.time.pace
    if pace is not None:
        spec = None if math.isinf(pace) else PaceSpec(pace, *((old.max_lag, old.realtime) if old else ()))
        scenario = replace(scenario, time=replace(scenario.time, pace=spec))
    if realtime is not None:
        spec = scenario.time.pace
        if spec is None:
            raise _Usage("--realtime: the run is not paced (add --pace F or time.pace)")
        if not 1 <= realtime <= 99:
            raise _Usage(f"--realtime: a priority from 1 to 99, not {realtime}")
        scenario = replace(scenario, time=replace(scenario.time, pace=replace(spec, realtime=realtime)))
    return scenario


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="federation", description="Co-simulation federations over ZeroMQ.",
        epilog="exit codes: 0 success; 1 the run failed (a federate crashed, hung or raised, no convergence); "
               "2 invalid scenario or usage; 3 internal error; 130 interrupted (Ctrl-C, SIGTERM); "
               "141 the output pipe was closed (| head)",
    )  # fmt: skip
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs; suspend liveness checks")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run a scenario", description="Run a scenario to its stop time.")
    p.add_argument("scenario", type=Path, help="scenario YAML file")
    p.add_argument("--set", dest="overrides", action="append", type=_assignment, default=[], metavar="FED.PARAM=VALUE",
                   help="override a federate parameter, or an entry inside one with FED.PARAM.KEY=VALUE "
                        "(repeatable; VALUE is YAML; \"quote\" a name that has dots); time.start=VALUE sets "
                        "the scenario's time.start")  # fmt: skip
    p.add_argument("--until", metavar="T", help="stop time instead of the scenario's (e.g. 3600, '2 h')")
    p.add_argument("--seed", type=int, help="seed instead of the scenario's")
    p.add_argument("--out", type=Path, help="run store to write (default: runs/NAME.sqlite, or NAME-2.sqlite, ... "
                                            "when taken); an existing store is refused without --overwrite")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier run store and its logs (never a file that is not a run store)")
    p.add_argument("--bind", help="coordinator address, tcp://HOST[:PORT] (default: loopback, random port); "
                                  "anything beyond loopback needs --keys")
    p.add_argument("--keys", type=Path, metavar="DIR", help="CurveZMQ keys folder (see 'federation keys')")
    p.add_argument("--grant-timeout", type=_limit, metavar="T",
                   help="fail the run when a federate takes longer than T for one step (e.g. 90, '30 min'; "
                        "none: no limit; default: the scenario's coordinator.grant_timeout, or 10 min)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    _add_pace_option(p)
    decisions = p.add_argument_group("decisions (level 4/5)")
    decisions.add_argument("--interactive", action="store_true", help="ask the operator at the terminal")
    decisions.add_argument("--control", metavar="tcp://HOST:PORT",
                           help="bind a control endpoint where programs decide (JSON over ZeroMQ; see docs/decisions.md)")
    decisions.add_argument("--autonomy", choices=["assisted", "full"], default="assisted",
                           help="assisted (level 4, default): humans decide what the policy leaves open; "
                                "full (level 5): the policy decides everything")
    _console_arguments(p, live=True)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("validate", help="check a scenario and report every problem")
    p.add_argument("scenario", type=Path, nargs="+", help="scenario YAML file(s)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("graph", help="draw the dependency graph of a scenario")
    p.add_argument("scenario", type=Path)
    p.add_argument("-o", "--output", type=Path, help="graph.png, .svg, .pdf or .dot (default: print DOT)")
    p.set_defaults(func=_cmd_graph)

    p = sub.add_parser("export", help="export a run store to CSV")
    p.add_argument("run", type=Path, help="run store (.sqlite)")
    p.add_argument("--csv", type=Path, required=True, metavar="DIR", help="folder for the CSV files")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("plot", help="plot recorded signals of a run")
    p.add_argument("run", type=Path, help="run store (.sqlite)")
    p.add_argument("signals", nargs="*", metavar="FED.SIGNAL", help="signals to plot (default: list them)")
    p.add_argument("-o", "--output", type=Path, default=Path("plot.png"), help="image file (default: plot.png)")
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser("report", help="write a self-contained HTML report of a run",
                       description="Write one HTML file (no external resources) with the run's metadata, KPIs, "
                                   "timeline plots, messages, decisions and scenario.")  # fmt: skip
    p.add_argument("run", type=Path, help="run store (.sqlite)")
    p.add_argument("-o", "--output", type=Path, help="HTML file (default: the run store's name with .html)")
    p.add_argument("--messages", type=int, metavar="N", help="rows in the table of first messages "
                                                             "(default: the scenario's report.messages, or 50)")
    p.add_argument("--template", type=Path, metavar="FILE", help="a Jinja2 template to render instead of the "
                                                                "shipped one (docs/kpis-and-report.md)")  # fmt: skip
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("console", help="serve the web console of a run store: a finished run's timeline",
                       description="Serve the operator's web page for a run store (docs/console.md): the same page "
                                   "as 'run --console', with a time slider over the recorded run.")  # fmt: skip
    p.add_argument("run", type=Path, help="run store (.sqlite)")
    _console_arguments(p, live=False)
    p.set_defaults(func=_cmd_console)

    p = sub.add_parser("join", help="run one federate of a scenario here, joining a remote coordinator")
    p.add_argument("--coordinator", required=True, metavar="tcp://HOST:PORT", help="the coordinator's address")
    p.add_argument("--federate", required=True, metavar="NAME", help="the federate's name in the scenario")
    p.add_argument("--heartbeat", type=float, default=2.0,
                   help="seconds of silence after which the coordinator is taken as gone")
    p.add_argument("--keys", type=Path, metavar="DIR",
                   help="CurveZMQ keys folder holding NAME.key_secret and coordinator.key")
    p.add_argument("--token", metavar="TOKEN",
                   help="the join token 'federation run' printed for NAME (coordinators without keys; "
                        "default: $FEDERATION_TOKEN)")
    p.set_defaults(func=_cmd_join)

    p = sub.add_parser("keys", help="make CurveZMQ key pairs for a federation that listens on a network")
    p.add_argument("folder", type=Path, help="keys folder (created)")
    p.add_argument("names", nargs="*", metavar="NAME", help="federates that will join from other hosts")
    p.set_defaults(func=_cmd_keys)

    p = sub.add_parser("inspect", help="describe an FMU and print a scenario snippet")
    p.add_argument("fmu", type=Path, help="the .fmu file")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("import-ssp", help="write a scenario from an SSP package (System Structure and Parameterization)",
                       description="Write a scenario with one FMU federate per component of the package's "
                                   "SystemStructure.ssd, its connections and parameter values; the FMUs are "
                                   "unpacked into a folder named after the package, beside the scenario "
                                   "(docs/fmu.md, 'SSP').")  # fmt: skip
    p.add_argument("package", type=Path, help="the .ssp file")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="SCENARIO", help="the scenario file to write")
    p.add_argument("--step", type=float, default=None, metavar="S",
                   help="communication step (s) for FMUs without a default experiment step")
    p.add_argument("--stop", type=float, default=None, metavar="S",
                   help="stop time (s) when neither the SSD nor the FMUs give one")
    p.add_argument("--force", action="store_true", help="replace SCENARIO if it exists")
    p.set_defaults(func=_cmd_import_ssp)

    p = sub.add_parser("export-ssp", help="write the FMU part of a scenario as an SSP package",
                       description="Write an SSP package with the scenario's FMUs under resources/ and a "
                                   "SystemStructure.ssd with one component per FMU federate, the connections "
                                   "between them and their parameter values (docs/fmu.md, 'SSP').")  # fmt: skip
    p.add_argument("scenario", type=Path, help="the scenario file")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="PACKAGE", help="the .ssp file to write")
    p.add_argument("--version", dest="ssp_version", choices=("1.0", "2.0"), default="1.0",
                   help="SSP version of the SSD (2.0 also carries clocks and FMI 3 types; default 1.0)")
    p.add_argument("--force", action="store_true", help="replace PACKAGE if it exists")
    p.set_defaults(func=_cmd_export_ssp)

    p = sub.add_parser("cache", help="show the FMU cache (extracted FMUs, read model descriptions) or clear it",
                       description="FMUs are extracted once per content into a cache folder shared by runs "
                                   "(docs/fmu.md, 'The FMU cache').")  # fmt: skip
    p.add_argument("--clear", action="store_true", help="remove every cached FMU (do it while no run uses them)")
    p.set_defaults(func=_cmd_cache)

    p = sub.add_parser("examples", help="copy the example scenarios to a folder and build the project's FMUs there",
                       description="Write the example scenarios to DIR/scenarios and build the project's FMUs "
                                   "from their C sources into DIR/fmus/dist (needs a C compiler), so that "
                                   "'federation run DIR/scenarios/riverton.yaml' works from an installed package. "
                                   "Existing files are never overwritten.")  # fmt: skip
    p.add_argument("folder", type=Path, metavar="DIR", help="the folder to fill (created)")
    p.add_argument("--no-fmus", action="store_true", help="copy the scenarios only; build the FMUs later with "
                                                          "'python -m fmus.build DIR/fmus/dist'")
    p.set_defaults(func=_cmd_examples)
    _add_sweep_parser(sub)
    _add_demo_parser(sub)
    _add_replay_parser(sub)
    _add_resume_parser(sub)
    _add_fork_parser(sub)
    return parser


# ---------------------------------------------------------------------------- logging
@contextlib.contextmanager
def _log_file(path: Path, debug: bool) -> Iterator[None]:
    """Write the log records of a run to ``path`` (INFO and above; DEBUG with ``debug``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.DEBUG if debug else logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


# ---------------------------------------------------------------------------- commands
def _cmd_run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..scenario.loader import load
    from ..scenario.model import parse_duration

    overrides = list(args.overrides)  # validated with the file, each problem blamed on its option
    if args.bind is not None:
        overrides.append(Override.setting("bind", args.bind, f"--bind {args.bind}"))
    if args.keys is not None:
        overrides.append(Override.setting("keys", str(args.keys.resolve()), f"--keys {args.keys}"))
    def edit(scenario: Scenario) -> Scenario:  # the options that change the scenario, before its one validation
        if args.seed is not None:
            scenario = replace(scenario, seed=args.seed)
        if args.until is not None:
            try:
                stop = parse_duration(yaml.safe_load(args.until))
            except ValueError as exc:
                raise _Usage(f"--until: {exc}") from None
            if stop <= scenario.time.start:
                raise _Usage(f"--until {args.until} is not after the start time")
            scenario = replace(scenario, time=replace(scenario.time, stop=stop),
                               events=tuple(e for e in scenario.events if e.at <= stop))  # later events fall away
        return paced(scenario, args.pace, args.realtime)

    scenario = load(args.scenario, overrides=overrides, edit=edit)
    out = args.out or Path("runs") / f"{scenario.name}.sqlite"
    line: StatusLine = args.console  # stderr's last line: the bar, or a question; logs go above it
    try:
        summary = _run_coordinator(args, scenario, out, line)
    finally:
        line.close()
    if not args.quiet:
        rate = summary.steps / summary.stepping_seconds if summary.stepping_seconds > 0 else float("inf")
        speed = summary.sim_seconds / summary.wall_seconds if summary.wall_seconds > 0 else float("inf")
        print(f"{summary.scenario}: {summary.status} in {summary.wall_seconds:.2f} s wall "
              f"(start-up {summary.startup_seconds:.2f} s, stepping {summary.stepping_seconds:.2f} s)")
        print(f"  simulated {format_duration(summary.sim_seconds)} ({speed:,.0f}x real time); "
              f"{summary.steps:,} steps ({rate:,.0f} steps/s), {summary.messages:,} messages, "
              f"{summary.samples:,} samples recorded")
        print("  steps per federate: " + ", ".join(f"{n} {g:,}" for n, g in summary.grants.items()))
        if summary.pacing is not None:
            print(f"  {summary.pacing.line()}")
        if summary.decisions:
            print(f"  decisions: {summary.decisions} (see the decisions table in the store)")
        if summary.errors:
            print(f"  {summary.errors} refused frames (see the log above)")
        print(f"  store: {summary.store}   logs: {summary.logs}/")  # fmt: skip
    from ..results.kpi import format_table

    kpis = list(summary.kpis)
    if kpis:  # printed with --quiet too: the KPIs are the run's result
        print(("\n" if not args.quiet else "") + format_table(kpis))
    return ExitCode.OK


def _run_coordinator(args: argparse.Namespace, scenario: Scenario, out: Path, line: StatusLine) -> RunSummary:
    """Start the coordinator with the progress bar and the decision prompt on ``line``; run to the end."""
    from ..decisions.gate import Autonomy
    from ..engine.coordinator import Coordinator, RunOptions
    from ..results.claim import StorePolicy

    policy = (StorePolicy.OVERWRITE if args.overwrite else StorePolicy.REFUSE if args.out
              else StorePolicy.NEXT_FREE)  # fmt: skip
    bar = ProgressBar(scenario.time.start, scenario.time.stop, line) if not args.quiet and line.live else None
    listen, users = _console_settings(args, scenario)
    access, tokens = _access(users, wanted=listen is not None or args.control is not None)
    control = args.control or ("tcp://127.0.0.1" if listen is not None else None)  # the console decides through it
    options = RunOptions(out=out, store_policy=policy, bind=args.bind, keys=args.keys,
                         grant_timeout=args.grant_timeout, debug=args.debug, progress=bar,
                         interactive=args.interactive, control=control,
                         autonomy=Autonomy(args.autonomy), prompt_out=line, access=access)  # fmt: skip
    coordinator = Coordinator(scenario, options)
    if bar is not None and coordinator.pacer is not None:
        pacer = coordinator.pacer
        bar.lag = lambda: pacer.last_lag
    _say_store(coordinator.claim, line)
    for signum in (signal.SIGINT, signal.SIGTERM):  # end at a safe point: store flushed and marked
        signal.signal(signum, lambda n, _f: coordinator.request_stop(f"stopped by {signal.Signals(n).name}"))
    signal.signal(signal.SIGUSR1, lambda _n, _f: coordinator.request_checkpoint())  # docs/what-if.md
    external = [n for n, spec in scenario.federates.items() if spec.external]
    if external:
        print(f"federation: coordinator at {coordinator.address}; start the external federates with", file=line)
        for name in external:
            print(f"  {coordinator.command_hint(name)}", file=line)  # with its join token: never logged
    if coordinator.gate is not None and coordinator.gate.control_address and args.control:
        print(f"federation: decision control endpoint at {coordinator.gate.control_address}", file=line, flush=True)
        for name, token in tokens.items() if listen is None else ():
            print(f"federation: control endpoint token for {name}: {token}", file=line, flush=True)
    with coordinator, _log_file(coordinator.log_dir / "coordinator.log", args.debug):  # closed, whatever happens
        if listen is None:
            return coordinator.run()
        from ..console.launch import LiveConsole

        assert access is not None
        try:
            console = LiveConsole(coordinator, listen, access, tokens)
        except BaseException:
            coordinator.claim.release()  # nothing ran: no empty store is left behind
            raise
        with console:
            console.announce(line)  # the sign-in links: on the terminal only
            return coordinator.run()


def _console_arguments(p: argparse.ArgumentParser, *, live: bool) -> None:
    group = p.add_argument_group("web console (docs/console.md)")
    if live:
        group.add_argument("--console", dest="web_console", metavar="[HOST:]PORT",
                           help="serve the operator's web page (loopback unless HOST is given; 0: a free port)")
    else:
        group.add_argument("--listen", default="127.0.0.1:8765", metavar="[HOST:]PORT",
                           help="where to serve it (default 127.0.0.1:8765; 0: a free port)")
    group.add_argument("--users", type=Path, metavar="FILE",
                       help="users file, lines of NAME ROLE TOKEN (role viewer or operator; mode 600); "
                            "default: tokens made at start and printed")  # fmt: skip
    group.add_argument("--console-cert", type=Path, metavar="FILE", help="TLS certificate (PEM): needed beyond loopback")
    group.add_argument("--console-key", type=Path, metavar="FILE", help="TLS private key (PEM)")


def _console_settings(args: argparse.Namespace, scenario: Scenario) -> tuple[Any, Path | None]:
    """Where the console listens (None: no console) and the users file: the options, else the scenario's."""
    from ..console.process import Listen

    address = args.web_console or scenario.coordinator.console
    users = args.users
    if users is None and scenario.coordinator.users:
        users = scenario.directory / scenario.coordinator.users
    if address is None:
        return None, users
    _need_console_stack()
    return Listen.parse(address, args.console_cert, args.console_key), users


def _need_console_stack() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise _Usage(f"the web console needs {exc.name}: pip install 'federation-cosim[console]'") from None


def _access(users: Path | None, *, wanted: bool) -> tuple[Any, dict[str, str]]:
    """Who may use the console and the control endpoint: the users file, or tokens made now."""
    if not wanted:
        return None, {}
    from ..console.launch import load_access

    return load_access(users)


def _cmd_console(args: argparse.Namespace) -> int:
    from ..results.store import is_run_store

    _need_console_stack()
    from ..console.launch import load_access, serve_finished
    from ..console.process import Listen

    if not is_run_store(args.run):
        raise _Usage(f"{args.run} is not a run store")
    listen = Listen.parse(args.listen, args.console_cert, args.console_key)
    access, tokens = load_access(args.users)
    try:
        serve_finished(args.run, listen, access, tokens, sys.stderr)
    except KeyboardInterrupt:
        pass
    return ExitCode.OK


def _say_store(claim: Claim, line: StatusLine) -> None:
    """Tell which file the run writes when it is not simply the one asked for."""
    if claim.store != claim.requested:
        print(f"federation: {claim.requested} is taken; this run writes {claim.store}", file=line, flush=True)
    elif claim.replaced:
        print(f"federation: replacing the earlier run in {claim.store} (--overwrite)", file=line, flush=True)


def _cmd_validate(args: argparse.Namespace) -> int:
    from ..scenario.loader import load
    from .sweep import check_variants, load_sweep_file

    failed = 0
    for path in args.scenario:
        try:
            plan = load_sweep_file(path)
            if plan is not None:  # a sweep file: its scenario with every variant
                check_variants(load(plan.scenario), plan.variants)
                print(f"{path}: ok (sweep of {plan.scenario.name}: {len(plan.variants)} variants x {plan.seeds} seeds)")
                continue
            scenario = load(path)
        except ScenarioError as exc:
            failed += 1
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            print(f"{path}: {len(exc.problems)} problem(s)", file=sys.stderr)
            continue
        print(f"{path}: ok ({len(scenario.federates)} federates, {len(scenario.connections)} connections, "
              f"{len(scenario.routes)} message routes)")  # fmt: skip
    return ExitCode.USAGE if failed else ExitCode.OK


def _cmd_graph(args: argparse.Namespace) -> int:
    from ..results.output import check_image
    from ..scenario.graph import draw, to_dot
    from ..scenario.loader import load
    from ..scenario.synchronisation import drawn

    scenario = drawn(load(args.scenario))  # with the connections of synchronise: pairs
    if args.output is None:
        print(to_dot(scenario), end="")
    else:
        check_image(args.output, "-o", extra=("dot",))
        try:
            draw(scenario, args.output)
        except OSError as exc:
            raise OutputError(args.output, f"cannot write the graph: {exc.strerror}") from exc
        print(f"wrote {args.output}")
    return ExitCode.OK


def _cmd_export(args: argparse.Namespace) -> int:
    from ..results.store import RunStore

    with RunStore(args.run) as store:
        files = store.export_csv(args.csv)
    print(f"wrote {len(files)} files to {args.csv}/")
    return ExitCode.OK


def _cmd_plot(args: argparse.Namespace) -> int:
    from ..results.store import RunStore

    with RunStore(args.run) as store:
        if not args.signals:
            for _, name, unit, kind in store.signals():
                print(f"{name}  [{unit or '-'}]  {kind}")
            return ExitCode.OK
        store.plot(args.signals, args.output)
    print(f"wrote {args.output}")
    return ExitCode.OK


def _cmd_report(args: argparse.Namespace) -> int:
    from ..results.report import write_report

    if args.messages is not None and args.messages < 0:
        raise _Usage(f"--messages must not be negative, got {args.messages}")
    output = write_report(args.run, args.output or args.run.with_suffix(".html"), messages=args.messages,
                          template=args.template)
    print(f"wrote {output}")
    return ExitCode.OK


def _cmd_join(args: argparse.Namespace) -> int:
    import os

    from ..engine.runtime import run
    from ..engine.security import ENV_TOKEN
    from ..keys import client_keys

    curve = client_keys(args.keys, args.federate) if args.keys else None
    token = args.token or os.environ.get(ENV_TOKEN)
    code = run(args.coordinator, args.federate, heartbeat=args.heartbeat, curve=curve, token=token, debug=args.debug)
    return ExitCode.OK if code == 0 else ExitCode.RUN_FAILED


def _cmd_keys(args: argparse.Namespace) -> int:
    from ..keys import make_keys

    for path in make_keys(args.folder, args.names):
        print(f"wrote {path}")
    print(f"give {args.folder}/coordinator.key and NAME.key_secret to the host that runs NAME; "
          f"keep coordinator.key_secret with the coordinator")  # fmt: skip
    return ExitCode.OK


def _cmd_inspect(args: argparse.Namespace) -> int:
    try:
        from ..fmu import inspect_fmu
    except ImportError as exc:
        raise FederationError(f"FMU support is not available: {exc}") from exc
    print(inspect_fmu(args.fmu))
    return ExitCode.OK


def _cmd_import_ssp(args: argparse.Namespace) -> int:
    from ..fmu.ssp import import_ssp

    if args.out.exists() and not args.force:
        raise _Usage(f"{args.out} exists; use --force to replace it")
    report = import_ssp(args.package, args.out, step=args.step, stop=args.stop)
    print(f"wrote {report.scenario}: {len(report.federates)} FMU federates, {report.connections} connections, "
          f"{report.routes} message routes, {report.parameters} parameter values")  # fmt: skip
    for name in report.conversions:
        print(f"  {name}: a formula federate for a connection with a unit conversion or linear transformation")
    if report.ignored:
        print(f"  ignored {len(report.ignored)} parameter values that name no variable: {', '.join(report.ignored)}")
    return ExitCode.OK


def _cmd_export_ssp(args: argparse.Namespace) -> int:
    from ..fmu.ssp import export_ssp

    if args.out.exists() and not args.force:
        raise _Usage(f"{args.out} exists; use --force to replace it")
    report = export_ssp(args.scenario, args.out, version=args.ssp_version)
    print(f"wrote {report.package}: {len(report.components)} components, {report.connections} connections")
    for item in report.left_out:
        print(f"  left out: {item}")
    return ExitCode.OK


def _cmd_cache(args: argparse.Namespace) -> int:
    from ..fmu.cache import clear, describe

    if args.clear:
        root, removed = clear()
        print(f"removed {removed} FMU(s) from {root}" if root is not None else "the FMU cache is off")
    else:
        print(describe())
    return ExitCode.OK


def _cmd_examples(args: argparse.Namespace) -> int:
    from . import examples

    in_the_way = examples.conflicts(args.folder)
    if in_the_way:
        raise _Usage(f"{in_the_way[0]} exists and differs from the shipped example; "
                     f"move it away or choose another folder")  # fmt: skip
    copied = examples.copy_scenarios(args.folder)
    print(f"wrote {len(copied)} scenario files to {args.folder / examples.SCENARIOS}/")
    if not args.no_fmus:
        from fmus.build import BuildError

        try:
            fmus = examples.build_fmus(args.folder)
        except BuildError as exc:
            first = str(exc).splitlines()[0]
            raise FederationError(f"{first} (build the FMUs later with 'python -m fmus.build "
                                  f"{args.folder / examples.FMU_DIST}')") from exc  # fmt: skip
        print(f"built {len(fmus)} FMUs in {args.folder / examples.FMU_DIST}/: {', '.join(f.stem for f in fmus)}")
    print(f"try: federation run {args.folder / examples.SCENARIOS / 'rain-tank.yaml'}")
    return ExitCode.OK


# ---------------------------------------------------------------------------- the live demo's real world
def _duration(text: str) -> float:
    seconds = _limit(text)
    if math.isinf(seconds):
        raise argparse.ArgumentTypeError(f"expected a duration, got {text!r}")
    return seconds


def _factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _add_demo_parser(sub: Any) -> None:
    p = sub.add_parser("demo-sensors", help="the live demo's real world: publish Riverton's storm over MQTT",
                       description="Publish the reservoir level, river stages and rain gauge of a storm over MQTT "
                                   "(noisy, some late, a dropout), computed from a small model of Riverton's basin, "
                                   "paced to the wall clock; obey the gate orders received. Without --broker it "
                                   "uses the broker at 127.0.0.1:--port, or starts one there (Mosquitto when "
                                   "installed, else amqtt: pip install -e '.[live]'). See docs/live.md.")  # fmt: skip
    p.add_argument("--broker", metavar="HOST:PORT", help="the MQTT broker to use (default: 127.0.0.1:--port)")
    p.add_argument("--port", type=int, default=1883, metavar="N",
                   help="without --broker: the loopback port of the broker, started unless one answers there "
                        "(default 1883, the one scenarios/riverton-live.yaml connects to; 0: a free port)")
    p.add_argument("--pace", type=_factor, default=600.0, metavar="F",
                   help="simulated seconds per wall second (default 600: 72 h of storm in 7.2 min)")
    p.add_argument("--until", type=_duration, default=72 * 3600.0, metavar="T", help="simulated duration (default 72 h)")
    p.add_argument("--interval", type=_duration, default=300.0, metavar="T",
                   help="simulated time between readings (default 5 min)")
    p.add_argument("--seed", type=int, default=1, help="seed of the instruments' noise and lateness")
    p.add_argument("--linger", type=float, default=30.0, metavar="S",
                   help="wall seconds the broker it started stays up after the last reading, for the twin "
                        "to finish (default 30; Ctrl-C ends it sooner)")
    p.add_argument("--prefix", default="riverton", help="first level of every topic (default riverton)")
    p.add_argument("--start", metavar="ISO",
                   help="the epoch, an ISO-8601 instant shared with the twin (its time.start): simulated time 0 is "
                        "then, and readings are published at epoch + t / pace (default: now)")  # fmt: skip
    p.set_defaults(func=_cmd_demo_sensors)


def _cmd_demo_sensors(args: argparse.Namespace) -> int:
    import tempfile

    try:
        from federates.demo.sensors import DemoSettings, SensorProcess
        from federates.mqtt.broker import BrokerSpec
        from federates.mqtt.localbroker import LocalBroker
        from federates.mqtt.localbroker import answers as broker_answers
    except ImportError as exc:
        raise _Usage(f"the live demo needs paho-mqtt: pip install -e '.[live]' ({exc})") from None
    epoch = 0.0
    if args.start:
        from federates.timestamps import parse_iso

        try:
            epoch = parse_iso(args.start)
        except ValueError as exc:
            raise _Usage(f"--start: {exc}") from None
    settings = DemoSettings(pace=args.pace, until=args.until, interval=args.interval, seed=args.seed, prefix=args.prefix,
                            epoch=epoch)  # fmt: skip
    ours = False  # whether this command started the broker
    with contextlib.ExitStack() as stack:
        if args.broker:
            host, _, port = args.broker.rpartition(":")
            if not host or not port.isdigit():
                raise _Usage(f"--broker: expected HOST:PORT, got {args.broker!r}")
            broker = BrokerSpec(host=host, port=int(port))
        elif args.port and broker_answers("127.0.0.1", args.port):
            broker = BrokerSpec(host="127.0.0.1", port=args.port)
            print(f"federation: using the broker already at 127.0.0.1:{args.port}", flush=True)
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="federation-broker-")))
            local = stack.enter_context(LocalBroker(folder, port=args.port))
            ours = True
            broker = BrokerSpec(host=local.host, port=local.port)
            print(f"federation: started {local.program.value} at {local.address} (it stops with this command)", flush=True)
        process = SensorProcess(settings, broker, say=lambda line: print(line, flush=True))
        print(f"publishing {args.prefix}/... to {broker.where} at {args.pace:g}x the wall clock; gate orders on "
              f"{process.orders_topic}", flush=True)  # fmt: skip
        process.run()
        print(f"done: {process.published:,} readings published", flush=True)
        if ours and args.linger > 0:  # the broker is ours: the twin may still talk to it
            print(f"the broker stays up {args.linger:g} s more for the twin to finish (Ctrl-C: now)", flush=True)
            try:
                time.sleep(args.linger)  # nothing to wait on: the twin is another program, on its own time
            except KeyboardInterrupt:
                pass
    return ExitCode.OK


# ---------------------------------------------------------------------------- resume (docs/what-if.md)
def _add_resume_parser(sub: Any) -> None:
    p = sub.add_parser("resume", help="continue an interrupted, crashed or killed run from its last checkpoint",
                       description="Continue a run from the last checkpoint in its store: the rows recorded at or "
                                   "after the checkpoint's time are removed, new federate processes take up the "
                                   "saved states, and the run goes on to its stop time, appending to the same "
                                   "store (docs/what-if.md).")  # fmt: skip
    p.add_argument("store", type=Path, metavar="RUN.sqlite", help="the store of the run to continue")
    p.add_argument("--quiet", "-q", action="store_true", help="no summary")
    p.set_defaults(func=_cmd_resume)


def _cmd_resume(args: argparse.Namespace) -> int:
    from ..engine.checkpoint import Resume
    from ..engine.coordinator import Coordinator, RunOptions
    from ..results.liveness import Liveness
    from ..results.store import RunStore

    with RunStore(args.store, warn=False) as run:
        state = run.state
    if state.liveness is Liveness.LIVE:
        raise _Usage(f"{args.store}: {state.describe()}; stop it before resuming it")
    resume = Resume.open(args.store)
    scenario = resume.coordinator["scenario"]
    coordinator = Coordinator(scenario, RunOptions(out=args.store, resume=resume, debug=args.debug))
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda n, _f: coordinator.request_stop(f"stopped by {signal.Signals(n).name}"))
    signal.signal(signal.SIGUSR1, lambda _n, _f: coordinator.request_checkpoint())
    with coordinator, _log_file(coordinator.log_dir / "coordinator-resume.log", args.debug):
        summary = coordinator.run()
    if not args.quiet:
        print(f"{summary.scenario}: resumed from t={resume.saved.time:g} s in {coordinator.resumed_seconds:.2f} s; "
              f"{summary.status} in {summary.wall_seconds:.2f} s wall, {summary.steps:,} steps")
        print(f"  store: {summary.store}   logs: {summary.logs}/")
    return ExitCode.OK


def _add_fork_parser(sub: Any) -> None:
    p = sub.add_parser("fork", help="a new run diverging from a run at a time T, with other parameters, answers or "
                                    "stop time",
                       description="Start a new run that diverges from a run at --at: from the run's checkpoint "
                                   "there (or at most --tolerance before it), else replaying the run's recorded "
                                   "inputs up to --at (its decisions as taken, its live sources' samples). The new "
                                   "store holds the parent's records up to the fork point, names its parent, the "
                                   "fork point and how it began, and goes on from there with the --set changes and "
                                   "--answer answers (docs/what-if.md).")  # fmt: skip
    p.add_argument("store", type=Path, metavar="RUN.sqlite", help="the parent run's store")
    p.add_argument("--at", required=True, metavar="T", help="the fork point (e.g. '30 h'): from a checkpoint of the run "
                                                            "there, else replaying its recorded inputs up to T")
    p.add_argument("--tolerance", metavar="D", default="0",
                   help="fork at a checkpoint up to D before T instead of replaying up to T (e.g. '6 h'; 'any': "
                        "the last checkpoint at or before T, however early; default 0: exactly at T)")  # fmt: skip
    p.add_argument("--set", dest="overrides", action="append", type=_assignment, default=[], metavar="FED.PARAM=VALUE",
                   help="override a parameter from the fork point on (repeatable; as for 'run')")  # fmt: skip
    p.add_argument("--answer", dest="answers", action="append", type=_answer, default=[],
                   metavar="DECISION=approve|reject|edit:{...}",
                   help="answer this decision (its id, at or after the fork point) so instead of as recorded "
                        "(repeatable)")  # fmt: skip
    p.add_argument("--until", metavar="T", help="stop time instead of the parent's")
    p.add_argument("--out", type=Path, required=True, help="the fork's run store (refused when it exists)")
    p.add_argument("--quiet", "-q", action="store_true", help="no summary")
    p.set_defaults(func=_cmd_fork)


def _answer(text: str) -> tuple[int, Answer]:
    """``--answer 3=reject``: a decision id and the answer given for it."""
    from ..decisions.gate import Answer

    ident, equals, rest = text.partition("=")
    try:
        decision = int(ident.strip())
    except ValueError:
        decision = 0
    if not equals or decision < 1:
        raise argparse.ArgumentTypeError(f"expected DECISION=approve|reject|edit:{{...}} with a decision id, got {text!r}")
    try:
        return decision, Answer.parse(rest)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc}") from None


def _check_answers(store: Path, answers: dict[int, Answer], fork_tick: int, fork_time: float) -> None:
    """Refuse an answer to a decision the parent took before the fork point (the fork cannot change it)."""
    from ..results.store import RunStore

    with RunStore(store, warn=False) as run:
        recorded = {row["id"]: row for row in run.decisions()}
    for decision in sorted(answers):
        row = recorded.get(decision)
        if row is not None and row["tick"] < fork_tick:
            raise _Usage(f"--answer {decision}=...: decision {decision} was taken at t={row['time']:g} s, before the "
                         f"fork point (t={fork_time:g} s); fork at or before t={row['time']:g} s to answer it")
        if row is None:
            log.warning("--answer %d: %s recorded no decision %d (the fork may still propose it)", decision, store,
                        decision)  # fmt: skip


def _cmd_fork(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..engine.checkpoint import Resume
    from ..engine.coordinator import Coordinator, RunOptions
    from ..engine.fork import ForkStart, fork_meta, mark_fork, plan_fork, recorded_inputs, replayed, replayer
    from ..results.claim import StorePolicy, claim_store
    from ..results.store import RunStore, copy_store
    from ..scenario.loader import load
    from ..scenario.model import parse_duration
    from ..timebase import TimeBase

    for override in args.overrides:
        if override.path == TIME_START:  # the fork's time is its parent's: it would be ignored
            raise _Usage(f"{override.argument}: a fork keeps its parent's time.start; it diverges at --at")
    try:
        at = parse_duration(yaml.safe_load(args.at))
        tolerance = None if args.tolerance == "any" else parse_duration(yaml.safe_load(args.tolerance))
    except ValueError as exc:
        raise _Usage(f"--at/--tolerance: {exc}") from None
    with RunStore(args.store, warn=False) as run:  # the parent's time base
        resolution = float(run.metadata().get("resolution", 1.0))
    base = TimeBase(resolution)
    origin = plan_fork(args.store, int(base.ticks(at)), at, None if tolerance is None else int(base.ticks(tolerance)))
    scenario = origin.scenario
    if args.overrides:  # the parent's file text with these changes; its seed and stop time
        parent_run = scenario
        scenario = load(scenario.file, text=scenario.text, overrides=args.overrides,
                        edit=lambda s: replace(s, seed=parent_run.seed, time=parent_run.time))
    if args.until is not None:
        stop = parse_duration(yaml.safe_load(args.until))
        if stop * (1 + 1e-12) <= origin.time:
            raise _Usage(f"--until {args.until} is not after the fork point ({origin.time:g} s)")
        scenario = replace(scenario, time=replace(scenario.time, stop=stop))
    answers = dict(args.answers)
    if len(answers) < len(args.answers):
        raise _Usage("--answer: one answer per decision")
    _check_answers(args.store, answers, origin.tick, origin.time)
    replay, server = None, None
    if origin.start is ForkStart.REPLAY:
        replaying = replayer(origin, args.out, debug=args.debug)
        with _log_file(replaying.log_dir / "coordinator-replay.log", args.debug):
            replaying.run()
        saved = replayed(origin, args.out)
        mark_fork(args.out, origin)
        inputs = recorded_inputs(origin, answers)
        if inputs.live:  # a live run's sources go on playing the recording, as fast as possible
            replay = inputs
            scenario = replace(scenario, time=replace(scenario.time, pace=None, start_now=False, epoch=inputs.epoch))
    else:
        assert origin.saved is not None
        saved = origin.saved
        copy_store(args.store, claim_store(args.out, StorePolicy.REFUSE).store, fork_meta(origin))
        server = _forked_server(args.out, scenario)  # before any ZeroMQ context in this process: it forks it
    resume = Resume(args.out, saved, scenario)
    coordinator = Coordinator(scenario, RunOptions(out=args.out, resume=resume, debug=args.debug, answers=answers,
                                                   replay=replay))  # fmt: skip
    if server is not None:
        coordinator.launcher.adopt(server)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda n, _f: coordinator.request_stop(f"stopped by {signal.Signals(n).name}"))
    with coordinator, _log_file(coordinator.log_dir / "coordinator.log", args.debug):
        summary = coordinator.run()
    if not args.quiet:
        print(f"{summary.scenario}: fork of {args.store} at t={origin.time:g} s ({origin.describe()}); "
              f"{summary.status} in {summary.wall_seconds:.2f} s wall, {summary.steps:,} steps")  # fmt: skip
        for decision in sorted(answers):
            given = coordinator.gate is not None and decision in coordinator.gate.answered
            print(f"  decision {decision}: " + (f"answered {answers[decision].describe()}" if given else
                                                "not proposed in this fork: --answer unused"))  # fmt: skip
        print(f"  store: {summary.store}   logs: {summary.logs}/")
    return ExitCode.OK


def _forked_server(store: Path, scenario: Scenario) -> Any:
    """A fork server forked from this process once it has imported the framework and the scenario's federate
    types (which the coordinator imports anyway; a fork started by a forecast has them already): the fork's
    federates start without a fresh interpreter, and the server imports nothing more."""
    from ..engine.forkserver import preload
    from ..engine.launcher import ENV_LAUNCH, ForkServer
    from ..results.claim import logs_folder

    if os.environ.get(ENV_LAUNCH, "fork") == "spawn" or not sys.platform.startswith("linux"):
        return None
    specs = scenario.federates.values()
    preload(sorted({s.type for s in specs if s.type and ":" not in s.type and not s.external and not s.command}))
    folder = logs_folder(store)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return ForkServer.forked(folder / "forkserver.log")
    except OSError as exc:
        log.info("no fork server forked from this process (%s): the launcher starts one", exc)
        return None


def scenario_ticks(scenario: Scenario, seconds: float) -> int:
    """``seconds`` in the scenario's ticks (rounded down: a checkpoint at or before it)."""
    from ..timebase import TimeBase

    return int(TimeBase(scenario.time.resolution).ticks(seconds))


# ---------------------------------------------------------------------------- replay of a live run
def _add_replay_parser(sub: Any) -> None:
    p = sub.add_parser("replay", help="re-run a recorded live run from its store, bit for bit",
                       description="Re-run a live run as fast as possible from its store: the recorded scenario, "
                                   "seed and stop time; each live source replaced by the external samples it "
                                   "applied, each at the tick it was applied at; every decision answered as it "
                                   "was. The new store has the same values, messages, decisions and external "
                                   "samples (docs/live.md, 'Replay').")  # fmt: skip
    p.add_argument("store", type=Path, metavar="RUN.sqlite", help="the store of a live run")
    p.add_argument("--out", type=Path, help="run store to write (default: RUN-replay.sqlite beside it, "
                                            "or RUN-replay-2.sqlite, ... when taken)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run store and its logs")
    p.add_argument("--pace", type=_factor, metavar="F", help="simulated seconds per wall second (default: as fast "
                                                             "as possible)")
    p.add_argument("--quiet", "-q", action="store_true", help="no summary")
    p.set_defaults(func=_cmd_replay)


def _cmd_replay(args: argparse.Namespace) -> int:
    from ..engine.coordinator import Coordinator, RunOptions
    from ..engine.replay import Replay
    from ..results.claim import StorePolicy

    replay = Replay.open(args.store, args.pace)
    out = args.out or args.store.with_name(f"{args.store.stem}-replay.sqlite")
    policy = StorePolicy.OVERWRITE if args.overwrite else StorePolicy.REFUSE if args.out else StorePolicy.NEXT_FREE
    coordinator = Coordinator(replay.scenario, RunOptions(out=out, store_policy=policy, replay=replay))
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda n, _f: coordinator.request_stop(f"stopped by {signal.Signals(n).name}"))
    with coordinator, _log_file(coordinator.log_dir / "coordinator.log", args.debug):
        summary = coordinator.run()
    if not args.quiet:
        speed = summary.sim_seconds / summary.wall_seconds if summary.wall_seconds > 0 else float("inf")
        print(f"replay of {args.store}: {summary.status} in {summary.wall_seconds:.2f} s wall "
              f"({speed:,.0f}x real time); {summary.steps:,} steps, {summary.messages:,} messages, "
              f"{summary.decisions} decisions replayed; live sources played from the store: "
              f"{', '.join(replay.live) or 'none'}")
        print(f"  store: {summary.store}   logs: {summary.logs}/")
    return ExitCode.OK


# ---------------------------------------------------------------------------- sweep (ensembles)
def _vary(text: str) -> tuple[str, tuple[Any, ...]]:
    from .sweep import parse_vary

    try:
        return parse_vary(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _add_sweep_parser(sub: Any) -> None:
    p = sub.add_parser("sweep", help="run variants x seeds of a scenario in parallel on Dask",
                       description="Run every combination of the --vary values, each at --seeds seeds, in parallel "
                                   "on Dask distributed; write runs.csv, summary.csv, summary.png and the stores. "
                                   "Exit code 1 when any run failed (the others are still summarised).")  # fmt: skip
    p.add_argument("scenario", type=Path, help="scenario YAML file, or a sweep file (a 'sweep:' section with "
                                               "named variants; see docs/ensembles.md), or a run store with --at")
    p.add_argument("--at", metavar="T", help="with a run store: every variant starts from its last checkpoint at or "
                                             "before T (e.g. '30 h'), as 'federation fork' does (docs/what-if.md)")
    p.add_argument("--vary", action="append", type=_vary, default=[], metavar="FED.PARAM=V1,V2,...",
                   help="values of a federate parameter (repeatable: the variants are the cartesian product; "
                        "values are YAML, e.g. 80,120 or '[1,2],[3,4]')")  # fmt: skip
    p.add_argument("--seeds", type=_count, default=None, metavar="N",
                   help="runs per variant, with seeds SEED .. SEED+N-1 (SEED from the scenario; default 1, "
                        "or the sweep file's seeds)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="output folder (default: runs/NAME-sweep, or NAME-sweep-2, ... when taken); "
                        "a folder that is not empty is refused without --overwrite")
    p.add_argument("--overwrite", action="store_true", help="replace the files of an earlier sweep in --out")
    dask = p.add_argument_group("Dask (pip install -e '.[ensemble]')")
    dask.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="use this Dask cluster (default: a local one)")
    dask.add_argument("--workers", type=_count, metavar="K",
                      help="worker processes of the local cluster, one run each at a time (default: CPUs)")
    p.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    import time

    from ..results.claim import StorePolicy
    from ..scenario.loader import load
    from . import sweep

    try:
        sweep.require_dask()
    except ImportError as exc:
        raise _Usage(str(exc)) from None
    if args.scheduler and args.workers:
        raise _Usage("--workers sizes the local cluster; leave it out with --scheduler")
    if not args.debug:
        logging.getLogger("distributed").setLevel(logging.WARNING)  # its INFO chatter would drown the table
    args.seeds_given = args.seeds is not None
    args.seeds = args.seeds or 1
    fork = _sweep_fork(args)
    plan = None if fork is not None else sweep.load_sweep_file(args.scenario)
    if fork is not None:
        scenario = fork[1]
        try:
            variants = sweep.expand_variants(args.vary)
        except ValueError as exc:
            raise _Usage(f"--vary: {exc}") from None
    elif plan is not None:  # a sweep file: named variants (strategies) of a scenario
        if args.vary:
            raise _Usage(f"{args.scenario} is a sweep file with its own variants; leave out --vary")
        scenario, variants = load(plan.scenario), plan.variants
        args.seeds = args.seeds if args.seeds_given else plan.seeds
        args.vary = [(key, ()) for key in dict.fromkeys(k for v in variants for k, _ in v.values)]
    else:
        scenario = load(args.scenario.resolve())
        try:
            variants = sweep.expand_variants(args.vary)
        except ValueError as exc:
            raise _Usage(f"--vary: {exc}") from None
    sweep.check_variants(scenario, variants)
    out = _sweep_folder(args, scenario.name)
    specs = sweep.plan_runs(scenario, variants, args.seeds, out,
                            policy=StorePolicy.OVERWRITE if args.overwrite else StorePolicy.REFUSE,
                            fork=None if fork is None else fork[0])  # fmt: skip
    shown = _as_typed(out)
    print(f"{scenario.name}: {len(variants)} variant(s) x {args.seeds} seed(s) = {len(specs)} runs on "
          f"{args.scheduler or 'a local Dask cluster'}", file=sys.stderr, flush=True)  # fmt: skip
    done: list[Any] = []

    def progress(result: Any) -> None:
        done.append(result)
        print(f"  [{len(done)}/{len(specs)}] {result.store.stem}: {result.status} ({result.wall_seconds:.1f} s)",
              file=sys.stderr, flush=True)  # fmt: skip

    t0 = time.monotonic()
    results = sweep.run_ensemble(specs, scheduler=args.scheduler, workers=args.workers, on_result=progress)
    wall = time.monotonic() - t0
    summaries = sweep.summarise_results(variants, results)
    files = sweep.write_outputs(out, [key for key, _ in args.vary], summaries, results)
    failed = sum(not r.ok for r in results)
    print(sweep.format_table(summaries, results))
    print(f"{len(results)} runs: {len(results) - failed} completed, {failed} failed, in {wall:.1f} s wall; "
          f"wrote {', '.join(f.name for f in files)} and runs/ to {shown}/")  # fmt: skip
    return ExitCode.RUN_FAILED if failed else ExitCode.OK


def _sweep_fork(args: argparse.Namespace) -> tuple[Any, Scenario] | None:
    """``sweep RUN.sqlite --at T``: the fork point every variant starts from, and the parent's scenario as it was run."""
    from ..engine.checkpoint import Resume
    from ..results.store import is_run_store
    from ..scenario.model import parse_duration
    from .sweep import ForkPoint

    if not is_run_store(args.scenario):
        if args.at is not None:
            raise _Usage(f"--at forks a run: {args.scenario} is not a run store")
        return None
    if args.at is None:
        raise _Usage(f"{args.scenario} is a run store: give --at T, the fork point every variant starts from")
    if args.seeds_given and args.seeds > 1:
        raise _Usage("--seeds: variants forked from a run go on with its seed (the random state is in the checkpoint)")
    try:
        at = parse_duration(yaml.safe_load(args.at))
    except ValueError as exc:
        raise _Usage(f"--at: {exc}") from None
    parent = Resume.open(args.scenario)
    scenario = parent.coordinator["scenario"]
    point = Resume.open(args.scenario, scenario_ticks(scenario, at))
    return ForkPoint(args.scenario.resolve(), point.saved), scenario


def _sweep_folder(args: argparse.Namespace, name: str) -> Path:
    """The sweep's output folder by the rules of federation.results.claim; its summary files must be replaceable."""
    from ..results.claim import StorePolicy, claim_folder
    from ..results.output import SIGNATURES, check_replaceable

    policy = StorePolicy.OVERWRITE if args.overwrite else StorePolicy.REFUSE if args.out else StorePolicy.NEXT_FREE
    wanted = (args.out or Path("runs") / f"{name}-sweep").resolve()
    out = claim_folder(wanted, policy)
    if out != wanted:
        print(f"federation: {wanted} is taken; this sweep writes {out}", file=sys.stderr, flush=True)
    for file, what, signatures in (("runs.csv", "a sweep's CSV file", (b"variant,",)),
                                   ("summary.csv", "a sweep's CSV file", (b"variant,",)),
                                   ("summary.png", "a PNG file", SIGNATURES["png"])):  # fmt: skip
        check_replaceable(out / file, what, signatures, "--out")
    return out


def _as_typed(path: Path) -> Path:
    """``path`` relative to the working folder when it lies inside it, as a user would type it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


class _Usage(FederationError):
    pass


def _on_sigterm(signum: int, frame: Any) -> None:
    raise RunInterrupted(f"stopped by signal {signal.Signals(signum).name}")


def _closed_pipe() -> int:
    """The reader of stdout went away (``| head``): stop writing, without a word."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # so that the flush at exit does not fail again
    os.close(devnull)
    return ExitCode.PIPE_CLOSED


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    args.console = StatusLine(sys.stderr)  # log records and warnings are written above the progress bar
    configure_logging(logging.DEBUG if args.debug else logging.WARNING, debug=args.debug, stream=args.console)
    logging.captureWarnings(True)
    signal.signal(signal.SIGTERM, _on_sigterm)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        code = func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        return _closed_pipe()
    except ScenarioError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return ExitCode.USAGE
    except _Usage as exc:
        print(f"federation: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except OutputError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"federation: error: {exc}", file=sys.stderr)
        return ExitCode.RUN_FAILED if exc.during_run else ExitCode.USAGE
    except (RunInterrupted, KeyboardInterrupt) as exc:
        print(f"\nfederation: interrupted: {str(exc) or 'Ctrl-C'}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except FederationError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"federation: error: {exc}", file=sys.stderr)
        return ExitCode.RUN_FAILED
    except Exception:
        traceback.print_exc()
        print("federation: internal error (the traceback above is a bug in federation)", file=sys.stderr)
        return ExitCode.INTERNAL


if __name__ == "__main__":
    sys.exit(main())
