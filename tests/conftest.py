"""One session-scoped SparkSession for the whole suite (local[2], 2 shuffle partitions, UI off)."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from recsys_spark.config import AppConfig, LandingConfig, SparkConfig, WarehouseConfig
from recsys_spark.spark import build_spark_session

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    scratch = tempfile.mkdtemp(prefix="recsys-spark-tests-")
    spark_config = SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="2g",
                               checkpoint_dir=os.path.join(scratch, "checkpoints"),
                               extra={"spark.local.dir": os.path.join(scratch, "local"),
                                      "spark.sql.warehouse.dir": os.path.join(scratch, "sql")})
    session = build_spark_session(spark_config, "recsys-tests", scratch)
    yield session
    session.stop()
    shutil.rmtree(scratch, ignore_errors=True)


def make_config(tmp_path: Path, **sections) -> AppConfig:
    """An AppConfig with its warehouse and landing under ``tmp_path``."""
    values = {
        "warehouse": WarehouseConfig(root=str(tmp_path / "warehouse"), backend="delta_rs"),
        "landing": LandingConfig(root=str(tmp_path / "landing")),
        "spark": SparkConfig(master="local[2]", shuffle_partitions=2),
    }
    values.update(sections)
    return AppConfig(**values)


@pytest.fixture
def app_config(tmp_path: Path) -> AppConfig:
    return make_config(tmp_path)
