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
                                      **_extra_from_env()})
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
            "--set", f"landing.root={landing}", "--set", "spark.shuffle_partitions=2",
            # four tiny days leave little labelled history: short splits, one grid point
            "--set", "response.validation_days=1", "--set", "response.test_days=1",
            "--set", "response.reg_params=[0.1]", "--set", "response.elastic_net_params=[0.0]"]


class BackgroundRun:
    """A pipeline started in a subprocess as soon as the suite is collected.

    The e2e and cluster tests need two whole pipeline runs (local mode and a standalone
    cluster). They run in the background while the unit and stage tests run, and those two
    tests are ordered last; their fixtures wait here for the result.
    """

    def __init__(self, root: Path, command: list[str], cleanup=None,
                 env: dict[str, str] | None = None) -> None:
        self.root = root
        self.warehouse, self.landing = root / "warehouse", root / "landing"
        # the child writes to these files for the whole run; closed by the OS at exit
        self._out = open(root / "stdout.txt", "w+")  # noqa: SIM115
        self._err = open(root / "stderr.txt", "w+")  # noqa: SIM115
        self._cleanup = cleanup
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=self._out,
                                        stderr=self._err, text=True, env=env)

    def result(self, timeout: float = 2400) -> PipelineRun:
        try:
            returncode = self.process.wait(timeout=timeout)
        finally:
            self.stop()
        self._out.seek(0)
        self._err.seek(0)
        return PipelineRun(self.root, self.warehouse, self.landing, returncode,
                           self._out.read(), self._err.read())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None


_BACKGROUND: dict[str, BackgroundRun] = {}


def _start_local_run(root: Path) -> BackgroundRun:
    root.mkdir(parents=True)
    command = [sys.executable, "-m", "recsys_spark.cli", "run",
               *pipeline_args(root / "warehouse", root / "landing"), "--set", "spark.master=local[2]"]
    return BackgroundRun(root, command)


def pytest_collection_modifyitems(session, config, items) -> None:
    """Order the tests that need whole pipeline runs last, and start those runs now."""
    # Only tests that use the fixtures need the runs (other e2e tests, e.g. tests/loop, do not).
    needs = {name for item in items for name in ("tiny_pipeline", "cluster_pipeline")
             if name in getattr(item, "fixturenames", ())}
    items.sort(key=lambda item: bool(item.get_closest_marker("e2e") or item.get_closest_marker("cluster")))
    if not needs:
        return
    base = Path(tempfile.mkdtemp(prefix="recsys-pipeline-runs-"))
    _BACKGROUND["local"] = _start_local_run(base / "local")
    if "cluster_pipeline" in needs:
        from tests.cluster.submit import start_cluster_run

        _BACKGROUND["cluster"] = start_cluster_run(base / "cluster", BackgroundRun)


def pytest_sessionfinish(session, exitstatus) -> None:
    for run in _BACKGROUND.values():
        run.stop()


@pytest.fixture(scope="session")
def tiny_pipeline() -> PipelineRun:
    """The whole pipeline on the tiny world in local mode (started in the background)."""
    return _BACKGROUND["local"].result()


@pytest.fixture(scope="session")
def cluster_pipeline() -> PipelineRun:
    """The same pipeline submitted to a standalone cluster on 127.0.0.1 (in the background)."""
    return _BACKGROUND["cluster"].result()
