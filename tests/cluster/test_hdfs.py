"""The driver's file work and the delta-rs commit backend on a real HDFS (mini-cluster on
127.0.0.1): pyarrow's own HDFS client needs libhdfs and a JVM in the Python process, so both go
through delta-rs' Rust HDFS client (recsys_spark.filesystems)."""
from __future__ import annotations

import datetime as dt
import gzip

import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from recsys_spark.clean.reader import InputFile, list_input_files
from recsys_spark.filesystems import arrow_filesystem
from recsys_spark.settings.core import WarehouseConfig
from recsys_spark.simulate.landing import Landing
from recsys_spark.tables import CommitInfo, TableStore

pytestmark = pytest.mark.cluster

D1, D2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
SCHEMA = "id long, name string, day date"


def test_landing_files_on_hdfs_write_list_read_move_and_delete(hdfs_uri: str):
    landing = Landing.open(f"{hdfs_uri}/landing_fs/")
    assert (landing.root, landing.fs_root) == (f"{hdfs_uri}/landing_fs", "landing_fs")
    payload = gzip.compress(b'{"a": 1}\n' * 1000, mtime=0)
    landing.write_bytes("events/date=2026-01-01/part-1.jsonl.gz", payload)
    landing.write_bytes("events/date=2026-01-01/_SUCCESS", b"")
    landing.write_bytes("events/date=2026-01-02/part-2.jsonl.gz", b"")
    landing.fs.move(landing.path("events/date=2026-01-02/part-2.jsonl.gz"),
                    landing.path("events/date=2026-01-02/part-3.jsonl.gz"))

    assert landing.list_files("events") == ["events/date=2026-01-01/_SUCCESS",
                                            "events/date=2026-01-01/part-1.jsonl.gz",
                                            "events/date=2026-01-02/part-3.jsonl.gz"]
    assert landing.read_bytes("events/date=2026-01-01/part-1.jsonl.gz") == payload
    # What the clean stage hands Spark: full URIs, markers skipped, sizes from HDFS.
    assert list_input_files(landing.uri("events"), (".jsonl.gz",)) == [
        InputFile(f"{hdfs_uri}/landing_fs/events/date=2026-01-01/part-1.jsonl.gz", len(payload)),
        InputFile(f"{hdfs_uri}/landing_fs/events/date=2026-01-02/part-3.jsonl.gz", 0)]
    landing.delete("events/date=2026-01-01")
    assert landing.list_files("events") == ["events/date=2026-01-02/part-3.jsonl.gz"]


def test_delta_rs_backend_commits_and_reads_on_hdfs(spark: SparkSession, hdfs_uri: str):
    store = TableStore(spark, WarehouseConfig(root=f"{hdfs_uri}/warehouse_rs", backend="delta_rs"))
    first = spark.createDataFrame([(1, "a", D1), (2, None, D1), (3, "c", D2)], SCHEMA)
    store.write(first, "things", "overwrite", CommitInfo(run_id="run-1", stage="test"),
                partition_by=["day"])
    replacement = spark.createDataFrame([(10, "x", D1)], SCHEMA)
    result = store.write(replacement, "things", "overwrite", CommitInfo(run_id="run-2", stage="test"),
                         replace_partitions={"day": [D1]})

    assert (result.version, result.files_added, result.rows_written) == (1, 1, 1)
    expected = spark.createDataFrame([(10, "x", D1), (3, "c", D2)], SCHEMA)
    assert_df_equality(store.read("things"), expected, ignore_row_order=True)
    assert_df_equality(store.read("things", version=0), first, ignore_row_order=True)
    assert [(h.version, h.run_id) for h in store.history("things")] == [(1, "run-2"), (0, "run-1")]
    assert store.list_tables() == ["things"]
    # The log and every live data file are on HDFS, where any Delta reader finds them.
    table_uri = f"{hdfs_uri}/warehouse_rs/things"
    live = DeltaTable(table_uri).file_uris()
    assert len(live) == 2 and all(u.startswith(f"{table_uri}/") for u in live)
    fs, path = arrow_filesystem(table_uri)
    assert all(fs.get_file_info(u[len(hdfs_uri) + 1:]).size > 0 for u in live)
    assert path == "warehouse_rs/things"
