"""The one place a SparkSession is made (CLI, jobs, tests). Nothing here runs at import time."""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from pyspark.sql import SparkSession

from recsys_spark import delta_jars
from recsys_spark.paths import join_uri
from recsys_spark.settings.core import SparkConfig

log = logging.getLogger(__name__)

# Settings every stage relies on, whatever the environment.
BASE_SETTINGS: Mapping[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.ansi.enabled": "true",
    # delta-spark and delta-rs read UTC-adjusted INT64 timestamps; INT96 is legacy.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # No _SUCCESS markers inside Delta table folders.
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.extraJavaOptions": "-Dlog4j2.level=ERROR",
}


def is_master_preset() -> bool:
    """True when spark-submit (or the environment) already chose a master.

    Under spark-submit the JVM is started first and hands its gateway port to the Python
    driver; its SparkConf then holds --master, which the builder must not override.
    """
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT") or os.environ.get("SPARK_MASTER")
                or _submit_conf().get("spark.master"))


def _submit_conf() -> dict[str, str]:
    # spark-submit passes its --conf/--master through this variable to the Python driver.
    raw = os.environ.get("PYSPARK_SUBMIT_ARGS", "")
    out: dict[str, str] = {}
    parts = raw.split()
    for i, part in enumerate(parts):
        if part == "--master" and i + 1 < len(parts):
            out["spark.master"] = parts[i + 1]
    return out


def _submitted_conf(key: str) -> str:
    """A setting of the JVM spark-submit started (only call under spark-submit: elsewhere
    SparkConf() would launch a JVM before our settings are known)."""
    from pyspark import SparkConf, SparkContext

    # Before a SparkContext exists SparkConf() is an empty Python dict; connecting to the
    # gateway spark-submit started (no context is made) lets it read the JVM's --jars/--packages.
    SparkContext._ensure_initialized()
    return SparkConf().get(key, "") or ""


def delta_settings(backend: str, master: str) -> dict[str, str]:
    """Session settings for the native Delta backend: the pinned jars on ``spark.jars`` plus
    Delta's SQL extension and catalog, when ``backend`` is native or auto and the jars exist.

    Under spark-submit the JVM already runs with the user's ``--jars``/``--packages``: nothing
    is added to the classpath, and the SQL settings only when those name delta-spark. {} when
    the backend is delta_rs or no jars are found (auto then falls back to delta-rs).
    """
    if backend == "delta_rs":
        return {}
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        submitted = ",".join(_submitted_conf(k) for k in ("spark.jars", "spark.jars.packages"))
        return dict(delta_jars.DELTA_SQL_SETTINGS) if "delta-spark" in submitted else {}
    jars = delta_jars.pinned_jars()
    if jars is None:
        log.warning("no pinned Delta jars in %s (make jars); warehouse.backend %s %s",
                    delta_jars.jars_dir(), backend,
                    "will fail" if backend == "native" else "falls back to delta-rs")
        return {}
    settings = {"spark.jars": ",".join(str(j) for j in jars), **delta_jars.DELTA_SQL_SETTINGS}
    if master.startswith("local"):
        # Delta replays its log in 50 tasks by default: pure overhead for one machine's tables.
        settings["spark.databricks.delta.snapshotPartitions"] = "2"
    return settings


def build_spark_session(spark_config: SparkConfig, app_name: str, warehouse_root: str,
                        extra: Mapping[str, str] | None = None, *,
                        delta_backend: str = "auto") -> SparkSession:
    """Create (or return the active) SparkSession configured for this project.

    The master from config applies only when spark-submit did not set one. The UI stays off
    for batch runs unless config turns it on, and then binds to 127.0.0.1. ``delta_backend``
    (``warehouse.backend``) decides whether the Delta jars and SQL settings are added
    (see delta_settings); settings in ``spark_config.extra`` and ``extra`` win over them.
    """
    builder = SparkSession.builder.appName(app_name)
    if not is_master_preset():
        builder = builder.master(spark_config.master)
    settings = dict(BASE_SETTINGS)
    settings["spark.sql.shuffle.partitions"] = str(spark_config.shuffle_partitions)
    settings["spark.driver.memory"] = spark_config.driver_memory
    settings["spark.ui.enabled"] = "true" if spark_config.ui_enabled else "false"
    if spark_config.ui_enabled:
        settings["spark.driver.bindAddress"] = "127.0.0.1"
        settings["spark.driver.host"] = "127.0.0.1"
    if not is_master_preset():
        # Python workers must run the interpreter (venv) that has our dependencies; PySpark
        # reads this variable when the context starts and would otherwise use `python3` on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    master = "" if is_master_preset() else spark_config.master
    delta = delta_settings(delta_backend, master)
    settings.update(delta)
    settings.update(spark_config.extra)
    settings.update(extra or {})
    if "spark.jars" in delta and settings["spark.jars"] != delta["spark.jars"]:
        # a user's own spark.jars adds to ours rather than dropping Delta from the classpath
        settings["spark.jars"] = ",".join(dict.fromkeys(
            j for j in (settings["spark.jars"] + "," + delta["spark.jars"]).split(",") if j))
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(spark_config.log_level)
    checkpoint_dir = join_uri(warehouse_root, spark_config.checkpoint_dir)
    session.sparkContext.setCheckpointDir(checkpoint_dir)
    log.info("spark session %s (master %s, %s shuffle partitions, Delta settings %s)", app_name,
             session.sparkContext.master, spark_config.shuffle_partitions,
             "on" if delta else "off")
    return session
