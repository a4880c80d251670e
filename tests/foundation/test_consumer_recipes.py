"""Every documented consumer read (docs/tables.md) exits 0, run as a scheduler would: a fresh
interpreter per read, 20 times each (the unpatched reads abort at exit in 5-65% of runs)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from recsys_spark.settings.core import WarehouseConfig
from recsys_spark.tables import CommitInfo, TableStore
from recsys_spark.tables.consumer import RECIPES
from tests.conftest import REPO_ROOT
from tests.foundation.test_tables import BASE_ROWS, rows_df

pytestmark = pytest.mark.unit

RUNS = 20
# `recsys sql` starts a JVM per run (~15-30 s here): one run keeps the suite's time in bounds
# (the exit aborts the repetition looks for are the Python readers', 20 runs each above).
SPARK_RUNS = 1


@pytest.fixture(scope="module")
def warehouse(spark, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("consumer") / "warehouse"
    store = TableStore(spark, WarehouseConfig(root=str(root), backend="delta_rs"))
    for run, rows in enumerate([BASE_ROWS[:2], BASE_ROWS[2:]]):
        store.write(rows_df(spark, rows), "events_quarantine", "append",
                    CommitInfo(f"r{run}", "test"), partition_by=["day"])
    return root


def _run(command: list[str]) -> tuple[int, str, str]:
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    return result.returncode, result.stdout.strip(), result.stderr[-500:]


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_python_recipe_exits_cleanly_every_time(warehouse, recipe):
    code = RECIPES[recipe].format(table=warehouse / "events_quarantine")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_run, [[sys.executable, "-c", code]] * RUNS))
    failures = [(rc, err) for rc, _out, err in results if rc != 0]
    assert failures == [], f"{len(failures)} of {RUNS} runs failed: {failures[:2]}"
    assert {out for _rc, out, _err in results} == {"3"}


def test_spark_sql_recipe_exits_cleanly(warehouse):
    command = [sys.executable, "-m", "recsys_spark.cli", "sql",
               "SELECT count(*) AS n FROM events_quarantine", "--format", "csv",
               "--set", f"warehouse.root={warehouse}", "--set", "spark.master=local[1]",
               "--set", "spark.shuffle_partitions=1"]
    started = time.monotonic()
    results = [_run(command) for _ in range(SPARK_RUNS)]
    per_run = (time.monotonic() - started) / SPARK_RUNS
    assert [(rc, out.splitlines()[-1] if out else err) for rc, out, err in results] == [
        (0, "3")] * SPARK_RUNS, f"{per_run:.1f}s per run"
