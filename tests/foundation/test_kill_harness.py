"""The kill harness (benchmarks/kill_harness.py), small: SIGKILL `recsys clean` a few times.

The warehouse starts empty (the benchmark kills on top of a week of history; here each Spark
run costs suite time). The unkilled reference and the reruns run in this process on the
session's Spark with the config the CLI loads (so the run ids and contents match); only the
killed runs are real `recsys clean` processes, killed with their JVM: once at a seeded time
within the stage, once right after its first commit (`events` whole, the other tables not yet).
"""
from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path

import pytest

from recsys_spark.clean.stage import run_clean
from recsys_spark.config import load_config
from recsys_spark.runs import RunContext
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import TableStore
from tests.clean.helpers import event, line, write_lines
from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import kill_harness as kh  # noqa: E402  (benchmarks/kill_harness.py)

pytestmark = pytest.mark.stage
DAY = dt.date(2026, 11, 2)
SETTINGS = ("warehouse.backend=delta_rs", "spark.master=local[1]", "spark.shuffle_partitions=2")
KILL_WINDOW_S = 4.0  # after the stage's start line; the stage's work takes longer than this


def land_day(landing: Path, day: dt.date, first: int) -> None:
    """300 events: views and carts of 30 users, a duplicate and a bad record among them."""
    stamp = f"{day.isoformat()}T{{:02d}}:{{:02d}}:00Z"
    events = [event(n, event_time=stamp.format(8 + n % 12, n % 60), user_id=f"u{n % 30}",
                    session_id=f"s{n % 30}", event_type=("view", "add_to_cart")[n % 2],
                    price=10.0 + n % 7, quantity=1)
              for n in range(first, first + 298)]
    lines = [line(e) for e in events] + [line(events[0]), "{not json"]
    write_lines(landing / "events" / f"date={day.isoformat()}" / "part-0.jsonl.gz", lines)


def clean_in_process(spark, warehouse: Path, landing: Path, day: dt.date) -> None:
    config = load_config(REPO_ROOT / "conf" / "local.yaml",
                         [*SETTINGS, f"warehouse.root={warehouse}", f"landing.root={landing}"])
    store = TableStore(spark, config.warehouse)
    run_stage(spark, store, RunContext(config=config, run_date=day, stage="clean"), run_clean)


def test_killed_clean_runs_leave_whole_tables_and_reruns_converge(spark, tmp_path):
    landing, before_dir, after_dir = tmp_path / "landing", tmp_path / "before", tmp_path / "after"
    land_day(landing, DAY, 1)
    before_dir.mkdir()
    clean_in_process(spark, after_dir, landing, DAY)
    before, after = kh.snapshot(before_dir), kh.snapshot(after_dir)
    assert before == {} and set(after) >= {"events", "events_quarantine", "pipeline_runs"}

    env = kh.scratch_env(tmp_path / "scratch")
    rng = random.Random(24)

    def kill(kill_after_s: float, on_commit: str | None = None) -> kh.KillResult:
        return kh.kill_once("clean", DAY.isoformat(), before_dir, tmp_path / "trial", landing,
                            before, after, kill_after_s, env, SETTINGS,
                            rerun=lambda warehouse: clean_in_process(spark, warehouse, landing, DAY),
                            kill_on_commit=on_commit)

    results = [kill(rng.uniform(0.0, KILL_WINDOW_S)), kill(0.0, on_commit="events")]

    report = [(r.trigger, round(r.kill_after_s, 2), r.new_tables, r.orphans) for r in results]
    assert [r.finished_first for r in results] == [False, False], report
    # killed between commits: events whole and new, the tables after it not created yet
    assert "events" in results[1].new_tables and "pipeline_runs" not in results[1].new_tables, report
    assert [(r.unreadable, r.partial) for r in results] == [([], [])] * 2, report
    assert all(r.runs_honest and r.converged for r in results), report
    assert [(r.orphans_left, r.unlogged_left, r.vacuum_kept_content) for r in results] == [
        (0, 0, True)] * 2, report
