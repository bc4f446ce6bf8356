"""The run store's schema is owned by federation/results/store.py: versioned, read back across versions."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import pytest

import federation
from federation.errors import FederationError
from federation.results.kpi import KpiValue, write_kpis
from federation.results.store import LEGACY_VERSION, SCHEMA_VERSION, TABLES, RunStore, StoreWriter

PACKAGE = Path(federation.__file__).parent


def _store(path: Path) -> Path:
    writer = StoreWriter(path)
    writer.create()
    writer.begin()
    writer.put_meta([("scenario_name", "s"), ("status", "completed"), ("stop", "10.0")])
    writer.add_federate(0, "tank", "tank", 1.0)
    writer.add_signals([(0, "tank", "level", "m", "float")])
    writer.add_samples([(0, 0.0, 0, 1.0), (5, 5.0, 0, 2.0)])
    writer.add_messages([(5, 5.0, 4, "tank.alarm", "log.alarm", '{"level": 2.0}')])
    writer.commit()
    writer.checkpoint()
    writer.close()
    return path


def test_a_new_store_carries_the_schema_version_and_every_table(tmp_path: Path) -> None:
    path = _store(tmp_path / "run.sqlite")
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {t.name for t in TABLES}
    db.close()
    with RunStore(path) as run:
        assert run.version == SCHEMA_VERSION
        assert run.series("tank.level").values == (1.0, 2.0)
        assert run.message_routes() == [("tank.alarm", "log.alarm", 1, 5.0, 5.0)]
        assert run.last_time(("samples", "messages")) == 5.0


def test_a_store_from_before_versions_is_read_as_version_1_without_writing(tmp_path: Path) -> None:
    """user_version 0 and no pacing/synchronise tables: the store of an older federation."""
    path = _store(tmp_path / "old.sqlite")
    db = sqlite3.connect(path)
    db.executescript("PRAGMA user_version = 0; DROP TABLE pacing; DROP TABLE sync_pairs; DROP TABLE synchronisation;"
                     "DROP TABLE external_samples;")  # fmt: skip
    db.close()
    before = path.read_bytes()
    with RunStore(path) as run:
        assert run.version == LEGACY_VERSION == 1
        assert run.pacing() == [] and run.sync_pairs() == [] and run.corrections() == []
        assert run.external_samples("tank") == []
        assert run.series("tank.level").values == (1.0, 2.0)
    assert path.read_bytes() == before  # reading changed nothing


def test_a_store_of_a_newer_version_is_refused_naming_both_versions(tmp_path: Path) -> None:
    path = _store(tmp_path / "new.sqlite")
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(FederationError, match=rf"schema version {SCHEMA_VERSION + 1}.*newer federation.*"
                                              rf"reads versions up to {SCHEMA_VERSION}"):  # fmt: skip
        RunStore(path)
    with pytest.raises(Exception, match="newer federation"):
        write_kpis(path, [KpiValue("k", 1.0, "", "")])


def test_each_table_says_the_version_that_added_it() -> None:
    assert len({t.name for t in TABLES}) == len(TABLES)
    assert all(1 <= t.since <= SCHEMA_VERSION for t in TABLES)


def test_only_the_store_module_speaks_sql() -> None:
    """Every other module reads and writes the store through federation/results/store.py."""
    offenders = []
    for file in sorted(PACKAGE.rglob("*.py")):
        if file == PACKAGE / "results" / "store.py":
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module == "sqlite3":
                names = ["sqlite3"]
            if "sqlite3" in names:
                offenders.append(f"{file.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
