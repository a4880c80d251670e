"""The same pipeline submitted to a real Spark standalone cluster on 127.0.0.1 writes the same
tables as local mode."""
from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from recsys_spark.fingerprint import table_fingerprint
from recsys_spark.settings.core import WarehouseConfig
from recsys_spark.tables import TableStore
from tests.conftest import PipelineRun

pytestmark = pytest.mark.cluster

# Columns that legitimately differ between two runs of the same data: where the raw files were
# (absolute landing paths). pipeline_runs is bookkeeping of the attempts themselves.
PATH_COLUMNS = ("source_file",)
BOOKKEEPING_TABLES = ("pipeline_runs",)


def test_pipeline_on_a_standalone_cluster_equals_local_mode(spark: SparkSession,
                                                            tiny_pipeline: PipelineRun,
                                                            cluster_pipeline: PipelineRun):
    assert tiny_pipeline.returncode == 0, tiny_pipeline.stderr[-3000:]
    assert cluster_pipeline.returncode == 0, cluster_pipeline.stderr[-3000:]
    assert "total" in cluster_pipeline.stdout
    # The work ran on the cluster's executors, not inside the driver.
    executor_dirs = list((cluster_pipeline.root / "cluster" / "worker").glob("app-*/*"))
    assert executor_dirs, "no executor was launched by the worker"

    local = TableStore(spark, WarehouseConfig(root=str(tiny_pipeline.warehouse), backend="delta_rs"))
    cluster = TableStore(spark, WarehouseConfig(root=str(cluster_pipeline.warehouse),
                                                backend="delta_rs"))
    assert cluster.list_tables() == local.list_tables()
    compared = [t for t in local.list_tables() if t not in BOOKKEEPING_TABLES]
    assert len(compared) >= 15
    mismatched = []
    for table in compared:
        local_df, cluster_df = local.read(table), cluster.read(table)
        exclude = tuple(c for c in PATH_COLUMNS if c in local_df.columns)
        if table_fingerprint(local_df, exclude) != table_fingerprint(cluster_df, exclude):
            mismatched.append(table)
    assert mismatched == []
