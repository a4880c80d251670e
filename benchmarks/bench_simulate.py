"""Simulator throughput: events generated per second per core, and peak driver memory.

    .venv/bin/python benchmarks/bench_simulate.py --preset bench-1m [--days 7] [--cores 2]

Prints figures; asserts nothing. bench-10m needs minutes on 2 cores and a few GB of disk.
Peak driver memory: max RSS of the Python driver and peak RSS (VmHWM) of the driver JVM, which
in local mode also runs the executors.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import resource
import shutil
import sys
import tempfile
import time

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from memory import jvm_peak_rss_mb  # noqa: E402  (benchmarks/memory.py)

from recsys_spark.settings.core import SparkConfig  # noqa: E402
from recsys_spark.simulate import SimulatorConfig, generate  # noqa: E402
from recsys_spark.spark import build_spark_session  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="bench-1m")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--n-users", type=int, default=None, help="override the preset's users")
    parser.add_argument("--keep", action="store_true", help="keep the landing folder")
    args = parser.parse_args()
    # The simulator logs each step's seconds at INFO: the per-step breakdown of the figure.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("recsys_spark.simulate").setLevel(logging.INFO)
    scratch = tempfile.mkdtemp(prefix="bench-simulate-")
    spark = build_spark_session(SparkConfig(master=f"local[{args.cores}]",
                                            shuffle_partitions=max(2, args.cores * 2),
                                            driver_memory="3g",
                                            extra={"spark.local.dir": f"{scratch}/local"}),
                                "recsys-bench-simulate", scratch)
    overrides = {"n_users": args.n_users} if args.n_users else {}
    cfg = SimulatorConfig.from_preset(args.preset, **overrides)
    started = time.perf_counter()
    summary = generate(spark, cfg, f"{scratch}/landing", dt.date(2026, 11, 1), args.days, seed=1)
    seconds = time.perf_counter() - started
    jvm_mb = jvm_peak_rss_mb()
    spark.stop()
    py_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"preset            {cfg.preset} ({cfg.n_users} users, {cfg.n_items} items, "
          f"{cfg.n_promotions} promotions, {args.days} days)")
    print(f"events            {summary.events:,} ({summary.lines:,} lines in {summary.files} files)")
    print(f"wall seconds      {seconds:.1f} (everything: events, catalog, ground truth)")
    print(f"events/s/core     {summary.events / seconds / args.cores:,.0f} on {args.cores} cores")
    print(f"peak driver RSS   python {py_mb:,.0f} MB; JVM {jvm_mb if jvm_mb is None else round(jvm_mb)} MB")
    print(f"load average      {os.getloadavg()[0]:.1f} (other processes share the cores)")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        print(f"landing           {scratch}/landing")


if __name__ == "__main__":
    main()
