"""The same pipeline submitted to a real Spark standalone cluster on 127.0.0.1, writing to a real
HDFS with the native Delta backend, writes the same tables as local mode with delta-rs."""
from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, FloatType, MapType

from recsys_spark.fingerprint import table_fingerprint
from recsys_spark.schemas import ALL_TABLES
from recsys_spark.settings.core import WarehouseConfig
from recsys_spark.tables import TableStore
from tests.cluster.compare import frames_equal_within_tolerance
from tests.cluster.submit import COPY_ERROR_FILE, HDFS_URI_FILE
from tests.conftest import PipelineRun

pytestmark = pytest.mark.cluster

# Columns that legitimately differ between two runs of the same data: where the raw files were
# (absolute landing paths). pipeline_runs is bookkeeping of the attempts themselves.
PATH_COLUMNS = ("source_file",)
BOOKKEEPING_TABLES = ("pipeline_runs",)


def _committers(table_path: Path) -> set[str]:
    """The engines that made a table's commits ("Apache-Spark/4.2.0 Delta-Lake/4.4.0" for
    delta-spark, "delta-rs:py-1.6.6" for delta-rs)."""
    return {str(c.get("engineInfo")) for c in DeltaTable(str(table_path)).history()}


def _backends_recorded(store: TableStore) -> list[str]:
    """The distinct Delta backends the stage runs recorded in pipeline_runs."""
    rows = store.read("pipeline_runs").select(F.col("notes")["delta_backend"].alias("b")).distinct()
    return sorted(str(r["b"]) for r in rows.collect())


def test_pipeline_on_a_standalone_cluster_and_hdfs_equals_local_mode(
        spark: SparkSession, tiny_pipeline: PipelineRun, cluster_pipeline: PipelineRun):
    assert tiny_pipeline.returncode == 0, tiny_pipeline.stderr[-3000:]
    assert cluster_pipeline.returncode == 0, cluster_pipeline.stderr[-3000:]
    copy_error = cluster_pipeline.root / COPY_ERROR_FILE
    assert not copy_error.exists(), copy_error.read_text() if copy_error.exists() else ""
    assert "total" in cluster_pipeline.stdout
    # The work ran on the cluster's executors, not inside the driver.
    executor_dirs = list((cluster_pipeline.root / "cluster" / "worker").glob("app-*/*"))
    assert executor_dirs, "no executor was launched by the worker"

    # The tables were copied out of HDFS when the run ended (`hdfs dfs -get`).
    local = TableStore(spark, WarehouseConfig(root=str(tiny_pipeline.warehouse), backend="delta_rs"))
    cluster = TableStore(spark, WarehouseConfig(root=str(cluster_pipeline.warehouse),
                                                backend="delta_rs"))
    assert cluster.list_tables() == local.list_tables()
    # The raw files the clean stage read were on HDFS ...
    hdfs_uri = (cluster_pipeline.root / HDFS_URI_FILE).read_text()
    sources = cluster.read("events").select(
        F.count("*").alias("files"),
        F.count_if(~F.col("source_file").startswith(f"{hdfs_uri}/landing/events/")).alias("elsewhere"),
    ).first()
    assert sources["files"] > 0 and sources["elsewhere"] == 0
    # ... and every commit of every table was made there by delta-spark (native backend), while
    # the local run committed every table with delta-rs.
    cluster_engines = set().union(*(_committers(cluster_pipeline.warehouse / t)
                                    for t in cluster.list_tables()))
    local_engines = set().union(*(_committers(tiny_pipeline.warehouse / t) for t in local.list_tables()))
    assert cluster_engines and all(e.startswith("Apache-Spark/") and " Delta-Lake/" in e
                                   for e in cluster_engines), cluster_engines
    assert local_engines and all(e.startswith("delta-rs:") for e in local_engines), local_engines
    assert (_backends_recorded(cluster), _backends_recorded(local)) == (["native"], ["delta_rs"])

    compared = [t for t in local.list_tables() if t not in BOOKKEEPING_TABLES]
    assert len(compared) >= 15
    mismatched = {}
    for table in compared:
        local_df, cluster_df = local.read(table), cluster.read(table)
        exclude = tuple(c for c in PATH_COLUMNS if c in local_df.columns)
        if (table_fingerprint(local_df, exclude) != table_fingerprint(cluster_df, exclude)
                and not _equal_within_tolerance(table, local_df.drop(*exclude), cluster_df.drop(*exclude))):
            mismatched[table] = _difference(local_df.drop(*exclude), cluster_df.drop(*exclude))
    assert mismatched == {}


def _equal_within_tolerance(table: str, local_df: DataFrame, cluster_df: DataFrame) -> bool:
    """The same rows, floating-point columns equal within a tolerance, tied entries of a ranked
    list free to trade places (tests/cluster/compare.py)."""
    floats = [f.name for f in local_df.schema.fields if isinstance(f.dataType, (DoubleType, FloatType))]

    def as_text(field):  # a map's entries sorted by key: their order is not the table's content
        column = F.col(field.name)
        if isinstance(field.dataType, MapType):
            column = F.array_sort(F.map_entries(column))
        return F.to_json(F.struct(column.alias("v"))).alias(field.name)

    def as_pandas(df: DataFrame):
        return df.select(*[F.col(f.name) if f.name in floats else as_text(f)
                           for f in df.schema.fields]).toPandas()

    return frames_equal_within_tolerance(as_pandas(local_df), as_pandas(cluster_df), floats,
                                         ALL_TABLES[table].keys)


def _difference(local_df: DataFrame, cluster_df: DataFrame, shown: int = 5) -> dict[str, list]:
    """A few rows only one side has, for the failure message (maps as JSON: set operations
    refuse map columns)."""
    local_df, cluster_df = (_maps_as_json(local_df), _maps_as_json(cluster_df))
    return {"local only": [r.asDict() for r in local_df.exceptAll(cluster_df).limit(shown).collect()],
            "cluster only": [r.asDict() for r in cluster_df.exceptAll(local_df).limit(shown).collect()]}


def _maps_as_json(df: DataFrame) -> DataFrame:
    return df.select(*(F.to_json(c).alias(f.name) if isinstance(f.dataType, MapType) else c
                       for f, c in zip(df.schema.fields, df.columns, strict=True)))
