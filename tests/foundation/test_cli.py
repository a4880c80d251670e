"""The `recsys` command line as a user runs it: a real process, real tables."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from recsys_spark.settings.core import WarehouseConfig
from recsys_spark.tables import CommitInfo, TableStore

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def recsys(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recsys_spark.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_tables_on_an_empty_warehouse(tmp_path):
    result = recsys("tables", "--set", f"warehouse.root={tmp_path / 'wh'}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"no tables under {tmp_path / 'wh'}"


def test_tables_and_history_on_a_populated_warehouse(spark: SparkSession, tmp_path):
    store = TableStore(spark, WarehouseConfig(root=str(tmp_path / "wh"), backend="delta_rs"))
    df = spark.createDataFrame([(1, "a"), (2, "b"), (3, "c")], "id long, name string")
    store.write(df, "alpha", "append", CommitInfo("run-1", "test"))
    store.write(df, "alpha", "append", CommitInfo("run-2", "test"))
    store.write(df.limit(1), "beta", "append", CommitInfo("run-9", "other"))

    result = recsys("tables", "--set", f"warehouse.root={tmp_path / 'wh'}")
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.strip().splitlines()]
    assert lines[0] == ["table", "version", "rows", "last_run_id", "partitioned_by"]
    assert lines[2:] == [["alpha", "1", "6", "run-2"], ["beta", "0", "1", "run-9"]]

    history = recsys("history", "alpha", "--set", f"warehouse.root={tmp_path / 'wh'}")
    assert history.returncode == 0, history.stderr
    rows = [line.split() for line in history.stdout.strip().splitlines()[2:]]
    assert [(r[0], r[-2], r[-1]) for r in rows] == [("1", "run-2", "test"), ("0", "run-1", "test")]


@pytest.mark.parametrize(("args", "message"), [
    (["history", "missing_table"], "recsys: error: unknown table 'missing_table'"),
    (["history", "../etc"], "recsys: error: invalid table name '../etc'"),
    (["tables", "--config", "conf/nope.yaml"], "recsys: error: config file not found: conf/nope.yaml"),
    (["tables", "--set", "spark.shuffle_partitions=x"],
     "recsys: error: --set spark.shuffle_partitions=x: spark.shuffle_partitions: expected an integer"),
    (["no-such-command"], "recsys: error: argument COMMAND: invalid choice: 'no-such-command'"),
])
def test_user_mistakes_end_as_one_line_and_exit_2(tmp_path, args, message):
    result = recsys(*args, "--set", f"warehouse.root={tmp_path / 'wh'}") if args[0] != "no-such-command" \
        else recsys(*args)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_optimize_prints_files_before_and_after(spark: SparkSession, tmp_path):
    store = TableStore(spark, WarehouseConfig(root=str(tmp_path / "wh"), backend="delta_rs"))
    df = spark.createDataFrame([(1, "a"), (2, "b")], "id long, day string")
    for run in range(3):  # one file per partition per run: 6 files
        store.write(df.coalesce(1), "small", "append", CommitInfo(f"run-{run}", "test"),
                    partition_by=["day"])
    result = recsys("optimize", "small", "--set", f"warehouse.root={tmp_path / 'wh'}",
                    "--set", "warehouse.backend=delta_rs")
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.strip().splitlines()]
    assert lines[0] == ["table", "files_before", "files_after", "version"]
    assert lines[2] == ["small", "6", "2", "3"]
    assert lines[3][:5] == ["compacted", "with", "the", "delta_rs", "backend;"]
    assert sorted(r.id for r in store.read("small").collect()) == [1, 1, 1, 2, 2, 2]
    assert store.history("small", 1)[0].stage == "optimize"
