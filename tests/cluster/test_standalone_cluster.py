"""The same pipeline submitted to a real Spark standalone cluster on 127.0.0.1 writes the same
tables as local mode."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from recsys_spark.config import WarehouseConfig
from recsys_spark.fingerprint import table_fingerprint
from recsys_spark.tables import TableStore
from tests.cluster.standalone import standalone_cluster
from tests.conftest import REPO_ROOT, PipelineRun, pipeline_args

pytestmark = pytest.mark.cluster

# Columns that legitimately differ between two runs of the same data: where the raw files were
# (absolute landing paths) and bookkeeping of the attempt itself.
PATH_COLUMNS = ("source_file",)
BOOKKEEPING_TABLES = ("pipeline_runs",)


def build_py_files(target: Path) -> Path:
    """The zip `make package` builds for --py-files."""
    return Path(shutil.make_archive(str(target / "recsys_spark"), "zip", str(REPO_ROOT), "recsys_spark"))


def test_pipeline_on_a_standalone_cluster_equals_local_mode(spark: SparkSession,
                                                            tiny_pipeline: PipelineRun, tmp_path):
    assert tiny_pipeline.returncode == 0, tiny_pipeline.stderr[-3000:]
    warehouse, landing = tmp_path / "warehouse", tmp_path / "landing"
    py_files = build_py_files(tmp_path)
    spark_submit = str(Path(sys.executable).parent / "spark-submit")
    with standalone_cluster(tmp_path / "cluster") as master_url:
        submitted = subprocess.run(
            [spark_submit, "--master", master_url, "--deploy-mode", "client",
             "--driver-memory", "2g", "--executor-memory", "2g", "--total-executor-cores", "2",
             "--conf", f"spark.pyspark.python={sys.executable}",
             "--py-files", str(py_files), str(REPO_ROOT / "jobs" / "run_pipeline.py"),
             *pipeline_args(warehouse, landing)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
        assert submitted.returncode == 0, submitted.stderr[-3000:]
        assert "total" in submitted.stdout

    local = TableStore(spark, WarehouseConfig(root=str(tiny_pipeline.warehouse), backend="delta_rs"))
    cluster = TableStore(spark, WarehouseConfig(root=str(warehouse), backend="delta_rs"))
    local_tables = [t for t in local.list_tables() if t not in BOOKKEEPING_TABLES]
    assert cluster.list_tables() == local.list_tables()
    assert len(local_tables) >= 10
    mismatched = []
    for table in local_tables:
        local_df, cluster_df = local.read(table), cluster.read(table)
        exclude = tuple(c for c in PATH_COLUMNS if c in local_df.columns)
        if table_fingerprint(local_df, exclude) != table_fingerprint(cluster_df, exclude):
            mismatched.append(table)
    assert mismatched == []
