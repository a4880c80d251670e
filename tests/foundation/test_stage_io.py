"""stage_io: the one way stages read (pinned, pruned, producer hints) and write (spec-driven)."""
from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from recsys_spark.clean.stage import make_clean_stage
from recsys_spark.errors import ConcurrentWriteError, SchemaMismatchError, TableError, UnknownTableError
from recsys_spark.features.stage import run_features
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.settings.clean import QualityConfig
from recsys_spark.settings.features import FeaturesConfig
from recsys_spark.stage_io import DateWindow, Inputs, conform, spec_of, write_metrics, write_output
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import CommitInfo, TableStore
from tests.clean.helpers import RUN_DATE as CLEAN_DAY
from tests.clean.helpers import event as raw_event
from tests.clean.helpers import landing_day, line, run_clean, with_clean, write_lines
from tests.factories import EVENTS_PARTITIONS, event, frame, make_config, nullable_schema, promotion, row
from tests.interference import CommitsBeforeTheFirstWrite

pytestmark = pytest.mark.unit

RUN = dt.date(2026, 11, 10)
OTHER = CommitInfo(run_id="other-writer", stage="test")


@pytest.fixture
def config(tmp_path: Path):
    return make_config(tmp_path)


@pytest.fixture
def store(spark, config) -> TableStore:
    return TableStore(spark, config.warehouse)


def ctx(config, stage: str = "response", day: dt.date = RUN) -> RunContext:
    return RunContext(config=config, run_date=day, stage=stage)


def append_events(spark, store: TableStore, rows: list[dict]) -> int:
    return store.write(frame(spark, "events", rows), "events", "append", OTHER,
                       partition_by=EVENTS_PARTITIONS).version


def scores(spark, rows: list[tuple[str, str, float]]):
    return spark.createDataFrame(rows, "user_id string, promotion_id string, p_response double") \
        .withColumn("model_run_id", F.lit("m1"))


def test_conform_orders_casts_and_stamps_the_run_columns(spark, config):
    df = spark.createDataFrame([(0.5, "p1", "u1", "m", "extra")],
                               "p_response float, promotion_id string, user_id string, "
                               "model_run_id string, junk string")
    run = ctx(config)
    expected = spark.createDataFrame(
        [("u1", "p1", 0.5, "m", run.run_id, RUN)], "user_id string, promotion_id string, "
        "p_response double, model_run_id string, run_id string, run_date date")
    assert_df_equality(conform(df, spec_of("promotion_scores"), run), expected, ignore_nullable=True)
    with pytest.raises(SchemaMismatchError, match="output promotion_scores lacks columns p_response"):
        conform(df.drop("p_response"), spec_of("promotion_scores"), run)


def test_run_partitions_are_replaced_by_a_rerun_and_other_runs_are_kept(spark, store, config):
    day1, day2 = ctx(config, day=RUN), ctx(config, day=RUN + dt.timedelta(days=1))
    report = StageReport()
    write_output(store, day1, report, "promotion_scores", scores(spark, [("u1", "p1", 0.1)]))
    write_output(store, day2, None, "promotion_scores", scores(spark, [("u2", "p1", 0.2)]))
    write_output(store, ctx(config, day=RUN), None, "promotion_scores",
                 scores(spark, [("u3", "p2", 0.3), ("u4", "p2", 0.4)]))
    assert report.outputs == {"promotion_scores": 0}
    expected = spark.createDataFrame(
        [("u3", "p2", 0.3, "m1", day1.run_id, RUN), ("u4", "p2", 0.4, "m1", day1.run_id, RUN),
         ("u2", "p1", 0.2, "m1", day2.run_id, day2.run_date)], nullable_schema("promotion_scores"))
    assert_df_equality(store.read("promotion_scores"), expected, ignore_row_order=True,
                       ignore_nullable=True, ignore_metadata=True)
    history = store.history("promotion_scores")
    assert [h.run_id for h in history] == [day1.run_id, day2.run_id, day1.run_id]


def test_metrics_replace_the_stages_slice_only(spark, store, config):
    write_metrics(store, ctx(config, "als"), None, [{"model": "als", "metric": "ndcg@10", "value": 0.3}])
    write_metrics(store, ctx(config, "similarity"), None, [{"model": "sim", "metric": "ndcg@10", "value": 1}])
    write_metrics(store, ctx(config, "als"), None, [{"model": "als", "metric": "ndcg@10", "value": 0.4,
                                                     "split": "test", "params": {"rank": 8}}])
    got = {(r["stage"], r["model"], r["value"], r["split"], tuple(sorted(r["params"].items())))
           for r in store.read("model_metrics").collect()}
    assert got == {("als", "als", 0.4, "test", (("rank", "8"),)), ("similarity", "sim", 1.0, None, ())}


def test_snapshot_overwrites_append_adds_and_unknown_partitions_are_refused(spark, store, config):
    run = RunContext(config=config, run_date=RUN, stage="clean", attempt=1)
    write_output(store, run, None, "promotions", frame(spark, "promotions", [promotion("p1")]))
    # The same attempt again is a retried commit: skipped (its transaction id is in the log) ...
    write_output(store, run, None, "promotions", frame(spark, "promotions", [promotion("p2")]))
    assert [r["promotion_id"] for r in store.read("promotions").collect()] == ["p1"]
    # ... a later attempt replaces the snapshot.
    rerun = RunContext(config=config, run_date=RUN, stage="clean", attempt=2)
    write_output(store, rerun, None, "promotions", frame(spark, "promotions", [promotion("p2")]))
    assert [r["promotion_id"] for r in store.read("promotions").collect()] == ["p2"]
    ids = spark.createDataFrame([("u1", 0)], "id string, idx long").withColumn("kind", F.lit("user"))
    write_output(store, run, None, "als_id_map", ids)
    write_output(store, run, None, "als_id_map", ids.withColumn("id", F.lit("u2")))
    assert sorted(r["id"] for r in store.read("als_id_map").collect()) == ["u1", "u2"]
    estimates = spark.createDataFrame([], nullable_schema("ope_estimates"))
    with pytest.raises(TableError, match="writing ope_estimates needs the dataset partitions"):
        write_output(store, run, None, "ope_estimates", estimates)


def test_inputs_pin_each_table_at_its_first_read(spark, store, config):
    append_events(spark, store, [event(1, "2026-11-09", "view", "u1", item_id="i1")])
    report = StageReport()
    inputs = Inputs(store, ctx(config), report)
    first = inputs.required("events")
    append_events(spark, store, [event(2, "2026-11-09", "view", "u2", item_id="i1")])
    again = inputs.required("events")
    assert [r["user_id"] for r in first.collect()] == ["u1"]
    assert [r["user_id"] for r in again.collect()] == ["u1"]
    assert report.inputs == {"events": 0}
    assert store.version("events") == 1


def test_a_window_reads_only_its_partitions_files(spark, store, config):
    days = [RUN - dt.timedelta(days=i) for i in range(10)]
    for i, day in enumerate(days):
        append_events(spark, store, [event(i, day.isoformat(), "view", f"u{i}", item_id="i1")])
    report = StageReport()
    window_df = Inputs(store, ctx(config), report).required("events", DateWindow.ending(RUN, 3))
    assert sorted(r["event_date"] for r in window_df.collect()) == days[:3][::-1]
    assert report.files_read == {"events": 3}


def test_latest_run_reads_the_newest_partition_on_or_before_the_run_date(spark, store, config):
    for offset, user in ((-5, "old"), (-2, "mid"), (2, "future")):
        write_output(store, ctx(config, day=RUN + dt.timedelta(days=offset)), None,
                     "promotion_scores", scores(spark, [(user, "p1", 0.5)]))
    report = StageReport()
    inputs = Inputs(store, ctx(config, "bandit"), report)
    assert [r["user_id"] for r in inputs.latest_run("promotion_scores").collect()] == ["mid"]
    assert report.notes["input_run_date.promotion_scores"] == "2026-11-08"
    assert report.files_read == {"promotion_scores": 1}
    earlier = Inputs(store, ctx(config, "bandit", day=RUN - dt.timedelta(days=2)), StageReport())
    assert [r["user_id"] for r in earlier.latest_run("promotion_scores", strictly_before=True)
            .collect()] == ["old"]
    too_early = Inputs(store, ctx(config, "bandit", day=RUN - dt.timedelta(days=9)), StageReport())
    assert too_early.latest_run("promotion_scores") is None
    with pytest.raises(UnknownTableError, match=r"with a run on or before 2026-11-01 .*"
                                                r"run `recsys response --run-date 2026-11-01` first"):
        too_early.latest_run("promotion_scores", required=True)


def test_a_missing_input_names_the_stage_that_writes_it(store, config):
    report = StageReport()
    inputs = Inputs(store, ctx(config, "features"), report)
    with pytest.raises(UnknownTableError, match=r"features stage: input table 'events' does not "
                                                r"exist under .*; run `recsys clean --run-date "
                                                r"2026-11-10` first"):
        inputs.required("events")
    assert inputs.optional("users") is None
    assert report.notes == {"missing_optional_input.users": "not found"}
    assert report.inputs == {}


@pytest.mark.stage
def test_a_stage_records_and_uses_the_version_it_read(spark, config):
    store = CommitsBeforeTheFirstWrite(spark, config.warehouse)
    append_events(spark, store, [
        event(1, "2026-11-09", "view", "u1", item_id="i1", category="a.b"),
        event(2, "2026-11-09", "purchase", "u1", item_id="i1", category="a.b", price=20.0, quantity=1),
        event(3, "2026-11-10", "view", "u2", item_id="i2", category="a.c"),
        event(4, "2026-11-10", "view", "u3", item_id="i2", category="a.c"),
        event(5, "2026-11-10", "add_to_cart", "u3", item_id="i2", category="a.c", price=5.0)])
    store.arm("events", [event(99, "2026-11-10", "view", "u_late", item_id="i1", category="a.b")])
    run_stage(spark, store, ctx(replace(config, features=FeaturesConfig(k=2)), "features"),
              run_features)
    assert store.version("events") == 1
    run = store.read("pipeline_runs").filter(F.col("stage") == "features").first()
    assert dict(run["inputs"]) == {"events": 0}
    assert run["metrics"]["files_read.events"] == 2.0
    users = sorted(r["user_id"] for r in store.read("user_features").collect())
    assert users == ["u1", "u2", "u3"]


def land_two_clean_days(spark, config) -> None:
    """Two raw records on each of two days; cleans the first (events and pipeline_runs v0)."""
    day1 = CLEAN_DAY - dt.timedelta(days=1)
    write_lines(landing_day(config, day1) / "p.jsonl.gz",
                [line(raw_event(n, event_time=f"2026-11-01T08:0{n}:00Z")) for n in (1, 2)])
    write_lines(landing_day(config) / "p.jsonl.gz", [line(raw_event(n)) for n in (3, 4)])
    run_clean(spark, config, day1)


@pytest.mark.stage
def test_clean_records_and_uses_the_versions_it_read(spark, config):
    # The volume gate compares the day with the earlier clean runs in pipeline_runs. Mid-run,
    # another writer records a 100-record run of Oct 31: had clean read it, the median would be
    # 51 and 2 records a breach.
    config = with_clean(config, quality=QualityConfig(volume_min_history=1, max_volume_change=0.5))
    land_two_clean_days(spark, config)
    store = CommitsBeforeTheFirstWrite(spark, config.warehouse)
    store.arm("pipeline_runs", [row("pipeline_runs", run_id="other", run_date=dt.date(2026, 10, 31),
                                    stage="clean", attempt=1, status="succeeded", rows_in=100)])
    report = run_stage(spark, store, RunContext(config, CLEAN_DAY, "clean"), make_clean_stage())
    assert report.quality["Size"] == "pass: 2 records vs median 2 of last 1 runs: +0.0% (max ±50%)"
    run = store.read("pipeline_runs").where(F.col("run_date") == CLEAN_DAY).first()
    # items: clean derives the items dimension and keeps what a catalog import wrote
    assert dict(run["inputs"]) == {"events": 0, "items": 0, "pipeline_runs": 0} and store.late_version == 1


@pytest.mark.stage
def test_another_writers_commit_to_events_mid_clean_is_never_lost(spark, config):
    land_two_clean_days(spark, config)
    store = CommitsBeforeTheFirstWrite(spark, config.warehouse)
    # A backfill's commit: its own run_date partition, which clean's run of CLEAN_DAY never replaces.
    store.arm("events", [event(99, CLEAN_DAY.isoformat(), "view", "u_late", ingested_run_id="other",
                               run_date=CLEAN_DAY - dt.timedelta(days=3))])
    # Refusing to publish is right; publishing without the other writer's row is not.
    with contextlib.suppress(ConcurrentWriteError):
        run_stage(spark, store, RunContext(config, CLEAN_DAY, "clean"), make_clean_stage())
    assert "e000099" in {r["event_id"] for r in store.read("events").collect()}
