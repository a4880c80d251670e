"""Clean-stage throughput against its text -> Parquet floor, Spark jobs per run, and memory.

    .venv/bin/python benchmarks/bench_clean.py --size tiny|1m|10m [--workdir DIR] [--master local[2]]

Generates the simulator's world for the size (tiny: seconds; bench-1m: ~1M events over 7 days;
bench-10m: ~10M), then in one Spark session (default 2g driver) measures
1. the floor: read the same raw files as text and write them as plain Parquet (no logic);
2. the clean stage over all days at once (delta-rs backend; --input = the events folder);
Prints the stage time, the floor time and their ratio (stage / floor), the Spark jobs the stage
ran, and peak memory: the JVM's peak resident set (VmHWM) with its anonymous and file-backed
parts at their peaks (RssAnon / RssFile, sampled), and the Python driver's peak. Figures only;
nothing is asserted.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from deltalake import DeltaTable  # noqa: E402
from memory import jvm_peak_rss_mb, process_tree  # noqa: E402  (benchmarks/memory.py)

from recsys_spark.clean.reader import list_input_files  # noqa: E402
from recsys_spark.clean.stage import make_clean_stage  # noqa: E402
from recsys_spark.config import AppConfig  # noqa: E402
from recsys_spark.runs import RunContext  # noqa: E402
from recsys_spark.settings.clean import CleanConfig, QualityConfig  # noqa: E402
from recsys_spark.settings.core import LandingConfig, SparkConfig, WarehouseConfig  # noqa: E402
from recsys_spark.settings.simulate import SimulatorConfig  # noqa: E402
from recsys_spark.simulate.api import generate  # noqa: E402
from recsys_spark.spark import build_spark_session  # noqa: E402
from recsys_spark.stage_runner import run_stage  # noqa: E402
from recsys_spark.tables import TableStore  # noqa: E402


class JvmRssPeaks:
    """Peak RssAnon / RssFile of the driver JVM, sampled every 0.5 s in a thread."""

    def __init__(self) -> None:
        self.peaks = {"RssAnon:": 0.0, "RssFile:": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for pid in process_tree(os.getpid())[1:]:
                try:
                    with open(f"/proc/{pid}/status") as fh, open(f"/proc/{pid}/cmdline", "rb") as cmd:
                        status, command = fh.read(), cmd.read(200).decode("latin1")
                except OSError:
                    continue
                if "java" not in command:
                    continue
                for line in status.splitlines():
                    key = line.split(" ", 1)[0].split("\t", 1)[0]
                    if key in self.peaks:
                        self.peaks[key] = max(self.peaks[key], int(line.split()[1]) / 1024)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return self.peaks


PRESETS = {"tiny": ("tiny", 2), "1m": ("bench-1m", 7), "10m": ("bench-10m", 7)}
START = dt.date(2026, 11, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(PRESETS), default="tiny")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--daily", action="store_true",
                        help="also clean day by day into a second warehouse (per-run times)")
    args = parser.parse_args()
    preset, days = PRESETS[args.size]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-clean-"))
    landing, warehouse, floor_out = work / "landing", work / "warehouse", work / "floor"
    shutil.rmtree(warehouse, ignore_errors=True)
    shutil.rmtree(floor_out, ignore_errors=True)
    spark_config = SparkConfig(master=args.master, shuffle_partitions=8, driver_memory="2g")
    spark = build_spark_session(spark_config, "bench-clean", str(work))
    cores = spark.sparkContext.defaultParallelism
    if not (landing / "events").is_dir():
        started = time.perf_counter()
        generate(spark, SimulatorConfig.from_preset(preset), str(landing), START, days, 7)
        print(f"generated {preset} x {days} days in {time.perf_counter() - started:.1f} s")

    files = [f.path for f in list_input_files(str(landing / "events"), (".jsonl.gz",))]
    spark.read.text(files).count()  # warm the page cache for both measurements alike
    started = time.perf_counter()
    spark.read.text(files).write.parquet(str(floor_out))
    floor_s = time.perf_counter() - started
    lines = spark.read.parquet(str(floor_out)).count()

    last_day = START + dt.timedelta(days=days - 1)
    clean = CleanConfig(lookback_days=days + 2, quality=QualityConfig(enabled=False))
    config = AppConfig(warehouse=WarehouseConfig(root=str(warehouse), backend="delta_rs"),
                       landing=LandingConfig(root=str(landing)), spark=spark_config)
    config = replace(config, clean=clean)
    store = TableStore(spark, config.warehouse)
    rss = JvmRssPeaks()
    spark.sparkContext.setJobGroup("bench-clean", "the clean stage")
    started = time.perf_counter()
    report = run_stage(spark, store, RunContext(config, last_day, "clean"),
                       make_clean_stage("jsonl", str(landing / "events")))
    clean_s = time.perf_counter() - started
    jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup("bench-clean"))
    peaks = rss.stop()
    records = int(report.metrics["records_in"])

    floor_rate = lines / floor_s / cores
    clean_rate = records / clean_s / cores
    python_peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"size={args.size} preset={preset} days={days} cores={cores} files={len(files)} "
          f"driver_memory={spark_config.driver_memory}")
    print(f"floor  (text -> parquet): {lines:,} lines in {floor_s:.1f} s = {floor_rate:,.0f} lines/s/core")
    print(f"clean  (delta_rs)       : {records:,} records in {clean_s:.1f} s = "
          f"{clean_rate:,.0f} events/s/core (clean {int(report.metrics['clean']):,}, "
          f"quarantined {int(report.metrics['quarantined']):,}, "
          f"duplicates {int(report.metrics['duplicates']):,})")
    print(f"ratio clean/floor       : {clean_s / floor_s:.1f}x the floor's time "
          f"(rate ratio {clean_rate / floor_rate:.3f})")
    print(f"spark jobs in the stage : {jobs}")
    steps = {k.removeprefix("seconds_"): v for k, v in report.metrics.items() if k.startswith("seconds_")}
    if steps:
        print("where the time went     : " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
    print(f"peak driver memory      : python {python_peak_mib:,.0f} MiB, "
          f"jvm {jvm_peak_rss_mb() or 0:,.0f} MiB (peak RssAnon {peaks['RssAnon:']:,.0f} MiB, "
          f"RssFile {peaks['RssFile:']:,.0f} MiB)")
    if store.exists("events"):
        print(f"events data files       : {len(DeltaTable(store.uri('events')).file_uris())}")
    if args.daily:
        _daily_runs(spark, config, landing, work / "warehouse-daily", days)
    spark.stop()


def _daily_runs(spark, config: AppConfig, landing: Path, warehouse: Path, days: int) -> None:
    """One clean run per landed day (the production pattern): each run's time and the events
    files it leaves; a run writes only its own (event_date, run_date) partitions."""
    shutil.rmtree(warehouse, ignore_errors=True)
    daily = replace(config, warehouse=WarehouseConfig(root=str(warehouse), backend="delta_rs"),
                    clean=replace(config.clean, lookback_days=3))
    store = TableStore(spark, daily.warehouse)
    total = 0.0
    for i in range(days):
        day = START + dt.timedelta(days=i)
        if not (landing / "events" / f"date={day.isoformat()}").is_dir():
            continue
        started = time.perf_counter()
        report = run_stage(spark, store, RunContext(daily, day, "clean"), make_clean_stage("jsonl"))
        seconds = time.perf_counter() - started
        total += seconds
        steps = ", ".join(f"{k.removeprefix('seconds_')} {v:.1f}" for k, v in report.metrics.items()
                          if k.startswith("seconds_"))
        print(f"daily run {day}: {int(report.metrics['records_in']):,} records in {seconds:.1f} s "
              f"({steps}), touched {report.notes.get('touched_event_dates')}")
    print(f"daily runs total        : {total:.1f} s; events data files "
          f"{len(DeltaTable(store.uri('events')).file_uris())}")


if __name__ == "__main__":
    main()
