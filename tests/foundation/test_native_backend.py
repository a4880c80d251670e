"""Both Delta backends together: the session's jar settings, tables written by one read back equal
by the other and by deltalake, Change Data Feed and compaction on each."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark import delta_jars
from recsys_spark.commands.sql_cmd import register_change_views
from recsys_spark.errors import TableError
from recsys_spark.schemas.spec import CHANGE_DATA_FEED
from recsys_spark.spark import delta_settings
from recsys_spark.tables import CommitInfo, TableStore, choose_backend
from recsys_spark.tables.consumer import read_arrow
from recsys_spark.tables.store import declared_properties
from tests.foundation.test_tables import BACKENDS, D1, D2, D3, SCHEMA, make_store, rows_df

pytestmark = pytest.mark.unit

OTHER = {"delta_rs": "native", "native": "delta_rs"}
CDF = {CHANGE_DATA_FEED: "true"}


def commit(run: str) -> CommitInfo:
    return CommitInfo(run_id=run, stage="test")


def by_id(df: DataFrame) -> DataFrame:
    return df.orderBy("id")


def test_session_has_the_pinned_jars_and_auto_picks_native(spark):
    jars = delta_jars.pinned_jars()
    assert jars is not None and [j.name for j in jars] == [
        "delta-spark_4.2_2.13-4.4.0.jar", "delta-storage-4.4.0.jar"]
    assert spark.conf.get("spark.jars").split(",") == [str(j) for j in jars]
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert choose_backend(spark, "auto").name == "native"
    assert choose_backend(spark, "delta_rs").name == "delta_rs"


def test_without_verified_jars_auto_falls_back_and_delta_rs_adds_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)  # as outside spark-submit
    assert delta_settings("delta_rs", "local[2]") == {}
    monkeypatch.setenv(delta_jars.JARS_DIR_ENV, str(tmp_path))  # an empty jars folder
    assert delta_settings("auto", "local[2]") == {}
    for pin in delta_jars.read_lock():  # present but corrupt: refused as well
        (tmp_path / pin.file_name).write_bytes(b"not the pinned jar")
    assert delta_jars.pinned_jars() is None
    lock = tmp_path / "test.lock"
    body = b"fake jar"
    (tmp_path / "a-1.jar").write_bytes(body)
    lock.write_text(f"g:a:1 {hashlib.sha256(body).hexdigest()}\ng:b:2 {'0' * 64} hdfs-test\n")
    assert delta_jars.pinned_jars(folder=tmp_path, lock=lock) == [tmp_path / "a-1.jar"]
    assert delta_jars.pinned_jars("hdfs-test", folder=tmp_path, lock=lock) is None


def _write_history(spark: SparkSession, store: TableStore) -> DataFrame:
    """Append, replace one partition, add a nullable column; returns the expected table."""
    base = [(1, "a", 1.5, dt.datetime(2026, 1, 1, 8, 0, 0, 123456, tzinfo=dt.timezone.utc), D1),
            (2, None, None, None, D1), (3, "c", -2.0, None, D2)]
    store.write(rows_df(spark, base), "t", "append", commit("r1"), partition_by=["day"])
    store.write(rows_df(spark, [(4, "d", 4.0, None, D2)]), "t", "overwrite", commit("r2"),
                replace_partitions={"day": ["2026-01-02"]})
    store.write(rows_df(spark, [(5, "e", 5.0, None, D3)]).withColumn("note", F.lit("new")), "t",
                "append", commit("r3"), allow_new_columns=True)
    return (rows_df(spark, [*base[:2], (4, "d", 4.0, None, D2), (5, "e", 5.0, None, D3)])
            .withColumn("note", F.when(F.col("id") == 5, F.lit("new"))))


@pytest.mark.parametrize("writer", BACKENDS)
def test_a_table_written_by_one_backend_reads_back_equal_everywhere(spark, tmp_path, writer):
    store = make_store(spark, tmp_path / "wh", writer)
    expected = _write_history(spark, store)
    other = make_store(spark, tmp_path / "wh", OTHER[writer])
    assert_df_equality(by_id(store.read("t")), expected, ignore_nullable=True)
    assert_df_equality(by_id(other.read("t")), expected, ignore_nullable=True)
    assert_df_equality(by_id(other.read("t", version=0)), by_id(store.read("t", version=0)),
                       ignore_nullable=True)
    arrow_df = spark.createDataFrame(read_arrow(store.uri("t")))  # Arrow keeps nulls as nulls
    assert_df_equality(by_id(arrow_df.select(*expected.columns)), expected, ignore_nullable=True)
    # (delta-rs adds a column in a metadata commit of its own, also stamped r3)
    assert list(dict.fromkeys(h.run_id for h in other.history("t"))) == ["r3", "r2", "r1"]
    # and the other backend can go on writing the same table
    other.write(rows_df(spark, [(6, "f", 6.0, None, D3)]).withColumn("note", F.lit(None).cast("string")),
                "t", "append", commit("r4"))
    assert sorted(r.id for r in store.read("t").collect()) == [1, 2, 4, 5, 6]


@pytest.mark.parametrize("backend", BACKENDS)
def test_change_data_feed_returns_only_what_changed_since_a_version(spark, tmp_path, backend):
    store = make_store(spark, tmp_path / "wh", backend)
    store.write(rows_df(spark, [(1, "a", 1.0, None, D1), (2, "b", 2.0, None, D2)]), "t", "append",
                commit("r1"), partition_by=["day"], table_properties=CDF)
    store.write(rows_df(spark, [(3, "c", 3.0, None, D2), (4, "d", 4.0, None, D2)]), "t",
                "overwrite", commit("r2"), replace_partitions={"day": ["2026-01-02"]})
    store.write(rows_df(spark, [(5, "e", 5.0, None, D3)]), "t", "append", commit("r3"))
    changes = store.read_changes("t", 1)
    assert changes.where(F.col("_commit_timestamp").isNull()).count() == 0
    expected = spark.createDataFrame(
        [(2, "b", 2.0, None, D2, "delete", 1), (3, "c", 3.0, None, D2, "insert", 1),
         (4, "d", 4.0, None, D2, "insert", 1), (5, "e", 5.0, None, D3, "insert", 2)],
        "id long, name string, amount double, ts timestamp, day date, _change_type string, "
        "_commit_version long")
    assert_df_equality(by_id(changes.drop("_commit_timestamp")), expected, ignore_nullable=True)
    assert store.read_changes("t", 3).count() == 0  # nothing committed since
    # the other backend reads the same feed (delta-spark's reader on a delta-rs-written table)
    other = make_store(spark, tmp_path / "wh", OTHER[backend])
    assert_df_equality(by_id(other.read_changes("t", 1).drop("_commit_timestamp")), expected,
                       ignore_nullable=True)
    # the `recsys sql --changes-from 2` view
    assert register_change_views(store, 2) == ["t_changes"]
    rows = spark.sql("SELECT id, _change_type FROM t_changes").collect()
    assert [(r.id, r._change_type) for r in rows] == [(5, "insert")]
    store.write(rows_df(spark, [(9, "z", 0.0, None, D1)]), "plain", "append", commit("r1"))
    with pytest.raises(TableError, match="plain does not record its changes"):
        store.read_changes("plain", 0)


def test_events_and_user_promotions_declare_change_data_feed():
    assert declared_properties("events") == CDF
    assert declared_properties("user_promotions") == CDF
    assert declared_properties("items") == {}


@pytest.mark.parametrize("backend", BACKENDS)
def test_optimize_compacts_each_partition_into_one_file(spark, tmp_path, backend):
    store = make_store(spark, tmp_path / "wh", backend)
    for run in range(4):  # four daily runs, each appending one small file per partition
        day_rows = [(10 * run + 1, "x", 1.0, None, D1), (10 * run + 2, "y", 2.0, None, D2)]
        store.write(rows_df(spark, day_rows).coalesce(1), "t", "append", commit(f"r{run}"),
                    partition_by=["day"])
    before_df = by_id(store.read("t"))
    expected_rows = before_df.collect()
    result = store.optimize("t", CommitInfo(run_id="opt-1", stage="optimize"))
    assert (result.files_before, result.files_after, result.version) == (8, 2, 4)
    assert by_id(store.read("t")).collect() == expected_rows
    assert store.history("t", 1)[0].run_id == "opt-1"
    assert store.optimize("t", CommitInfo(run_id="opt-2", stage="optimize")).files_after == 2
    assert SCHEMA.fieldNames() == store.read("t").columns
