"""Parallel backfills give the serial run's tables; two processes cleaning one date: exactly one
commits, the other exits with the concurrent-writer code."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from recsys_spark import errors
from recsys_spark.clean.order import EarlierRunPendingError
from recsys_spark.commands.run_cmd import run_dates
from recsys_spark.errors import ConfigError, DataQualityError
from recsys_spark.pipeline import run_pipeline
from recsys_spark.settings.clean import QualityConfig
from recsys_spark.tables import TableStore
from tests.clean.helpers import (
    event,
    landing_day,
    line,
    read_table,
    run_clean,
    with_clean,
    write_lines,
)
from tests.conftest import REPO_ROOT
from tests.factories import make_config

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from fingerprints import fingerprint  # noqa: E402  (benchmarks/fingerprints.py)

FIRST = dt.date(2026, 11, 1)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(7)]
# Four days are enough for three parallel runs to commit out of order (each clean run costs
# seconds of the suite; the serial and the parallel backfill clean every day).
BACKFILL = DAYS[:4]


def land_week(config, days: list[dt.date] = DAYS) -> None:
    """Small days where the outcome depends on commit order: each day re-delivers an event of
    the day before (a duplicate only if that day committed first) and carries a late event of
    the day before."""
    for i, day in enumerate(days):
        stamp = f"{day.isoformat()}T09:{{:02d}}:00Z"
        rows = [line(event(100 * i + n, event_time=stamp.format(n))) for n in range(4)]
        if i > 0:
            before = DAYS[i - 1].isoformat()
            rows.append(line(event(100 * (i - 1), event_time=f"{before}T09:00:00Z")))  # re-sent
            rows.append(line(event(100 * i + 50, event_time=f"{before}T23:00:00Z")))   # late
        write_lines(landing_day(config, day) / "p.jsonl.gz", rows)


@pytest.mark.stage
def test_parallel_backfill_equals_the_serial_run(spark, tmp_path):
    serial = make_config(tmp_path / "serial")
    parallel = make_config(tmp_path / "parallel")
    for config in (serial, parallel):
        land_week(config, BACKFILL)
    serial_result = run_pipeline(spark, TableStore(spark, serial.warehouse), serial, BACKFILL,
                                 ["clean"])
    parallel_result = run_pipeline(spark, TableStore(spark, parallel.warehouse), parallel, BACKFILL,
                                   ["clean"], parallel=3)
    assert serial_result.succeeded and parallel_result.succeeded
    for table in ("events", "events_quarantine", "pipeline_runs"):
        want = fingerprint(Path(serial.warehouse.root) / table)
        assert fingerprint(Path(parallel.warehouse.root) / table) == want, table
    # The order mattered: each re-sent event stayed with the day that first ingested it.
    events_df = read_table(spark, parallel, "events")
    assert events_df.count() == len(BACKFILL) * 4 + len(BACKFILL) - 1  # 4 a day, 1 late a day
    assert events_df.where("event_id = 'e0000000000000064'").select("run_date").collect()[0][0] == DAYS[1]


class CleanProcess:
    """`recsys clean` in its own OS process; its stderr is read as it comes."""

    def __init__(self, config_args: list[str], day: dt.date) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "recsys_spark.cli", "clean", *config_args,
             "--run-date", day.isoformat()], cwd=REPO_ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.stderr: list[str] = []
        self.waiting = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for text in self.process.stderr:
            self.stderr.append(text)
            if "waiting for the earlier run dates" in text:
                self.waiting.set()

    def finish(self) -> int:
        code = self.process.wait(timeout=600)
        self.reader.join(timeout=10)
        return code


@pytest.mark.stage
def test_two_processes_clean_one_date_exactly_one_commits(spark, tmp_path):
    config = make_config(tmp_path)
    day, before = DAYS[1], DAYS[0]
    write_lines(landing_day(config, before) / "p.jsonl.gz", [line(event(1, event_time=
                                                                       "2026-11-01T08:00:00Z"))])
    write_lines(landing_day(config, day) / "p.jsonl.gz", [line(event(n)) for n in range(2, 6)])
    args = ["--set", f"warehouse.root={config.warehouse.root}", "--set", "warehouse.backend=delta_rs",
            "--set", f"landing.root={config.landing.root}", "--set", "spark.master=local[1]",
            "--set", "spark.shuffle_partitions=2"]
    # Both runs of `day` start while the day before has landed but is not cleaned: each takes
    # its commit mark, parses, then waits (order.py); cleaning the day before releases both at
    # once, so their commits race for real.
    runs = [CleanProcess(args, day), CleanProcess(args, day)]
    for run in runs:
        assert run.waiting.wait(timeout=300), "".join(run.stderr)
    run_clean(spark, config, before)
    codes = [run.finish() for run in runs]
    # The loser exits 4 (errors.EXIT_CONCURRENT_WRITE: a concurrent writer won, safe to retry).
    assert errors.EXIT_CONCURRENT_WRITE == 4
    assert sorted(codes) == [0, 4], [("".join(r.stderr))[-2000:] for r in runs]
    loser = runs[codes.index(4)]
    # It lost either at clean's own check of the date's transaction or inside the commit itself
    # (both passed the check, then raced in the Delta log); one line either way.
    last = "".join(loser.stderr).strip().splitlines()[-1]
    assert last.startswith("recsys: concurrent write (nothing committed; safe to retry): "
                           "table events: "), last
    assert (f"another attempt of clean for {day} committed" in last
            or f"another writer committed 'events/clean/{day}'" in last), last
    store = TableStore(spark, config.warehouse)
    assert [h.metadata.get("run_date") for h in store.history("events")] == [
        day.isoformat(), before.isoformat()]
    assert read_table(spark, config, "events").where(f"run_date = '{day}'").count() == 4


@pytest.mark.stage
def test_a_run_refuses_to_commit_before_an_earlier_landed_date(spark, tmp_path):
    config = with_clean(make_config(tmp_path), wait_for_earlier_s=0)
    land_week(config)
    day = DAYS[2]
    with pytest.raises(EarlierRunPendingError, match=r"the earlier run dates 2026-11-01, "
                       r"2026-11-02 have landed but are not cleaned \(waited 0 s"):
        run_clean(spark, config, day)
    assert not TableStore(spark, config.warehouse).exists("events")
    # The day before fails a gate: the run after it stops at once (no waiting) and says why.
    run_clean(spark, config, DAYS[0])
    strict = with_clean(config, quality=QualityConfig(max_quarantine_share=0.0,
                                                      min_uniqueness=1.0), wait_for_earlier_s=600)
    write_lines(landing_day(config, DAYS[1]) / "q.jsonl.gz", ["garbage"])
    with pytest.raises(DataQualityError):
        run_clean(spark, strict, DAYS[1])
    with pytest.raises(EarlierRunPendingError, match=r"the earlier run date 2026-11-02 must be "
                       r"cleaned first \(its latest attempt failed: clean: QuarantineShare"):
        run_clean(spark, strict, day)


@pytest.mark.unit
def test_run_dates_from_to(tmp_path):
    config = make_config(tmp_path)

    def args(**given: object) -> argparse.Namespace:
        base = {"from_date": None, "to_date": None, "start_date": None, "days": None}
        return argparse.Namespace(**{**base, **given})

    assert run_dates(config, args(from_date="2026-10-30", to_date="2026-11-02")) == [
        dt.date(2026, 10, 30), dt.date(2026, 10, 31), dt.date(2026, 11, 1), dt.date(2026, 11, 2)]
    with pytest.raises(ConfigError, match="--to 2026-10-01 is before --from 2026-10-31"):
        run_dates(config, args(from_date="2026-10-31", to_date="2026-10-01"))
    with pytest.raises(ConfigError, match="--from and --to go together"):
        run_dates(config, args(from_date="2026-10-31"))
