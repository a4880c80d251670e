"""Start and stop a real HDFS mini-cluster (one namenode, one datanode) on 127.0.0.1.

The cluster is Hadoop's own ``MiniDFSCluster`` from the shaded ``hadoop-client-minicluster`` jar
(pinned in jars.lock with purpose ``hdfs-test``, fetched by ``make jars``), at the Hadoop version
pyspark bundles, run by Java's single-file source launcher (tests/cluster/MiniHdfs.java) in a JVM
of its own, so none of its classes reach Spark's classpath.
"""
from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pyspark

from recsys_spark import delta_jars

JAR_PURPOSE = "hdfs-test"  # its jars.lock purpose: fetched, never on the Spark classpath
LAUNCHER = Path(__file__).with_name("MiniHdfs.java")
MINICLUSTER = "hadoop-client-minicluster"
# What the shaded mini-cluster needs beside itself, all shipped in pyspark's jars/ folder: the
# Hadoop client (its API and shaded third-party runtime) and the logging bridges.
PYSPARK_JARS = ("hadoop-client-api", "hadoop-client-runtime", "slf4j-api", "log4j-slf4j2-impl",
                "log4j-api", "log4j-core", "jcl-over-slf4j")
START_TIMEOUT_S = 180.0


class HdfsStartError(RuntimeError):
    """The mini-cluster could not start; the message says why and where its log is."""


def _minicluster_jar() -> Path:
    jars = delta_jars.pinned_jars(JAR_PURPOSE)
    if not jars or len(jars) != 1 or not jars[0].name.startswith(f"{MINICLUSTER}-"):
        raise HdfsStartError(f"the {MINICLUSTER} jar pinned in jars.lock ({JAR_PURPOSE}) is not in "
                             f"{delta_jars.jars_dir()} with its SHA-256: run `make jars`")
    return jars[0]


def _pyspark_jar(prefix: str) -> Path:
    folder = Path(pyspark.__file__).resolve().parent / "jars"
    found = sorted(p for p in folder.glob(f"{prefix}-[0-9]*.jar"))
    if len(found) != 1:
        raise HdfsStartError(f"expected one {prefix} jar in {folder}, found {len(found)}")
    return found[0]


def classpath() -> str:
    """The mini-cluster jar plus pyspark's Hadoop client jars, which must be the same version."""
    jar = _minicluster_jar()
    bundled = _pyspark_jar("hadoop-client-api")
    version = jar.name.removeprefix(f"{MINICLUSTER}-").removesuffix(".jar")
    if not bundled.name.endswith(f"-{version}.jar"):
        raise HdfsStartError(f"{jar.name} does not match pyspark's {bundled.name}: pin the "
                             f"{MINICLUSTER} version pyspark bundles in jars.lock")
    return os.pathsep.join([str(jar), *(str(_pyspark_jar(p)) for p in PYSPARK_JARS)])


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java:
        raise HdfsStartError("java is not installed (the HDFS mini-cluster needs a JDK 17)")
    return java


def _read_ready_line(process: subprocess.Popen, log_path: Path, timeout: float) -> str:
    """The namenode URI from the launcher's "READY hdfs://..." line."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            if line.startswith("READY "):
                return line.split(" ", 1)[1].strip()
            if not line:  # the JVM closed stdout: it exited
                break
    tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
    state = f"exited with {process.poll()}" if process.poll() is not None else "not ready"
    raise HdfsStartError(f"HDFS mini-cluster {state} after {timeout:.0f} s; log {log_path}:\n{tail}")


def _stop(process: subprocess.Popen) -> None:
    """Close its stdin (it shuts down on end-of-file); escalate only if it does not."""
    with contextlib.suppress(OSError):
        if process.stdin is not None:
            process.stdin.close()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


@contextlib.contextmanager
def mini_hdfs(work: Path) -> Iterator[str]:
    """Yield the namenode URI (``hdfs://127.0.0.1:<port>``) of a fresh mini-cluster whose data
    lives under ``work``; it is stopped on exit, also when the body fails. It also stops by
    itself when this process dies, since its stdin is a pipe from this process."""
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "hdfs.log"
    command = [_java(), "-Xmx512m", "-cp", classpath(), str(LAUNCHER), str(work / "data")]
    with open(log_path, "w") as log:  # the child keeps its own handle
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=log, text=True, start_new_session=True)
    try:
        yield _read_ready_line(process, log_path, START_TIMEOUT_S)
    finally:
        _stop(process)
