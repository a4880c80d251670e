"""The Delta table layer: one semantics suite, run on both backends (delta-rs commits and native
delta-spark); every operation round-trips and is read back by Spark and by deltalake."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DateType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from recsys_spark.errors import (
    SchemaMismatchError,
    TableError,
    UnknownTableError,
)
from recsys_spark.settings.core import WarehouseConfig
from recsys_spark.tables import CommitInfo, TableStore, TxnId, deltars_backend
from recsys_spark.tables.store import delta_jars_present
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.unit

SCHEMA = StructType([
    StructField("id", LongType(), True),
    StructField("name", StringType(), True),
    StructField("amount", DoubleType(), True),
    StructField("ts", TimestampType(), True),
    StructField("day", DateType(), True),
])
UTC = dt.timezone.utc
D1, D2, D3 = dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)


def rows_df(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, SCHEMA)


BASE_ROWS = [
    (1, "a", 1.5, dt.datetime(2026, 1, 1, 8, 0, 0, 123456, tzinfo=UTC), D1),
    (2, None, None, None, D1),
    (3, "c", -2.0, dt.datetime(2026, 1, 2, 23, 59, 59, tzinfo=UTC), D2),
]


BACKENDS = ["delta_rs", "native"]


def make_store(spark: SparkSession, root: Path, backend: str) -> TableStore:
    if backend == "native" and not delta_jars_present(spark):
        pytest.fail("the Delta jars are not on the test session's classpath: run 'make jars'")
    store = TableStore(spark, WarehouseConfig(root=str(root), backend=backend))  # type: ignore[arg-type]
    assert store.backend_name == backend
    return store


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, spark: SparkSession, tmp_path: Path) -> TableStore:
    """A warehouse on each backend in turn: every test using it runs twice."""
    return make_store(spark, tmp_path / "wh", request.param)


@pytest.fixture
def deltars_store(spark: SparkSession, tmp_path: Path) -> TableStore:
    """For what only the delta-rs commit backend does itself (file stats, its commit step)."""
    return make_store(spark, tmp_path / "wh", "delta_rs")


def commit(run: str) -> CommitInfo:
    return CommitInfo(run_id=run, stage="test")


def sorted_df(df: DataFrame) -> DataFrame:
    return df.orderBy("id")


def delta_rs_rows(store: TableStore, table: str, version: int | None = None) -> list[dict]:
    """The table read by delta-rs directly (no Spark), as sorted python rows."""
    delta = DeltaTable(store.uri(table), version=version)
    frame = delta.to_pandas().sort_values("id").reset_index(drop=True)
    return frame.to_dict("records")


def test_write_then_read_round_trips_in_spark_and_delta_rs(spark, store):
    result = store.write(rows_df(spark, BASE_ROWS), "t", "append", commit("r1"), partition_by=["day"])
    assert (result.version, result.rows_written) == (0, 3)
    assert_df_equality(sorted_df(store.read("t")), rows_df(spark, BASE_ROWS), ignore_nullable=True)

    got = delta_rs_rows(store, "t")
    assert [r["id"] for r in got] == [1, 2, 3]
    assert got[0]["name"] == "a" and got[0]["amount"] == 1.5
    assert got[0]["ts"].to_pydatetime() == dt.datetime(2026, 1, 1, 8, 0, 0, 123456, tzinfo=UTC)
    assert [str(r["day"])[:10] for r in got] == ["2026-01-01", "2026-01-01", "2026-01-02"]
    # the oldest protocol: every Delta reader (DuckDB, Trino, older Spark) can read it
    assert DeltaTable(store.uri("t")).protocol().min_reader_version == 1
    assert DeltaTable(store.uri("t")).protocol().min_writer_version == 2


def test_file_statistics_are_exact(spark, deltars_store):
    store = deltars_store
    # one input partition, so one file per day partition
    store.write(rows_df(spark, BASE_ROWS).coalesce(1), "t", "append", commit("r1"), partition_by=["day"])
    actions = pa.table(DeltaTable(store.uri("t")).get_add_actions(flatten=True)).to_pylist()
    by_day = {str(a["partition.day"])[:10]: a for a in actions}
    day1, day2 = by_day["2026-01-01"], by_day["2026-01-02"]
    assert (day1["num_records"], day2["num_records"]) == (2, 1)
    assert (day1["min.id"], day1["max.id"], day1["null_count.name"]) == (1, 2, 1)
    assert (day1["min.name"], day1["max.name"]) == ("a", "a")
    # timestamps are kept at millisecond precision: min rounded down, max rounded up
    assert day1["min.ts"] == dt.datetime(2026, 1, 1, 8, 0, 0, 123000, tzinfo=UTC)
    assert day1["max.ts"] == dt.datetime(2026, 1, 1, 8, 0, 0, 124000, tzinfo=UTC)
    # doubles get no min/max (NaN ordering), but exact null counts
    assert "min.amount" not in actions[0] or day1.get("min.amount") is None
    assert day1["null_count.amount"] == 1


def test_overwrite_of_one_partition_leaves_the_others(spark, store):
    store.write(rows_df(spark, BASE_ROWS), "t", "append", commit("r1"), partition_by=["day"])
    new_day2 = rows_df(spark, [(30, "z", 9.0, None, D2), (31, "y", 8.0, None, D2)])
    store.write(new_day2, "t", "overwrite", commit("r2"), replace_partitions={"day": ["2026-01-02"]})
    expected = rows_df(spark, [BASE_ROWS[0], BASE_ROWS[1], (30, "z", 9.0, None, D2),
                               (31, "y", 8.0, None, D2)])
    assert_df_equality(sorted_df(store.read("t")), expected, ignore_nullable=True)
    assert [r["id"] for r in delta_rs_rows(store, "t")] == [1, 2, 30, 31]


def test_partition_overwrite_refuses_rows_outside_the_partition(spark, store):
    store.write(rows_df(spark, BASE_ROWS), "t", "append", commit("r1"), partition_by=["day"])
    stray = rows_df(spark, [(40, "x", 1.0, None, D3)])
    with pytest.raises(SchemaMismatchError, match="day=2026-01-03"):
        store.write(stray, "t", "overwrite", commit("r2"), replace_partitions={"day": ["2026-01-02"]})
    assert store.version("t") == 0


def test_full_overwrite_replaces_everything(spark, store):
    store.write(rows_df(spark, BASE_ROWS), "t", "append", commit("r1"), partition_by=["day"])
    store.write(rows_df(spark, [(9, "n", 0.5, None, D3)]), "t", "overwrite", commit("r2"))
    assert_df_equality(store.read("t"), rows_df(spark, [(9, "n", 0.5, None, D3)]), ignore_nullable=True)


def test_time_travel_by_version_and_timestamp(spark, store):
    store.write(rows_df(spark, BASE_ROWS[:1]), "t", "append", commit("r1"))
    time.sleep(0.05)
    between = dt.datetime.now(UTC)
    time.sleep(0.05)
    store.write(rows_df(spark, BASE_ROWS[1:]), "t", "append", commit("r2"))
    assert_df_equality(store.read("t", version=0), rows_df(spark, BASE_ROWS[:1]), ignore_nullable=True)
    assert_df_equality(store.read("t", as_of=between), rows_df(spark, BASE_ROWS[:1]),
                       ignore_nullable=True)
    assert sorted_df(store.read("t")).count() == 3
    with pytest.raises(TableError, match="version 7"):
        store.read("t", version=7)


def test_history_carries_run_ids(spark, store):
    store.write(rows_df(spark, BASE_ROWS), "t", "append", commit("run-a"))
    store.write(rows_df(spark, BASE_ROWS), "t", "overwrite", commit("run-b"))
    history = store.history("t")
    assert [(h.version, h.run_id, h.stage) for h in history] == [(1, "run-b", "test"),
                                                                 (0, "run-a", "test")]
    # in the raw log: delta-rs writes commitInfo keys, delta-spark its userMetadata JSON
    raw = DeltaTable(store.uri("t")).history()
    assert [c.get("run_id") or json.loads(c["userMetadata"])["run_id"] for c in raw] == [
        "run-b", "run-a"]


def test_schema_mismatch_fails_with_the_columns_named(spark, store):
    store.write(rows_df(spark, BASE_ROWS), "t", "append", commit("r1"))
    wrong_type = rows_df(spark, BASE_ROWS).withColumn("amount", F.col("amount").cast("string"))
    with pytest.raises(SchemaMismatchError, match="column amount: table has double, write has string"):
        store.write(wrong_type, "t", "append", commit("r2"))
    with pytest.raises(SchemaMismatchError, match=r"missing columns name \(string\)"):
        store.write(rows_df(spark, BASE_ROWS).drop("name"), "t", "append", commit("r2"))
    with pytest.raises(SchemaMismatchError, match=r"new columns extra \(int\)"):
        store.write(rows_df(spark, BASE_ROWS).withColumn("extra", F.lit(1)), "t", "append",
                    commit("r2"))
    assert store.version("t") == 0


def test_new_nullable_column_only_when_asked(spark, store):
    store.write(rows_df(spark, BASE_ROWS[:1]), "t", "append", commit("r1"))
    wider = rows_df(spark, BASE_ROWS[2:]).withColumn("note", F.lit("new"))
    store.write(wider, "t", "append", commit("r2"), allow_new_columns=True)
    got = sorted_df(store.read("t")).select("id", "note").collect()
    assert [(r.id, r.note) for r in got] == [(1, None), (3, "new")]
    assert "note" in DeltaTable(store.uri("t")).schema().to_json()


def test_failure_before_commit_leaves_previous_version_and_rerun_converges(spark, deltars_store,
                                                                          monkeypatch):
    store = deltars_store
    store.write(rows_df(spark, BASE_ROWS[:1]), "t", "append", commit("r1"))

    def explode(*args, **kwargs):
        raise RuntimeError("injected failure between the Parquet write and the commit")

    monkeypatch.setattr(deltars_backend.DeltaRsBackend, "_commit", explode)
    with pytest.raises(RuntimeError, match="injected"):
        store.write(rows_df(spark, BASE_ROWS[1:]), "t", "append", commit("r2"),
                    txn=TxnId("t/test/all", 2))
    monkeypatch.undo()
    assert store.version("t") == 0
    assert_df_equality(store.read("t"), rows_df(spark, BASE_ROWS[:1]), ignore_nullable=True)
    orphans_dir = Path(store.uri("t"))
    data_dirs = [p for p in orphans_dir.iterdir() if p.is_dir() and not p.name.startswith("_")]
    assert len(data_dirs) == 2  # the committed write's folder and the orphaned one

    store.write(rows_df(spark, BASE_ROWS[1:]), "t", "append", commit("r2"), txn=TxnId("t/test/all", 2))
    assert store.version("t") == 1
    assert_df_equality(sorted_df(store.read("t")), rows_df(spark, BASE_ROWS), ignore_nullable=True)

    # vacuum keeps the guard: nothing is young enough to go yet; orphans older than retention go.
    assert store.vacuum("t", dry_run=True) == []
    old = time.time() - 8 * 24 * 3600
    for path in orphans_dir.rglob("*"):
        os.utime(path, (old, old))
    live = {Path(u).resolve() for u in DeltaTable(store.uri("t")).file_uris()}
    listed = store.vacuum("t", dry_run=True)
    assert listed and all(not str(p).endswith(".json") for p in listed)
    store.vacuum("t", dry_run=False)
    remaining = {p.resolve() for p in orphans_dir.rglob("*.parquet")}
    assert remaining == live
    assert_df_equality(sorted_df(store.read("t")), rows_df(spark, BASE_ROWS), ignore_nullable=True)


def test_retried_write_with_same_transaction_id_commits_once(spark, store):
    txn = TxnId("t/test/2026-01-01", 100)
    first = store.write(rows_df(spark, BASE_ROWS), "t", "append", commit("r1"), txn=txn)
    again = store.write(rows_df(spark, BASE_ROWS), "t", "append", commit("r1"), txn=txn)
    assert (first.skipped, again.skipped) == (False, True)
    assert store.version("t") == 0
    assert store.read("t").count() == 3
    assert store.transaction_version("t", "t/test/2026-01-01") == 100


def test_failed_job_leaves_the_previous_version_and_a_rerun_converges(spark, store):
    store.write(rows_df(spark, BASE_ROWS[:1]), "t", "append", commit("r1"))
    # a task fails mid-write (as an executor crash would): the job aborts before any commit
    failing = rows_df(spark, BASE_ROWS[1:]).withColumn(
        "id", F.when(F.col("id") == 3, F.raise_error(F.lit("injected task failure")))
        .otherwise(F.col("id")))
    with pytest.raises(Exception, match="injected task failure"):
        store.write(failing, "t", "append", commit("r2"), txn=TxnId("t/test/all", 2))
    assert store.version("t") == 0
    assert_df_equality(store.read("t"), rows_df(spark, BASE_ROWS[:1]), ignore_nullable=True)
    store.write(rows_df(spark, BASE_ROWS[1:]), "t", "append", commit("r2"), txn=TxnId("t/test/all", 2))
    assert store.version("t") == 1
    assert_df_equality(sorted_df(store.read("t")), rows_df(spark, BASE_ROWS), ignore_nullable=True)


def test_vacuum_removes_only_orphans_older_than_retention(spark, store):
    store.write(rows_df(spark, BASE_ROWS), "t", "append", commit("r1"), partition_by=["day"])
    table_dir = Path(store.uri("t"))
    # what a writer killed between its data files and its commit leaves in the table folder
    rows_df(spark, [(99, "orphan", 0.0, None, D1)]).write.parquet(str(table_dir / "killed-writer"))
    orphans = {p.resolve() for p in (table_dir / "killed-writer").rglob("*.parquet")}
    assert orphans
    assert store.vacuum("t", dry_run=True) == []  # younger than the retention window
    old = time.time() - 8 * 24 * 3600
    for path in table_dir.rglob("*"):
        os.utime(path, (old, old))
    live = {Path(u).resolve() for u in DeltaTable(store.uri("t")).file_uris()}
    # vacuum names files relative to the table folder
    assert {(table_dir / p).resolve() for p in store.vacuum("t", dry_run=True)
            if p.endswith(".parquet")} == orphans
    store.vacuum("t", dry_run=False)
    assert {p.resolve() for p in table_dir.rglob("*.parquet")} == live
    assert_df_equality(sorted_df(store.read("t")), rows_df(spark, BASE_ROWS), ignore_nullable=True)


@pytest.fixture(scope="module")
def race_outcomes(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two writer processes race on each backend in turn (one JVM each for both races):
    {backend: (root, {writer: outcome})}."""
    base = tmp_path_factory.mktemp("race")
    specs = []
    for backend in BACKENDS:
        root, barrier = base / backend / "wh", base / backend / "barrier"
        barrier.mkdir(parents=True)
        store = make_store(spark, root, backend)
        store.write(rows_df(spark, BASE_ROWS), "t", "append", commit("seed"), partition_by=["day"])
        specs.append(f"{backend}={root}={barrier}")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    racers = {name: subprocess.Popen(
        [sys.executable, "-m", "tests.foundation.race_writer", name, str(row_id), str(txn), *specs],
        cwd=REPO_ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for name, row_id, txn in [("a", 50, 1), ("b", 60, 2)]}
    outcomes: dict = {backend: (base / backend / "wh", {}) for backend in BACKENDS}
    for name, process in racers.items():
        out, err = process.communicate(timeout=600)
        lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
        for backend in BACKENDS:
            outcomes[backend][1][name] = lines.get(backend, f"no output: {err[-1500:]}")
    return outcomes


def test_two_processes_racing_on_the_same_empty_partition_exactly_one_wins(spark, store,
                                                                          race_outcomes):
    """Two real writer processes, held at a file barrier inside their writes (after each read
    the table, before either commits), then released together: one commits, one fails."""
    root, outcome = race_outcomes[store.backend_name]
    assert sorted(outcome.values()) == ["lost ConcurrentWriteError", "won"], outcome
    winner = next(n for n, o in outcome.items() if o == "won")
    raced = make_store(spark, root, store.backend_name)
    assert raced.version("t") == 1
    day3 = raced.read("t").where(F.col("day") == D3).select("id", "name").collect()
    assert [(r.id, r.name) for r in day3] == [({"a": 50, "b": 60}[winner], winner)]
    assert raced.history("t", 1)[0].run_id == f"run-{winner}"


def test_unknown_table_and_escaping_names_are_refused(spark, deltars_store):
    store = deltars_store
    with pytest.raises(UnknownTableError, match="unknown table 'nope'"):
        store.read("nope")
    for bad in ["../escape", "/abs/path", "s3://other/t", "Upper", "a/b", ""]:
        with pytest.raises(TableError, match="invalid table name"):
            store.uri(bad)


def test_empty_dataframe_creates_an_empty_table(spark, store):
    store.write(spark.createDataFrame([], SCHEMA), "t", "append", commit("r1"), partition_by=["day"])
    assert store.version("t") == 0
    assert store.read("t").count() == 0
    assert store.read("t").schema.fieldNames() == SCHEMA.fieldNames()
    assert json.loads(DeltaTable(store.uri("t")).schema().to_json())["fields"][0]["name"] == "id"


def test_text_partition_values_with_odd_characters_round_trip(spark, store):
    # Spark escapes some of these in its partition folder names (x%2Fy, 50%25, é%3Dü) and not
    # others ('+', ' ', 'é'); the log's add.path URI-encodes the folder name once more
    # (x%252Fy) while partitionValues hold the raw value. A read must find every file.
    rows = [(1, "a b"), (2, "x/y"), (3, "50%"), (4, "é=ü"), (5, None), (6, "a+b"), (7, "plain"),
            (8, "k:v#1"), (9, "a%2Bb")]
    df = spark.createDataFrame(rows, "id long, tag string")
    store.write(df, "t", "append", commit("r1"), partition_by=["tag"])
    assert_df_equality(store.read("t").orderBy("id"), df, ignore_nullable=True)
    # every add path names a file that exists, and deltalake reads the same values
    assert all(Path(uri).is_file() for uri in DeltaTable(store.uri("t")).file_uris())
    assert sorted(DeltaTable(store.uri("t")).to_pyarrow_table().to_pylist(),
                  key=lambda r: r["id"]) == [{"id": i, "tag": t} for i, t in rows]
    only = store.read("t", partition_filters=[("tag", "in", ["x/y", "50%", "a+b"])])
    assert sorted((r.id, r.tag) for r in only.collect()) == [(2, "x/y"), (3, "50%"), (6, "a+b")]


def test_partition_filters_read_only_matching_files(spark, store):
    store.write(rows_df(spark, BASE_ROWS), "t", "append", commit("r1"), partition_by=["day"])
    store.write(rows_df(spark, [(7, "x", 1.0, None, D3)]), "t", "append", commit("r2"))
    day2_on = store.read("t", partition_filters=[("day", ">=", D2)])
    assert sorted(r.id for r in day2_on.collect()) == [3, 7]
    # pruned from the log: Spark is handed only those partitions' files
    all_files = {Path(u).name for u in DeltaTable(store.uri("t")).file_uris()}
    read_files = {Path(f).name for f in day2_on.inputFiles()}
    actions = pa.table(DeltaTable(store.uri("t")).get_add_actions(flatten=True)).to_pylist()
    day2_on_files = {Path(a["path"]).name for a in actions
                     if dt.date.fromisoformat(str(a["partition.day"])[:10]) >= D2}
    assert read_files == day2_on_files and len(read_files) < len(all_files)
    only_day1 = store.read("t", partition_filters=[("day", "in", [D1])])
    assert sorted(r.id for r in only_day1.collect()) == [1, 2]
    assert store.read("t", partition_filters=[("day", "=", dt.date(2030, 1, 1))]).count() == 0
    with pytest.raises(TableError, match="cannot prune on 'name'"):
        store.read("t", partition_filters=[("name", "=", "a")])


def test_read_latest_run_picks_the_newest_partition_from_the_log(spark, store):
    schema = "id int, run_date date"
    d1, d2, d3 = dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 4)
    store.write(spark.createDataFrame([(1, d1), (2, d2), (3, d2), (4, d3)], schema), "runs_t",
                "append", commit("r1"), partition_by=["run_date"])
    assert store.latest_run_date("runs_t", dt.date(2026, 1, 3)) == d2
    assert store.latest_run_date("runs_t", d2, strictly_before=True) == d1
    assert store.latest_run_date("runs_t", dt.date(2025, 12, 31)) is None
    assert store.latest_run_date("no_such_table", d3) is None
    latest_df = store.read_latest_run("runs_t", d3)
    assert sorted(tuple(r) for r in latest_df.collect()) == [(4, d3)]
    assert sorted(r.id for r in store.read_latest_run("runs_t", dt.date(2026, 1, 3)).collect()) == [2, 3]
    assert store.read_latest_run("runs_t", dt.date(2025, 1, 1)) is None
    store.write(spark.createDataFrame([(5, d1)], schema), "flat_t", "append", commit("r1"))
    with pytest.raises(TableError, match="flat_t: not partitioned by run_date"):
        store.latest_run_date("flat_t", d1)
