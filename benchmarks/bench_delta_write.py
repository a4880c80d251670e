"""Cost of a Delta write and read on each backend against plain Parquet of the same rows.

Usage: python benchmarks/bench_delta_write.py [--rows 1000000] [--repeats 3] [--daily-runs 30]
Prints the best wall time of plain Parquet, the delta-rs commit backend and the native
(delta-spark) backend, writing and then reading back (+ one aggregate), and their ratios to
plain Parquet. Needs the pinned jars (`make jars`) for the native figure. Never part of the tests.
"""
from __future__ import annotations

import argparse
import datetime as dt
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


def daily_runs_file_counts(spark, store: TableStore, days: int, rows_per_day: int,
                           tasks: int) -> tuple[int, int]:
    """Files of a per-run table after ``days`` daily runs, each replacing its run_date
    partition from ``tasks`` Spark tasks (as a stage does), then after `recsys optimize`."""
    first = dt.date(2026, 11, 1)
    for day in range(days):
        run_date = first + dt.timedelta(days=day)
        day_df = (spark.range(rows_per_day).repartition(tasks)
                  .withColumn("user_id", F.concat(F.lit("u"), F.col("id").cast("string")))
                  .withColumn("score", F.rand(day)).withColumn("run_date", F.lit(run_date)))
        store.write(day_df, "daily", "overwrite", CommitInfo(f"run-{day}", "bench"),
                    partition_by=["run_date"], replace_partitions={"run_date": [run_date.isoformat()]})
    result = store.optimize("daily", CommitInfo("optimize", "optimize"))
    return result.files_before, result.files_after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--daily-runs", type=int, default=0,
                        help="also count a per-run table's files after this many daily runs, "
                             "before and after compaction (0: skip)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-delta-"))
    spark = build_spark_session(SparkConfig(master="local[2]", shuffle_partitions=4), "bench-delta",
                                str(scratch), delta_backend="native")
    stores = {backend: TableStore(spark, WarehouseConfig(root=str(scratch / backend),
                                                         backend=backend))  # type: ignore[arg-type]
              for backend in ("delta_rs", "native")}
    source_df = make_rows(spark, args.rows).repartition(4).cache()
    source_df.count()
    counter = {"n": 0}

    def plain_parquet() -> None:
        counter["n"] += 1
        source_df.write.partitionBy("event_date").parquet(str(scratch / f"plain{counter['n']}"))

    def delta_write(backend: str) -> None:
        counter["n"] += 1
        stores[backend].write(source_df, f"bench{counter['n']}", "append",
                              CommitInfo("bench", "bench"), partition_by=["event_date"])

    def read_back(backend: str) -> None:
        store = stores[backend]
        last = store.list_tables()[-1]
        store.read(last).agg(F.sum("price")).collect()

    plain_parquet()  # warm-up: JIT and file system caches
    delta_write("native")  # warm-up: delta-spark's classes
    parquet_s = best_of(args.repeats, plain_parquet)
    deltars_s = best_of(args.repeats, lambda: delta_write("delta_rs"))
    native_s = best_of(args.repeats, lambda: delta_write("native"))
    print(f"rows: {args.rows:,} (30 date partitions, 4 input partitions, local[2], "
          f"best of {args.repeats})")
    print(f"plain df.write.parquet          : {parquet_s:7.2f} s   1.00x")
    print(f"delta-rs commit backend write   : {deltars_s:7.2f} s   {deltars_s / parquet_s:4.2f}x")
    print(f"native delta-spark write        : {native_s:7.2f} s   {native_s / parquet_s:4.2f}x")
    # The read floor: the same rows as plain Parquet, partition columns found by Spark itself.
    floor_s = best_of(args.repeats, lambda: spark.read.parquet(str(scratch / "plain1"))
                      .agg(F.sum("price")).collect())
    print(f"read + aggregate, plain Parquet : {floor_s:7.2f} s   1.00x")
    for backend in ("delta_rs", "native"):
        read_s = best_of(args.repeats, lambda b=backend: read_back(b))
        print(f"read + aggregate, {backend:13s}: {read_s:7.2f} s   {read_s / floor_s:4.2f}x")
    for backend in ("delta_rs", "native") if args.daily_runs else ():
        before, after = daily_runs_file_counts(spark, stores[backend], args.daily_runs,
                                               rows_per_day=10_000, tasks=8)
        print(f"{backend}: {args.daily_runs} daily runs (8 writing tasks each): {before} files, "
              f"{after} after recsys optimize")
    spark.stop()
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
