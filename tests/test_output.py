"""What commands write and what they may replace (federation/results/claim.py and output.py), through the CLI.

A run never destroys a file it did not create; every output error is one line naming the path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from federation.results.report import write_report
from federation.results.store import RunStore
from tests.conftest import ROOT, write_scenario

pytestmark = pytest.mark.timeout(120)

SHORT = """
name: short
time: {stop: 3, resolution: 1 s}
federates:
  clock: {type: "{HELPERS}:Clock"}
"""


def federation(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.app.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=90, cwd=cwd)  # fmt: skip


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry below ``folder`` with its size and mtime (ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


# ---------------------------------------------------------------------------- the run store
def test_out_refuses_a_file_that_is_not_a_run_store(tmp_path):
    """`--out x.yaml` used to turn the scenario into an SQLite file and exit 0."""
    scenario = write_scenario(tmp_path, SHORT, "x.yaml")
    text = scenario.read_text()
    result = federation("run", scenario, "--out", scenario, "-q")
    assert result.returncode == 2
    assert result.stderr == f"federation: error: {scenario}: exists and is not a run store; refusing to replace it " \
                            "(choose another --out)\n"  # fmt: skip
    assert scenario.read_text() == text
    assert not (tmp_path / "x.logs").exists()
    assert federation("run", scenario, "--out", scenario, "--overwrite", "-q").returncode == 2  # not even so
    assert scenario.read_text() == text


def test_explicit_out_keeps_an_earlier_run_unless_overwrite(tmp_path):
    scenario = write_scenario(tmp_path, SHORT)
    out = tmp_path / "run.sqlite"
    assert federation("run", scenario, "--out", out, "-q").returncode == 0
    before = _snapshot(tmp_path)
    again = federation("run", scenario, "--out", out, "--seed", "5", "-q")
    assert again.returncode == 2
    assert f"{out}: holds an earlier run; use --overwrite to replace it" in again.stderr
    assert _snapshot(tmp_path) == before
    replaced = federation("run", scenario, "--out", out, "--seed", "5", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert f"federation: replacing the earlier run in {out} (--overwrite)" in replaced.stderr
    assert f"store: {out}" in replaced.stdout
    with RunStore(out) as store:
        assert store.metadata()["seed"] == "5"


def test_default_out_takes_the_next_free_name_and_says_so(tmp_path):
    scenario = write_scenario(tmp_path, SHORT)
    assert federation("run", scenario, "-q", cwd=tmp_path).returncode == 0
    first = _snapshot(tmp_path / "runs")
    second = federation("run", scenario, "--seed", "9", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "federation: runs/short.sqlite is taken; this run writes runs/short-2.sqlite" in second.stderr
    assert "store: runs/short-2.sqlite   logs: runs/short-2.logs/" in second.stdout
    assert {k: v for k, v in _snapshot(tmp_path / "runs").items() if k in first} == first  # the first run is intact
    with RunStore(tmp_path / "runs" / "short-2.sqlite") as store:
        assert store.metadata()["seed"] == "9"


def test_logs_folder_of_someone_else_is_never_written(tmp_path):
    scenario = write_scenario(tmp_path, SHORT)
    logs = tmp_path / "run.logs"
    logs.mkdir()
    (logs / "notes.txt").write_text("mine")
    for extra in ((), ("--overwrite",)):
        result = federation("run", scenario, "--out", tmp_path / "run.sqlite", "-q", *extra)
        assert result.returncode == 2
        assert f"{logs}: holds files a run did not write (notes.txt)" in result.stderr
    assert [p.name for p in logs.iterdir()] == ["notes.txt"] and not (tmp_path / "run.sqlite").exists()


def test_logs_of_an_earlier_run_are_replaced_only_with_overwrite(tmp_path):
    scenario = write_scenario(tmp_path, SHORT)
    logs = tmp_path / "run.logs"
    logs.mkdir()
    (logs / "clock.log").write_text("an earlier run's log")
    refused = federation("run", scenario, "--out", tmp_path / "run.sqlite", "-q")
    assert refused.returncode == 2 and f"{logs}: holds the logs of an earlier run" in refused.stderr
    assert (logs / "clock.log").read_text() == "an earlier run's log"
    assert federation("run", scenario, "--out", tmp_path / "run.sqlite", "-q", "--overwrite").returncode == 0
    assert (logs / "clock.log").read_text() != "an earlier run's log"


def test_sweep_refuses_a_folder_in_use(tmp_path):
    scenario = write_scenario(tmp_path, SHORT)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "summary.csv").write_text("my own table\n")
    refused = federation("sweep", scenario, "--vary", "clock.scale=1,2", "--out", folder)
    assert refused.returncode == 2
    assert f"{folder}: holds an earlier run's files; use --overwrite" in refused.stderr
    with_flag = federation("sweep", scenario, "--vary", "clock.scale=1,2", "--out", folder, "--overwrite")
    assert with_flag.returncode == 2  # a file the sweep did not write is never replaced
    assert f"{folder / 'summary.csv'}: exists and is not a sweep's CSV file" in with_flag.stderr
    assert (folder / "summary.csv").read_text() == "my own table\n"


def test_a_taken_sweep_folder_gives_the_next_free_name(tmp_path):
    from federation.results.claim import StorePolicy, claim_folder

    taken = tmp_path / "x-sweep"
    taken.mkdir()
    (taken / "runs.csv").write_text("variant,seed\n")
    assert claim_folder(taken, StorePolicy.NEXT_FREE) == tmp_path / "x-sweep-2"
    assert (tmp_path / "x-sweep-2").is_dir() and (taken / "runs.csv").read_text() == "variant,seed\n"
    assert claim_folder(tmp_path / "new", StorePolicy.REFUSE) == tmp_path / "new"


# ---------------------------------------------------------------------------- single files
@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("finished")
    out = folder / "run.sqlite"
    result = federation("run", write_scenario(folder, SHORT), "--out", out, "-q")
    assert result.returncode == 0, result.stderr
    return out


def test_export_replaces_only_its_own_csv_files(finished, tmp_path):
    (tmp_path / "run.csv").write_text("name,phone\nada,123\n")
    refused = federation("export", finished, "--csv", tmp_path)
    assert refused.returncode == 2
    assert f"{tmp_path / 'run.csv'}: exists and is not a CSV file of an earlier export" in refused.stderr
    assert (tmp_path / "run.csv").read_text() == "name,phone\nada,123\n"
    assert not (tmp_path / "samples.csv").exists()  # refused before anything was written
    folder = tmp_path / "csv"
    assert federation("export", finished, "--csv", folder).returncode == 0
    again = federation("export", finished, "--csv", folder)  # an earlier export is replaced
    assert again.returncode == 0, again.stderr
    file = tmp_path / "file"
    file.write_text("x")
    assert "is not a folder; --csv names the folder" in federation("export", finished, "--csv", file).stderr


def test_single_file_outputs_refuse_what_they_did_not_write(finished, tmp_path):
    scenario = write_scenario(tmp_path, SHORT)
    text, store = scenario.read_bytes(), finished.read_bytes()
    plot = federation("plot", finished, "clock.y", "-o", scenario)
    assert plot.returncode == 2
    assert plot.stderr.startswith(f"federation: error: {scenario}: -o: '.yaml' is not an image format; name the file")
    report = federation("report", finished, "-o", finished)
    assert report.returncode == 2
    assert report.stderr == f"federation: error: {finished}: exists and is not an HTML file; refusing to replace it " \
                            "(remove it or choose another -o)\n"  # fmt: skip
    notes = tmp_path / "notes.png"
    notes.write_text("my notes")
    graph = federation("graph", scenario, "-o", notes)
    assert graph.returncode == 2 and f"{notes}: exists and is not a PNG file" in graph.stderr
    assert (scenario.read_bytes(), finished.read_bytes(), notes.read_text()) == (text, store, "my notes")


def test_single_file_outputs_replace_their_own_kind(finished, tmp_path):
    from federation.errors import OutputError
    from federation.results.output import check_image

    png, html = tmp_path / "p.png", tmp_path / "r.html"
    with RunStore(finished) as store:
        store.plot(["clock.y"], png)
        store.plot(["clock.y"], png)  # an image of the same format is replaced
    write_report(finished, html)
    write_report(finished, html)
    check_image(png, "-o")
    folder = tmp_path / "folder.png"
    folder.mkdir()
    with pytest.raises(OutputError, match="folder.png: is a folder; -o names a file"):
        check_image(folder, "-o")
    with pytest.raises(OutputError, match="format"):
        check_image(tmp_path / "x.yaml", "-o")


# ---------------------------------------------------------------------------- OS errors
def test_out_into_a_folder_is_one_line_and_exit_2(tmp_path):
    scenario = write_scenario(tmp_path, SHORT)
    result = federation("run", scenario, "--out", tmp_path, "-q")
    assert result.returncode == 2
    assert result.stderr == f"federation: error: {tmp_path}: is a folder; --out names the run store file " \
                            "(e.g. DIR/NAME.sqlite)\n"  # fmt: skip


def _can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"],
                           capture_output=True, timeout=10)  # fmt: skip
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(not _can_mount(), reason="needs root and mount namespaces (unshare -m) for a tmpfs")

LONG = """
time: {stop: 1000000, resolution: 1 ms}
federates:
  clock: {type: "{HELPERS}:Clock"}
  probe: {type: "{HELPERS}:Probe"}
  tail: {type: "{HELPERS}:Affine", period: 1}
connections:
  - clock.y -> probe.u
  - {from: clock.y, to: tail.u, delay: true}
"""

_READ = textwrap.dedent("""
    import json, os, sqlite3, sys
    path = sys.argv[1]
    if not os.path.exists(path):
        print(json.dumps(None)); sys.exit()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    run = dict(db.execute("SELECT key, value FROM run WHERE key IN ('status', 'reason')"))
    feds = db.execute("SELECT name, status, grants, pid FROM federates").fetchall()
    print(json.dumps({"run": run, "federates": feds, "samples": db.execute("SELECT count(*) FROM samples").fetchone()[0]}))
""")


def _run_on_tmpfs(tmp_path: Path, size: str, *, fill: int = 0, read_only: bool = False) -> tuple[int, str, object]:
    """Run the CLI with its store on a real tmpfs of ``size`` (in a private mount namespace); read the store there.

    A tmpfs with a size limit gives ENOSPC exactly as a full disk does; ``fill`` bytes are taken
    before the run starts; ``read_only`` mounts it read-only (EROFS)."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    scenario = write_scenario(tmp_path, LONG)
    out = mount / "x.sqlite"
    (tmp_path / "read.py").write_text(_READ)
    script = textwrap.dedent(f"""
        mount -t tmpfs -o size={size}{',ro' if read_only else ''} tmpfs "{mount}" || exit 99
        {f'head -c {fill} /dev/zero > "{mount}/fill"' if fill else ''}
        "{sys.executable}" -m federation.app.cli run "{scenario}" --out "{out}" -q 2> "{tmp_path}/stderr"
        echo $? > "{tmp_path}/code"
        "{sys.executable}" "{tmp_path}/read.py" "{out}" > "{tmp_path}/store.json"
    """)
    subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], cwd=ROOT, timeout=90, check=True)
    code = int((tmp_path / "code").read_text())
    return code, (tmp_path / "stderr").read_text(), json.loads((tmp_path / "store.json").read_text())


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@needs_mount
def test_full_disk_mid_run_fails_the_run_and_marks_the_store(tmp_path):
    """A 4 MiB tmpfs holds the store's start and its first batches, and fills up within seconds of stepping.

    (With 512 KiB a first batch taken late on a loaded machine could already overflow it, leaving no samples.)"""
    code, stderr, store = _run_on_tmpfs(tmp_path, "4m")
    reason = f"{tmp_path / 'mnt' / 'x.sqlite'}: cannot write the run store: No space left on device"
    assert code == 1, stderr
    assert stderr.startswith(f"federation: error: {reason}") and stderr.count("\n") == 1, stderr
    assert store["run"]["status"] == "failed" and store["run"]["reason"].startswith(reason)
    assert store["samples"] > 0  # what was recorded before the disk filled is kept
    assert all(status == "failed" and grants > 0 for _, status, grants, _ in store["federates"])
    assert not any(_alive(pid) for *_, pid in store["federates"])  # every federate was stopped


@needs_mount
def test_full_disk_at_start_is_exit_2_and_leaves_nothing(tmp_path):
    code, stderr, store = _run_on_tmpfs(tmp_path, "64k", fill=60 * 1024)
    assert code == 2
    assert stderr == f"federation: error: {tmp_path / 'mnt' / 'x.sqlite'}: cannot write the run store: " \
                     "No space left on device (SQLite: database or disk is full)\n"  # fmt: skip
    assert store is None  # the empty file it had claimed is removed


@needs_mount
def test_read_only_filesystem_is_exit_2(tmp_path):
    code, stderr, store = _run_on_tmpfs(tmp_path, "64k", read_only=True)
    assert code == 2
    assert stderr == f"federation: error: {tmp_path / 'mnt' / 'x.sqlite'}: cannot create the run store: " \
                     "Read-only file system\n"  # fmt: skip
    assert store is None


def test_read_only_folder_is_exit_2(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the read-only tmpfs test covers this as root")
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    result = federation("run", write_scenario(tmp_path, SHORT), "--out", folder / "x.sqlite", "-q")
    assert result.returncode == 2
    assert result.stderr == f"federation: error: {folder / 'x.sqlite'}: cannot create the run store: Permission denied\n"
