"""Cost of a delta-rs commit write against plain `df.write.parquet` of the same rows.

Usage: python benchmarks/bench_delta_write.py [--rows 1000000] [--repeats 3]
Prints the best wall time of each and the ratio (commit overhead). Never part of the tests.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from pyspark.sql import functions as F

from recsys_spark.settings.core import SparkConfig, WarehouseConfig
from recsys_spark.spark import build_spark_session
from recsys_spark.tables import CommitInfo, TableStore


def make_rows(spark, rows: int):
    """Event-like rows: ids, a timestamp, a date partition (30 days), strings and numbers."""
    return (spark.range(rows)
            .withColumn("user_id", F.concat(F.lit("u"), (F.col("id") % 50_000).cast("string")))
            .withColumn("item_id", F.concat(F.lit("i"), (F.xxhash64("id") % 5_000).cast("string")))
            .withColumn("event_time",
                        F.timestamp_seconds(F.lit(1_790_000_000) + F.col("id") % 2_592_000))
            .withColumn("event_date", F.to_date("event_time"))
            .withColumn("price", (F.col("id") % 10_000) / 100.0)
            .withColumn("event_type",
                        F.element_at(F.array(*[F.lit(t) for t in ("view", "click", "purchase")]),
                                     (F.col("id") % 3 + 1).cast("int"))))


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-delta-"))
    spark = build_spark_session(SparkConfig(master="local[2]", shuffle_partitions=4), "bench-delta",
                                str(scratch))
    store = TableStore(spark, WarehouseConfig(root=str(scratch / "wh"), backend="delta_rs"))
    source_df = make_rows(spark, args.rows).repartition(4).cache()
    source_df.count()
    counter = {"n": 0}

    def plain_parquet() -> None:
        counter["n"] += 1
        source_df.write.partitionBy("event_date").parquet(str(scratch / f"plain{counter['n']}"))

    def delta_commit() -> None:
        counter["n"] += 1
        store.write(source_df, f"bench{counter['n']}", "append", CommitInfo("bench", "bench"),
                    partition_by=["event_date"])

    plain_parquet()  # warm-up: JIT and file system caches
    parquet_s = best_of(args.repeats, plain_parquet)
    delta_s = best_of(args.repeats, delta_commit)
    read_s = best_of(args.repeats, lambda: store.read(f"bench{counter['n']}").agg(F.sum("price")).collect())
    print(f"rows: {args.rows:,} (30 date partitions, 4 input partitions, local[2])")
    print(f"plain df.write.parquet      : {parquet_s:7.2f} s")
    print(f"delta-rs commit write       : {delta_s:7.2f} s")
    print(f"commit overhead ratio       : {delta_s / parquet_s:7.2f}x")
    print(f"read back + aggregate (delta): {read_s:7.2f} s")
    spark.stop()
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
