"""One session-scoped SparkSession for the whole suite (local[2], 2 shuffle partitions, AQE off,
UI off, the pinned Delta jars of `make jars` on its classpath so both table backends run)."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from recsys_spark.settings.core import SparkConfig
from recsys_spark.spark import build_spark_session
from tests.background import RUNS_DIR_ENV, BackgroundRun, PipelineRun, claim, wait_for

REPO_ROOT = Path(__file__).resolve().parents[1]


def _extra_from_env() -> dict[str, str]:
    raw = os.environ.get("RECSYS_TEST_SPARK_CONF", "")
    return dict(item.split("=", 1) for item in raw.split(",") if "=" in item)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    scratch = tempfile.mkdtemp(prefix="recsys-spark-tests-")
    spark_config = SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="2g",
                               checkpoint_dir=os.path.join(scratch, "checkpoints"),
                               extra={"spark.local.dir": os.path.join(scratch, "local"),
                                      "spark.sql.warehouse.dir": os.path.join(scratch, "sql"),
                                      # On test-sized data every adaptive query stage is one more
                                      # job: measured 26% less wall time on the ALS id-map and
                                      # features tests. The background `recsys run`s keep the
                                      # product default (AQE on), so both settings stay tested.
                                      "spark.sql.adaptive.enabled": "false",
                                      **_extra_from_env()})
    # "native" puts the pinned Delta jars on spark.jars (tests of the native backend fail with
    # "run make jars" when they are missing); tables stay on delta_rs unless a test asks.
    session = build_spark_session(spark_config, "recsys-tests", scratch, delta_backend="native")
    yield session
    session.stop()
    shutil.rmtree(scratch, ignore_errors=True)


# Seven days: the response model then has ~5 days of labelled impressions to train on (with 4 it
# had ~1 and did not beat the per-promotion rate on the tiny world).
TINY_DAYS = 7


def pipeline_args(warehouse: Path, landing: Path) -> list[str]:
    """`recsys run` arguments for the tiny world, shared by the e2e and cluster tests."""
    return ["--config", str(REPO_ROOT / "conf" / "local.yaml"), "--preset", "tiny",
            "--days", str(TINY_DAYS), "--set", f"warehouse.root={warehouse}",
            "--set", f"landing.root={landing}", "--set", "spark.shuffle_partitions=2",
            # seven tiny days leave little labelled history: short splits, one grid point
            "--set", "response.validation_days=1", "--set", "response.test_days=1",
            "--set", "response.reg_params=[0.1]", "--set", "response.elastic_net_params=[0.0]"]


_OWNED: dict[str, BackgroundRun] = {}


def pytest_configure(config) -> None:
    """The controller (or the only process) makes the folder the background runs share."""
    if not hasattr(config, "workerinput"):
        os.environ[RUNS_DIR_ENV] = tempfile.mkdtemp(prefix="recsys-pipeline-runs-")


def _start_local_run(root: Path) -> BackgroundRun:
    command = [sys.executable, "-m", "recsys_spark.cli", "run",
               *pipeline_args(root / "warehouse", root / "landing"), "--set", "spark.master=local[2]",
               # the cluster run commits with delta-spark: this one with delta-rs, so the cluster
               # test compares the two backends on the whole pipeline
               "--set", "warehouse.backend=delta_rs"]
    return BackgroundRun(root, command)


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: start only runs a selected test needs
def pytest_collection_modifyitems(session, config, items) -> None:
    """Order the tests that need whole pipeline runs last, and start those runs now."""
    if config.option.collectonly:  # nothing runs: starting the runs would only delay the exit
        return
    # Only tests that use the fixtures need the runs (other e2e tests, e.g. the loop CLI, do not).
    needs = {name for item in items for name in ("tiny_pipeline", "cluster_pipeline")
             if name in getattr(item, "fixturenames", ())}
    items.sort(key=lambda item: bool(item.get_closest_marker("e2e") or item.get_closest_marker("cluster")))
    if "tiny_pipeline" in needs and (root := claim("local")) is not None:
        _OWNED["local"] = _start_local_run(root)
    if "cluster_pipeline" in needs and (root := claim("cluster")) is not None:
        from tests.cluster.submit import start_cluster_run

        _OWNED["cluster"] = start_cluster_run(root, BackgroundRun)


def pytest_sessionfinish(session, exitstatus) -> None:
    for run in _OWNED.values():
        run.finish(kill=exitstatus == pytest.ExitCode.INTERRUPTED)
    if not hasattr(session.config, "workerinput") and exitstatus == pytest.ExitCode.OK:
        shutil.rmtree(os.environ[RUNS_DIR_ENV], ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_pipeline() -> PipelineRun:
    """The whole pipeline on the tiny world in local mode (started in the background)."""
    return wait_for("local")


@pytest.fixture(scope="session")
def cluster_pipeline() -> PipelineRun:
    """The same pipeline submitted to a standalone cluster on 127.0.0.1 (in the background)."""
    return wait_for("cluster")
