"""Ensembles: every variant x seed of one scenario, run in parallel on Dask distributed.

The pipeline, one verb per stage:

* plan -- :func:`parse_vary` reads ``fed.param=v1,v2,...``; :func:`expand_variants` takes the
  cartesian product into :class:`Variant` objects; :func:`plan_runs` pairs each with the seeds
  into :class:`RunSpec` objects (one store path each);
* execute -- :func:`execute_run` runs one spec with its own :class:`~federation.engine.coordinator.Coordinator`
  (on a Dask worker); :func:`run_ensemble` maps the specs over a cluster and turns every failure,
  even a lost worker, into a :class:`RunResult` with a status and a reason;
* summarise -- :func:`summarise_results` gives KPI statistics over the seeds of each variant;
* write -- :func:`write_runs_csv`, :func:`write_summary_csv`, :func:`plot_summary`, :func:`format_table`.

See docs/ensembles.md.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import logging
import math
import os
import re
import statistics
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import yaml

from ..engine.coordinator import Coordinator, RunOptions
from ..engine.recorder import RunStatus
from ..errors import FederationError, ScenarioError
from ..results.claim import StorePolicy
from ..results.kpi import KpiValue, record_kpis
from ..results.store import Saved
from ..scenario.model import Scenario
from ..scenario.overrides import with_overrides
from ..scenario.reader import Reader
from ..scenario.source import load_source
from ..scenario.validation import validate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "SweepFile",
    "Variant",
    "load_sweep_file",
    "RunSpec",
    "RunResult",
    "KpiStats",
    "VariantSummary",
    "parse_vary",
    "expand_variants",
    "check_variants",
    "plan_runs",
    "require_dask",
    "execute_run",
    "run_ensemble",
    "summarise_results",
    "write_runs_csv",
    "write_summary_csv",
    "plot_summary",
    "summary_figure",
    "format_table",
    "write_outputs",
]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install -e '.[ensemble]'"
LOOPBACK = "tcp://127.0.0.1"
_LABEL_MAX = 64


# ---------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Variant:
    """One point of the parameter grid; ``label`` is unique in the sweep and safe in file names."""

    label: str
    values: tuple[tuple[str, Any], ...] = ()  # ("federate.param", value) in --vary order

    @property
    def overrides(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass(frozen=True)
class ForkPoint:
    """A checkpoint of an existing run that every variant of a sweep starts from (docs/what-if.md)."""

    parent: Path  # the parent run's store
    saved: Saved  # its checkpoint (states and the coordinator's, as bytes: they travel to the Dask workers)


@dataclass(frozen=True)
class RunSpec:
    """One run of the ensemble: a variant at a seed, with the store it writes."""

    variant: Variant
    seed: int
    store: Path
    scenario: Scenario = field(repr=False)  # overrides and seed applied
    policy: StorePolicy = StorePolicy.REFUSE  # when the store exists (an earlier sweep in the same folder)
    fork: ForkPoint | None = field(default=None, repr=False)  # start from this checkpoint of a run, not from t=0

    @property
    def name(self) -> str:
        return self.store.stem


@dataclass(frozen=True)
class RunResult:
    variant: Variant
    seed: int
    store: Path
    status: str  # a RunStatus value
    reason: str  # why it failed; "" when it completed
    wall_seconds: float
    kpis: tuple[KpiValue, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == RunStatus.COMPLETED


def parse_vary(text: str) -> tuple[str, tuple[Any, ...]]:
    """``"tank.area=80,120"`` -> ``("tank.area", (80, 120))``; the values are a YAML flow list."""
    key, eq, rest = text.partition("=")
    key = key.strip()
    fed, dot, param = key.partition(".")
    if not eq or not dot or not fed or not param:
        raise ValueError(f"expected federate.param=v1,v2,..., got {text!r}")
    try:
        values = yaml.safe_load(f"[{rest}]")
    except yaml.YAMLError as exc:
        detail = str(exc).splitlines()[0]
        raise ValueError(f"{key}: cannot read {rest!r} as comma-separated YAML values ({detail})") from None
    if not values:
        raise ValueError(f"{key}: no values given")
    seen: list[str] = []
    for value in values:
        text_value = _format_value(value)
        if text_value in seen:
            raise ValueError(f"{key}: value {text_value} is given twice")
        seen.append(text_value)
    return key, tuple(values)


def expand_variants(varies: Sequence[tuple[str, Sequence[Any]]]) -> tuple[Variant, ...]:
    """The cartesian product of the ``--vary`` lists (the first varies slowest); none -> ``base``."""
    keys = [key for key, _ in varies]
    for key in keys:
        if keys.count(key) > 1:
            raise ValueError(f"{key} is varied twice (give all its values in one --vary)")
    if not varies:
        return (Variant("base"),)
    variants: list[Variant] = []
    used: set[str] = set()
    for combo in itertools.product(*(values for _, values in varies)):
        values = tuple(zip(keys, combo))
        label = _unique(_label(values), used)
        used.add(label)
        variants.append(Variant(label, values))
    return tuple(variants)


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    text: str = yaml.safe_dump(value, default_flow_style=True, width=10_000)
    return text.removesuffix("\n...\n").strip()


def _label(values: tuple[tuple[str, Any], ...]) -> str:
    text = "_".join(f"{key}={_format_value(value)}" for key, value in values)
    label = re.sub(r"[^\w.=+-]+", "-", text).strip("-") or "variant"
    if len(label) > _LABEL_MAX:
        digest = hashlib.sha1(text.encode()).hexdigest()[:8]
        label = f"{label[:_LABEL_MAX - 9]}-{digest}"
    return label


def _unique(label: str, used: set[str]) -> str:
    candidate, n = label, 2
    while candidate in used:
        candidate, n = f"{label}-{n}", n + 1
    return candidate


@dataclass(frozen=True)
class SweepFile:
    """A sweep written down: a scenario, named variants (strategies) and a number of seeds."""

    scenario: Path
    seeds: int
    variants: tuple[Variant, ...]


def load_sweep_file(path: Path) -> SweepFile | None:
    """Read a file with a top-level ``sweep:`` section; ``None`` when it is a plain scenario.

    ::

        sweep:
          scenario: ../riverton.yaml       # relative to this file
          seeds: 3
          variants:
            baseline: {}
            pre-release: {damops.freeboard_m: 2.5}
            flood-walls: {grid.substations.substation_a.threshold_m: 2.0}
    """
    src = load_source(path)
    if not isinstance(src.data, dict) or "sweep" not in src.data:
        return None
    read = Reader(src, list(src.problems))
    problems = read.problems
    spec = src.data["sweep"]
    if not isinstance(spec, dict):
        raise ScenarioError([src.problem(("sweep",), "expected a mapping with scenario, seeds, variants")])
    read.unknown_keys(spec, ("sweep",), ("scenario", "seeds", "variants"))
    target = spec.get("scenario")
    if not isinstance(target, str):
        problems.append(src.problem(("sweep", "scenario"), "expected the path of the scenario file"))
    seeds = read.integer(spec.get("seeds"), ("sweep", "seeds"), 1, 1, 100_000)
    variants: list[Variant] = []
    raw = spec.get("variants")
    if not isinstance(raw, dict) or not raw:
        problems.append(src.problem(("sweep", "variants"), "expected a mapping: variant name -> {fed.param: value}"))
        raw = {}
    for name, overrides in raw.items():
        if not re.fullmatch(r"[\w.+=-]+", str(name)):
            problems.append(src.problem(("sweep", "variants", name), "a variant name is letters, digits, '_.+=-'"))
        elif not isinstance(overrides, dict) or not all(isinstance(k, str) and "." in k for k in overrides):
            problems.append(src.problem(("sweep", "variants", name), "expected a mapping of fed.param: value"))
        else:
            variants.append(Variant(str(name), tuple(overrides.items())))
    if problems:
        raise ScenarioError(problems)
    return SweepFile((Path(path).resolve().parent / str(target)).resolve(), int(seeds), tuple(variants))


def check_variants(scenario: Scenario, variants: Sequence[Variant]) -> None:
    """Validate every variant before anything runs; raise :class:`ScenarioError` with all problems."""
    source = scenario.source()
    why = "an external federate cannot be in a sweep (nobody would start it for each run)"
    problems = [source.problem(("federates", name, "external"), why)
                for name, spec in scenario.federates.items() if spec.external]  # fmt: skip
    for variant in variants:
        try:
            varied = with_overrides(scenario, variant.overrides, origin="variant")
        except ScenarioError as exc:
            problems += exc.problems
            continue
        problems += validate(varied, varied.source())
    if problems:
        raise ScenarioError(sorted(set(problems), key=lambda p: p.order))


def plan_runs(scenario: Scenario, variants: Sequence[Variant], seeds: int, out: Path,
              policy: StorePolicy = StorePolicy.REFUSE, fork: ForkPoint | None = None) -> tuple[RunSpec, ...]:  # fmt: skip
    """Each variant at seeds ``scenario.seed + 0 .. seeds-1``; stores in ``out/runs/``, written by ``policy``."""
    if seeds < 1:
        raise ValueError(f"the number of seeds must be at least 1, got {seeds}")
    folder = out.resolve() / "runs"
    specs = []
    for variant in variants:
        varied = with_overrides(scenario, variant.overrides, origin="variant")
        for seed in range(scenario.seed, scenario.seed + seeds):
            store = folder / f"{variant.label}-seed{seed}.sqlite"
            specs.append(RunSpec(variant, seed, store, replace(varied, seed=seed), policy, fork))
    return tuple(specs)


# ---------------------------------------------------------------------------- execution
def require_dask() -> None:
    """Raise ImportError naming the extra to install when Dask distributed is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"the sweep command runs on Dask distributed, which is not installed ({exc}); "
                          f"install it with: {INSTALL_HINT}") from exc  # fmt: skip


def execute_run(spec: RunSpec) -> RunResult:
    """Run one spec to its end (this is the Dask task); failures come back as a result, never raised."""
    t0 = time.monotonic()
    status, reason = RunStatus.FAILED, ""
    kpis: tuple[KpiValue, ...] = ()
    try:
        # loopback and a random port whatever the scenario's coordinator section says: runs share hosts
        if spec.fork is None:
            with Coordinator(spec.scenario, RunOptions(out=spec.store, store_policy=spec.policy, bind=LOOPBACK)) as coordinator:
                coordinator.run()
        else:  # as `federation fork`: the parent's records up to the checkpoint, then this variant's run
            from ..engine.checkpoint import Resume, fork_store
            from ..results.claim import claim_store

            claim = claim_store(spec.store, spec.policy)
            fork_store(spec.fork.parent, claim.store, spec.fork.saved)
            resume = Resume(claim.store, spec.fork.saved, spec.scenario)
            with Coordinator(spec.scenario, RunOptions(out=claim.store, resume=resume, bind=LOOPBACK)) as coordinator:
                coordinator.run()
        kpis = tuple(record_kpis(spec.scenario, spec.store))  # also written to the store's kpis table
        status = RunStatus.COMPLETED
    except FederationError as exc:
        reason = str(exc)
    except Exception as exc:  # a bug must not take the sweep down with it
        log.exception("run %s", spec.name)
        reason = f"internal error: {type(exc).__name__}: {exc}"
    return RunResult(spec.variant, spec.seed, spec.store, status, reason, time.monotonic() - t0, kpis)


def run_ensemble(
    specs: Sequence[RunSpec],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    on_result: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Run the specs on Dask (``scheduler``, or a local cluster of ``workers`` processes), in plan order."""
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]
    with _open_client(scheduler, workers or min(os.cpu_count() or 1, len(specs))) as client:
        futures = client.map(execute_run, specs, key=[f"federation-run-{s.name}-{token}" for s in specs])
        spec_of = {future.key: spec for future, spec in zip(futures, specs)}
        results: dict[Path, RunResult] = {}
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            spec = spec_of[future.key]
            try:
                result: RunResult = future.result()
            except Exception as exc:  # the task itself died: a killed worker, a lost connection
                result = RunResult(spec.variant, spec.seed, spec.store, RunStatus.FAILED,
                                   f"Dask task failed: {type(exc).__name__}: {exc}", math.nan)  # fmt: skip
            results[spec.store] = result
            if on_result is not None:
                on_result(result)
            future.release()
    return [results[s.store] for s in specs]


@contextmanager
def _open_client(scheduler: str | None, workers: int) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")  # type: ignore[no-untyped-call]
        except Exception as exc:  # OSError, TimeoutError, ValueError for a malformed address
            raise FederationError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from exc
        with client:
            yield client
        return
    # processes, one run per worker at a time: a run already is several busy processes.  The workers' own logs are
    # silenced below CRITICAL: a run's failure comes back as its task's result, and at shutdown a worker whose
    # heartbeat races the scheduler's closing logs a harmless traceback at ERROR into the user's terminal.
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",  # type: ignore[no-untyped-call]
                           dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL)  # fmt: skip
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client


# ---------------------------------------------------------------------------- summary
@dataclass(frozen=True)
class KpiStats:
    """One KPI over the completed runs of a variant; ``std`` is the sample deviation (nan below 2 runs)."""

    name: str
    unit: str
    n: int
    mean: float
    std: float
    min: float
    max: float


@dataclass(frozen=True)
class VariantSummary:
    variant: Variant
    ok: int
    failed: int
    stats: tuple[KpiStats, ...]


def kpi_columns(results: Sequence[RunResult]) -> list[tuple[str, str]]:
    """(name, unit) of every KPI seen, in the order they first appear."""
    seen: dict[str, str] = {}
    for result in results:
        for kpi in result.kpis:
            seen.setdefault(kpi.name, kpi.unit)
    return list(seen.items())


def summarise_results(
    variants: Sequence[Variant], results: Sequence[RunResult],
) -> tuple[VariantSummary, ...]:
    """KPI statistics over the completed runs of each variant, with the counts of ok and failed runs."""
    columns = kpi_columns(results)
    out = []
    for variant in variants:
        mine = [r for r in results if r.variant.label == variant.label]
        done = [r for r in mine if r.ok]
        stats = tuple(_stats(name, unit, [k.value for r in done for k in r.kpis if k.name == name])
                      for name, unit in columns)  # fmt: skip
        out.append(VariantSummary(variant, len(done), len(mine) - len(done), stats))
    return tuple(out)


def _stats(name: str, unit: str, values: list[float]) -> KpiStats:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return KpiStats(name, unit, 0, math.nan, math.nan, math.nan, math.nan)
    std = statistics.stdev(finite) if len(finite) > 1 else math.nan
    return KpiStats(name, unit, len(finite), statistics.fmean(finite), std, min(finite), max(finite))


# ---------------------------------------------------------------------------- output
def _header(name: str, unit: str, suffix: str = "") -> str:
    text = f"{name} {suffix}".strip()
    return f"{text} [{unit}]" if unit else text


def _cell(value: float) -> str:
    return "" if math.isnan(value) else repr(value)


def write_runs_csv(path: Path, params: Sequence[str], results: Sequence[RunResult]) -> Path:
    """One row per run: variant, each varied parameter, seed, status, wall time, every KPI, reason, store."""
    columns = kpi_columns(results)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["variant", *params, "seed", "status", "wall_s", *(_header(n, u) for n, u in columns),
                      "reason", "store"])  # fmt: skip
        for r in results:
            values = r.variant.overrides
            kpis = {k.name: k.value for k in r.kpis}
            out.writerow([r.variant.label, *(_format_value(values[p]) if p in values else "" for p in params), r.seed, r.status,
                          _cell(round(r.wall_seconds, 3)),
                          *(_cell(kpis.get(n, math.nan)) for n, _ in columns),
                          r.reason, os.path.relpath(r.store, path.parent)])  # fmt: skip
    return path


def write_summary_csv(path: Path, params: Sequence[str], summaries: Sequence[VariantSummary]) -> Path:
    """One row per variant: runs ok/failed, then per KPI n (runs with a value), mean, std, min, max."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        first = summaries[0].stats if summaries else ()
        kpi_heads = [h for k in first for h in (f"{k.name} n", *(_header(k.name, k.unit, stat)
                                                               for stat in ("mean", "std", "min", "max")))]
        out.writerow(["variant", *params, "ok", "failed", *kpi_heads])
        for s in summaries:
            values = s.variant.overrides
            numbers = [c for k in s.stats for c in (str(k.n), *map(_cell, (k.mean, k.std, k.min, k.max)))]
            varied = [_format_value(values[p]) if p in values else "" for p in params]
            out.writerow([s.variant.label, *varied, s.ok, s.failed, *numbers])
    return path


def plot_summary(path: Path, summaries: Sequence[VariantSummary], results: Sequence[RunResult]) -> Path:
    """Per KPI, one panel: each variant's seeds (dots), min..max (bar) and mean +- std (error bar)."""
    summary_figure(summaries, results).savefig(path, dpi=110)
    return path


CONSTANT_TOLERANCE = 1e-9  # relative: a KPI whose values differ less than this is drawn as constant


def summary_figure(summaries: Sequence[VariantSummary], results: Sequence[RunResult]) -> Figure:
    """The figure of :func:`plot_summary`: constrained layout (the title never meets a panel); a KPI
    that is the same in every run is drawn on a fixed range around its value and says so."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [(k.name, k.unit) for k in summaries[0].stats] if summaries and summaries[0].stats else []
    if not panels:
        panels = [("wall time", "s")]  # nothing declared: show at least how the runs went
    size = (max(6.0, 1.1 * len(summaries) + 2), 2.6 * len(panels) + 1)
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)
    for ax, (name, unit) in zip(axes[:, 0], panels):
        seeds = [_panel_values(name, s.variant, results) for s in summaries]
        _draw_panel(ax, seeds)
        _fix_constant(ax, [v for values in seeds for v in values], unit)
        ax.set_ylabel(_header(name, unit), fontsize=8)
    labels = [f"{s.variant.label} ({s.ok} ok" + (f", {s.failed} failed)" if s.failed else ")")
              for s in summaries]  # fmt: skip
    axes[-1, 0].set_xticks(range(len(summaries)), labels, rotation=20, ha="right", fontsize=7)
    axes[-1, 0].set_xlim(-0.6, len(summaries) - 0.4)
    fig.suptitle("mean \u00b1 std (error bar), min..max (grey), seeds (dots)", fontsize=9)
    return fig


def _draw_panel(ax: Any, seeds: list[list[float]]) -> None:
    for x, values in enumerate(seeds):
        if values:
            ax.plot([x] * len(values), values, "o", color="0.6", markersize=3, zorder=1)
            ax.vlines(x, min(values), max(values), color="0.75", linewidth=5, zorder=0)
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            ax.errorbar(x, statistics.fmean(values), yerr=std, fmt="s", color="C0", capsize=5, zorder=2)
    ax.ticklabel_format(axis="y", useOffset=False)  # true values on the axis, never "1e-12 + 19.53"
    ax.grid(alpha=0.3)


def _fix_constant(ax: Any, values: list[float], unit: str) -> None:
    """A KPI equal in every run (to rounding) gets a range of +-10 % of its value (+-1 around 0)."""
    if not values:
        return
    low, high = min(values), max(values)
    centre = (low + high) / 2
    if high - low > CONSTANT_TOLERANCE * max(1.0, abs(centre)):
        return
    half = 0.1 * abs(centre) or 1.0
    ax.set_ylim(centre - half, centre + half)
    ax.text(0.01, 0.95, f"constant: {centre:.6g} {unit}".rstrip(), transform=ax.transAxes, ha="left", va="top",
            fontsize=8, color="0.3")  # fmt: skip


def _panel_values(name: str, variant: Variant, results: Sequence[RunResult]) -> list[float]:
    mine = [r for r in results if r.ok and r.variant.label == variant.label]
    if name == "wall time":
        return [r.wall_seconds for r in mine]
    return [k.value for r in mine for k in r.kpis if k.name == name and not math.isnan(k.value)]


def format_table(summaries: Sequence[VariantSummary], results: Sequence[RunResult]) -> str:
    """The summary as a text table (KPI mean +- std over the seeds), then the failed runs with reasons."""
    first = summaries[0].stats if summaries else ()
    heads = ["variant", "ok", "failed", *(_header(k.name, k.unit) for k in first)]
    rows = [[s.variant.label, str(s.ok), str(s.failed), *(_mean_std(k, s.ok) for k in s.stats)]
            for s in summaries]  # fmt: skip
    widths = [max(len(row[i]) for row in [heads, *rows]) for i in range(len(heads))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in [heads, *rows]]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    failed = [r for r in results if not r.ok]
    if failed:
        lines.append("")
        lines.append("failed runs:")
        lines += [f"  {r.store.stem}: {r.status}: {(r.reason or '?').splitlines()[0]}" for r in failed]
    return "\n".join(lines)


def _mean_std(k: KpiStats, ok: int) -> str:
    if k.n == 0:
        return "-"
    text = f"{k.mean:.4g}" if math.isnan(k.std) else f"{k.mean:.4g} \u00b1 {k.std:.2g}"
    return text if k.n == ok else f"{text} (n={k.n})"  # some completed runs gave no value


def write_outputs(out: Path, params: Sequence[str], summaries: Sequence[VariantSummary],
                  results: Sequence[RunResult]) -> list[Path]:  # fmt: skip
    """``runs.csv``, ``summary.csv`` and ``summary.png`` in ``out`` (the stores are in ``out/runs``)."""
    out.mkdir(parents=True, exist_ok=True)
    return [
        write_runs_csv(out / "runs.csv", params, results),
        write_summary_csv(out / "summary.csv", params, summaries),
        plot_summary(out / "summary.png", summaries, results),
    ]
