"""The native (delta-spark) backend: runs where the Delta jars are on the classpath, e.g.
`RECSYS_TEST_SPARK_CONF=spark.jars.packages=io.delta:delta-spark_2.13:<ver>` with Maven access."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from recsys_spark.errors import SchemaMismatchError
from recsys_spark.settings.core import WarehouseConfig
from recsys_spark.tables import CommitInfo, TableStore, TxnId
from recsys_spark.tables.native_backend import NativeDeltaBackend
from recsys_spark.tables.store import delta_jars_present

pytestmark = pytest.mark.unit


@pytest.fixture
def native_store(spark: SparkSession, tmp_path: Path) -> TableStore:
    if not delta_jars_present(spark):
        pytest.fail("the Delta jars are not on the test session's classpath: run 'make jars'")
    return TableStore(spark, WarehouseConfig(root=str(tmp_path / "wh"), backend="native"))


def test_native_backend_has_the_same_semantics(spark, native_store):
    assert isinstance(native_store.backend, NativeDeltaBackend)
    day1, day2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    df = spark.createDataFrame([(1, "a", day1), (2, "b", day2)], "id long, s string, d date")
    native_store.write(df, "t", "append", CommitInfo("r1", "test"), partition_by=["d"])
    replacement = spark.createDataFrame([(3, "c", day2)], "id long, s string, d date")
    native_store.write(replacement, "t", "overwrite", CommitInfo("r2", "test"),
                       replace_partitions={"d": ["2026-01-02"]}, txn=TxnId("t/test/d2", 5))
    again = native_store.write(replacement, "t", "overwrite", CommitInfo("r2", "test"),
                               replace_partitions={"d": ["2026-01-02"]}, txn=TxnId("t/test/d2", 5))
    assert again.skipped
    expected = spark.createDataFrame([(1, "a", day1), (3, "c", day2)], "id long, s string, d date")
    assert_df_equality(native_store.read("t").orderBy("id"), expected, ignore_nullable=True)
    assert_df_equality(native_store.read("t", version=0).orderBy("id"), df, ignore_nullable=True)
    assert [h.run_id for h in native_store.history("t")][:2] == ["r2", "r1"]
    assert sorted(DeltaTable(native_store.uri("t")).to_pandas()["id"]) == [1, 3]
    with pytest.raises(SchemaMismatchError):
        native_store.write(df.withColumnRenamed("s", "x"), "t", "append", CommitInfo("r3", "test"))
