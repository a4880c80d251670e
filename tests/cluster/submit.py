"""Submit the tiny world's simulator and pipeline to a fresh standalone cluster writing to a
fresh HDFS, in the background.

HDFS mini-cluster (namenode + datanode) and Spark standalone master + worker all run on
127.0.0.1; the driver and the executors see no shared local folder, only ``hdfs://``. The run
uses the native Delta backend (delta-spark from the pinned jars, shipped with ``--jars``). When
it ends, the worker and master stop first (their cores go back to the suite), the warehouse and
landing folders are copied out of HDFS into the run folder for the test to compare, and HDFS
stops.
"""
from __future__ import annotations

import contextlib
import shlex
import shutil
import sys
import time
import traceback
from pathlib import Path

import pyarrow.fs as pafs

from recsys_spark import delta_jars
from recsys_spark.filesystems import arrow_filesystem
from tests.cluster.hdfs import HdfsStartError, mini_hdfs
from tests.cluster.standalone import cluster_env, standalone_cluster
from tests.conftest import REPO_ROOT, pipeline_args

# Written by the cleanup: where the run's data lived, how long HDFS took to start, and any
# failure to copy the tables out (the test reports it instead of a missing folder).
HDFS_URI_FILE = "hdfs_uri.txt"
HDFS_START_FILE = "hdfs_start_s.txt"
COPY_ERROR_FILE = "hdfs_copy_error.txt"
# Hadoop client settings of the driver and executors: one datanode, so one replica.
HADOOP_CONF = {"spark.hadoop.dfs.replication": "1"}


def build_py_files(target: Path) -> Path:
    """The zip `make package` builds for --py-files."""
    return Path(shutil.make_archive(str(target / "recsys_spark"), "zip", str(REPO_ROOT), "recsys_spark"))


def session_jars() -> list[Path]:
    """The pinned Delta jars (``make jars``): what a cluster user passes with ``--jars``.

    Raises:
        FileNotFoundError: a jar is missing or does not match its SHA-256.
    """
    jars = delta_jars.pinned_jars()
    if jars is None:
        raise FileNotFoundError(f"the Delta jars of jars.lock are not in {delta_jars.jars_dir()} "
                                "with their SHA-256: run `make jars`")
    return jars


def copy_out(hdfs_uri: str, root: Path, parts: tuple[str, ...] = ("warehouse", "landing")) -> None:
    """Copy ``<hdfs_uri>/<part>`` to ``root/<part>`` for each part (what `hdfs dfs -get` does)."""
    local = pafs.LocalFileSystem()
    for part in parts:
        fs, path = arrow_filesystem(f"{hdfs_uri}/{part}")
        (root / part).mkdir(parents=True, exist_ok=True)
        pafs.copy_files(path, str(root / part), source_filesystem=fs, destination_filesystem=local)


def _copy_out_recording_errors(hdfs_uri: str, root: Path) -> None:
    try:
        copy_out(hdfs_uri, root)
    except Exception:  # the test reads the file and fails with this traceback
        (root / COPY_ERROR_FILE).write_text(traceback.format_exc())


def submit_commands(master_url: str, py_files: Path, hdfs_uri: str) -> list[list[str]]:
    """Two spark-submits with warehouse and landing on HDFS and the native backend: the
    simulator lands the raw logs (`recsys run` simulates only into a local landing folder; on
    a cluster the producers land the data), then the whole pipeline runs on them."""
    spark_submit = str(Path(sys.executable).parent / "spark-submit")
    confs = [arg for key, value in HADOOP_CONF.items() for arg in ("--conf", f"{key}={value}")]
    submit = [spark_submit, "--master", master_url, "--deploy-mode", "client",
              "--driver-memory", "2g", "--executor-memory", "2g", "--total-executor-cores", "2",
              "--conf", f"spark.pyspark.python={sys.executable}", *confs,
              # the session builder adds Delta's SQL extension and catalog when --jars names it
              "--jars", ",".join(str(j) for j in session_jars()), "--py-files", str(py_files)]
    args = [*pipeline_args(f"{hdfs_uri}/warehouse", f"{hdfs_uri}/landing"),
            "--set", "warehouse.backend=native"]
    return [[*submit, str(REPO_ROOT / "jobs" / job), *args]
            for job in ("simulate.py", "run_pipeline.py")]


def start_cluster_run(root: Path, background_run):
    """Start HDFS, then master + worker, on 127.0.0.1 and spark-submit jobs/simulate.py, then
    jobs/run_pipeline.py.

    ``root`` exists (claimed by tests/background.py). Returns a BackgroundRun whose cleanup stops
    the cluster, copies the tables out of HDFS and stops HDFS as soon as the run ends (also when
    it fails). A cluster that cannot start (jars missing, a daemon not coming up) is not raised
    here, at collection, where it would stop the whole suite: the run then fails with that one
    line as its stderr, and the cluster test reports it.
    """
    stack = contextlib.ExitStack()
    try:
        started = time.monotonic()
        hdfs_uri = stack.enter_context(mini_hdfs(root / "hdfs"))
        (root / HDFS_START_FILE).write_text(f"{time.monotonic() - started:.1f}")
        (root / HDFS_URI_FILE).write_text(hdfs_uri)
        # Exit callbacks run last-in first-out: Spark stops, then the copy, then HDFS.
        stack.callback(_copy_out_recording_errors, hdfs_uri, root)
        master_url = stack.enter_context(standalone_cluster(root / "cluster"))
        commands = submit_commands(master_url, build_py_files(root), hdfs_uri)
        command = ["bash", "-c", " && ".join(shlex.join(c) for c in commands)]
        # spark-submit finds SPARK_HOME with `python3` from PATH unless it is set: use the
        # pyspark install of this interpreter, as the cluster daemons do.
        return background_run(root, command, cleanup=stack.close, env=cluster_env(root))
    except (HdfsStartError, OSError) as exc:  # OSError: FileNotFoundError, TimeoutError
        stack.close()
        return background_run(root, [sys.executable, "-c", "import sys; sys.exit(sys.argv[1])",
                                     f"the test cluster did not start: {exc}"])
    except BaseException:
        stack.close()
        raise
