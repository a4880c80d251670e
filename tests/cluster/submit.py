"""Submit the tiny pipeline to a fresh standalone cluster, in the background."""
from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

from tests.cluster.standalone import cluster_env, standalone_cluster
from tests.conftest import REPO_ROOT, pipeline_args


def build_py_files(target: Path) -> Path:
    """The zip `make package` builds for --py-files."""
    return Path(shutil.make_archive(str(target / "recsys_spark"), "zip", str(REPO_ROOT), "recsys_spark"))


def start_cluster_run(root: Path, background_run):
    """Start master + worker on 127.0.0.1 and spark-submit jobs/run_pipeline.py to them.

    ``root`` exists (claimed by tests/background.py). Returns a BackgroundRun whose cleanup stops
    the cluster as soon as the run ends (also when it fails).
    """
    stack = contextlib.ExitStack()
    master_url = stack.enter_context(standalone_cluster(root / "cluster"))
    try:
        py_files = build_py_files(root)
        spark_submit = str(Path(sys.executable).parent / "spark-submit")
        command = [spark_submit, "--master", master_url, "--deploy-mode", "client",
                   "--driver-memory", "2g", "--executor-memory", "2g",
                   "--total-executor-cores", "2",
                   "--conf", f"spark.pyspark.python={sys.executable}",
                   "--py-files", str(py_files), str(REPO_ROOT / "jobs" / "run_pipeline.py"),
                   *pipeline_args(root / "warehouse", root / "landing")]
        # spark-submit finds SPARK_HOME with `python3` from PATH unless it is set: use the
        # pyspark install of this interpreter, as the cluster daemons do.
        return background_run(root, command, cleanup=stack.close, env=cluster_env(root))
    except BaseException:
        stack.close()
        raise
