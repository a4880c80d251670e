"""One session-scoped SparkSession for the whole suite (local[2], 2 shuffle partitions, UI off)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
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


TINY_DAYS = 4


@dataclass
class PipelineRun:
    """A finished `recsys run` in a subprocess: its folders and what it printed."""

    root: Path
    warehouse: Path
    landing: Path
    returncode: int
    stdout: str
    stderr: str


def pipeline_args(warehouse: Path, landing: Path) -> list[str]:
    """`recsys run` arguments for the tiny world, shared by the e2e and cluster tests."""
    return ["--config", str(REPO_ROOT / "conf" / "local.yaml"), "--preset", "tiny",
            "--days", str(TINY_DAYS), "--set", f"warehouse.root={warehouse}",
            "--set", f"landing.root={landing}", "--set", "spark.shuffle_partitions=2"]


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> PipelineRun:
    """The whole pipeline on the tiny world, run once per test session in local mode."""
    root = tmp_path_factory.mktemp("tiny-pipeline")
    warehouse, landing = root / "warehouse", root / "landing"
    command = [sys.executable, "-m", "recsys_spark.cli", "run", *pipeline_args(warehouse, landing),
               "--set", "spark.master=local[2]"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
    return PipelineRun(root, warehouse, landing, done.returncode, done.stdout, done.stderr)
