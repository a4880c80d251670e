"""The clean stage end to end on Delta in tmp_path: whole tables, conservation, late events,
idempotent reruns, the empty day, a gate breach and concurrent writers."""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from recsys_spark.clean.publish import events_commit_mark, write_events
from recsys_spark.clean.reader import CleanInputError
from recsys_spark.clean.stage import EmptyInputError
from recsys_spark.errors import ConcurrentWriteError, DataQualityError
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.settings.clean import QualityConfig
from recsys_spark.tables import TableStore
from tests.clean.helpers import (
    RUN_DATE,
    event,
    landing_day,
    line,
    read_table,
    run_clean,
    table_rows,
    with_clean,
    write_lines,
)
from tests.factories import make_config

DAY_BEFORE = RUN_DATE - dt.timedelta(days=1)
LENIENT = QualityConfig(max_quarantine_share=0.5)


def eid(n: int) -> str:
    return f"e{n:016x}"


def land_two_days(config) -> None:
    before = landing_day(config, DAY_BEFORE)
    write_lines(before / "part-0.jsonl.gz",
                [line(event(n, event_time=f"2026-11-01T08:0{n}:00Z")) for n in (1, 2, 3)])
    day = landing_day(config)
    write_lines(day / "part-0.jsonl.gz", [
        line(event(10)),                                            # line 1
        line(event(11)),                                            # 2
        line(event(12, event_time="2026-11-01T20:00:00Z")),         # 3 late, within lookback
        line(event(1, event_time="2026-11-01T08:01:00Z")),          # 4 re-delivered from day 1
        line(event(10)),                                            # 5 duplicate within the run
        "garbage {",                                                # 6 malformed
        line(event(13, event_time="2026-10-20T00:00:00Z")),         # 7 too old
    ])
    write_lines(day / "part-1.jsonl.gz", [
        b'{"event_id":"bad-utf8","event_time":"2026-11-02T10:00:00Z","event_type":"view",'
        b'"session_id":"s","item_id":"\xff\xfe"}',                 # 1 encoding
        line(event(14)),                                            # 2
    ])
    (day / "part-2.jsonl.gz").write_bytes(b"this is not gzip data")  # unreadable as a whole
    write_lines(day / "part-3.jsonl.gz", [])                        # empty file


@pytest.mark.stage
def test_day_with_every_kind_of_row_then_three_identical_reruns(spark, tmp_path):
    config = with_clean(make_config(tmp_path), quality=LENIENT)
    land_two_days(config)
    run_clean(spark, config, DAY_BEFORE)
    report = run_clean(spark, config)

    events_df = read_table(spark, config, "events").select("event_id", "event_date", "ingested_run_id")
    run_1 = f"{DAY_BEFORE:%Y%m%d}-{config.fingerprint()}"
    run_2 = f"{RUN_DATE:%Y%m%d}-{config.fingerprint()}"
    want_events = [(eid(1), DAY_BEFORE, run_1), (eid(2), DAY_BEFORE, run_1), (eid(3), DAY_BEFORE, run_1),
                   (eid(12), DAY_BEFORE, run_2),      # late event joined its partition, nothing lost
                   (eid(10), RUN_DATE, run_2), (eid(11), RUN_DATE, run_2), (eid(14), RUN_DATE, run_2)]
    assertDataFrameEqual(events_df, spark.createDataFrame(
        want_events, "event_id string, event_date date, ingested_run_id string"))

    day = landing_day(config)
    quarantine_df = read_table(spark, config, "events_quarantine").select(
        "source_file", "line_number", "reasons", "event_id", "run_id")
    want_quarantine = [
        (f"{day}/part-0.jsonl.gz", 6, ["malformed_record"], None, run_2),
        (f"{day}/part-0.jsonl.gz", 7, ["too_old"], eid(13), run_2),
        (f"{day}/part-1.jsonl.gz", 1, ["encoding"], "bad-utf8", run_2),
        (f"{day}/part-2.jsonl.gz", None, ["malformed_record"], None, run_2),
    ]
    assertDataFrameEqual(quarantine_df, spark.createDataFrame(
        want_quarantine, "source_file string, line_number long, reasons array<string>, "
                         "event_id string, run_id string"))
    raw_texts = {r["line_number"]: r["raw_record"] for r in
                 read_table(spark, config, "events_quarantine").collect()}
    assert raw_texts[6] == "garbage {" and "\ufffd\ufffd" in raw_texts[1]

    # Conservation, hand-counted: 10 records = 4 clean + 4 quarantined + 2 duplicates.
    m = report.metrics
    assert (m["records_in"], m["clean"], m["quarantined"], m["duplicates_in_run"],
            m["duplicates_existing"], m["late_accepted"], m["late_rejected"],
            m["unreadable_files"], m["input_files"]) == (10, 4, 4, 1, 1, 1, 1, 1, 4)
    assert report.notes["touched_event_dates"] == "2026-11-01,2026-11-02"

    def snapshot() -> dict[str, str]:
        return {t: hashlib.sha256("\n".join(table_rows(spark, config, t)).encode()).hexdigest()
                for t in ("events", "events_quarantine")}

    first = snapshot()
    run_clean(spark, config)
    run_clean(spark, config)
    assert snapshot() == first
    events_all = read_table(spark, config, "events")
    assert events_all.count() == events_all.select("event_id").distinct().count() == 7
    runs_df = read_table(spark, config, "pipeline_runs").where(F.col("run_date") == RUN_DATE)
    assert sorted(r["status"] for r in runs_df.collect()) == ["succeeded"] * 3
    assert sorted(r["rows_in"] for r in runs_df.collect()) == [10, 10, 10]


@pytest.mark.stage
def test_gate_breach_commits_nothing(spark, tmp_path):
    config = with_clean(make_config(tmp_path), quality=LENIENT)
    land_two_days(config)
    run_clean(spark, config, DAY_BEFORE)
    store = TableStore(spark, config.warehouse)
    before = {t: store.version(t) for t in ("events", "events_quarantine")}
    strict = with_clean(config, quality=QualityConfig(max_quarantine_share=0.1))
    with pytest.raises(DataQualityError, match=r"QuarantineShare 0\.4000 \(max 0\.1\)"):
        run_clean(spark, strict)
    assert {t: store.version(t) for t in before} == before
    failed = read_table(spark, config, "pipeline_runs").where(F.col("status") == "failed").collect()
    assert len(failed) == 1 and "nothing was committed" in failed[0]["error"]


@pytest.mark.stage
def test_volume_gate_against_previous_runs(spark, tmp_path):
    quality = QualityConfig(volume_min_history=1, max_volume_change=0.5)
    config = with_clean(make_config(tmp_path), quality=quality)
    write_lines(landing_day(config, DAY_BEFORE) / "p.jsonl.gz",
                [line(event(n, event_time="2026-11-01T08:00:00Z")) for n in range(1, 7)])
    write_lines(landing_day(config) / "p.jsonl.gz", [line(event(20))])
    run_clean(spark, config, DAY_BEFORE)
    with pytest.raises(DataQualityError, match=r"Size 1 records vs median 6"):
        run_clean(spark, config)


@pytest.mark.stage
def test_empty_day_fails_unless_allowed_then_is_a_recorded_no_op(spark, tmp_path):
    config = make_config(tmp_path)
    write_lines(landing_day(config) / "part-0.jsonl.gz", [])
    with pytest.raises(EmptyInputError, match=r"clean 2026-11-02: no input records under \S+ "
                       r"\(1 files, 0 blank lines\); nothing was committed \(if the day is really "
                       r"empty, rerun with --allow-empty\)"):
        run_clean(spark, config)
    report = run_clean(spark, config, allow_empty=True)
    assert report.notes["empty_input"] == "true" and report.metrics["records_in"] == 0
    store = TableStore(spark, config.warehouse)
    assert not store.exists("events") and not store.exists("events_quarantine")
    rows = read_table(spark, config, "pipeline_runs").orderBy("attempt").collect()
    assert [(r["status"], r["rows_in"]) for r in rows] == [("failed", 0), ("succeeded", 0)]
    with pytest.raises(CleanInputError, match="input not found"):
        run_clean(spark, config, RUN_DATE + dt.timedelta(days=1))


@pytest.mark.stage
def test_concurrent_attempts_of_one_date_cannot_both_commit(spark, tmp_path):
    config = make_config(tmp_path)
    write_lines(landing_day(config) / "p.jsonl.gz", [line(event(1))])
    run_clean(spark, config)
    store = TableStore(spark, config.warehouse)
    version = store.version("events")
    rows_df = read_table(spark, config, "events")
    # An attempt that began before the last commit of its date (its mark: nothing committed
    # yet) is refused.
    late_ctx = RunContext(config=config, run_date=RUN_DATE, stage="clean")
    with pytest.raises(ConcurrentWriteError, match="another attempt of clean for 2026-11-02"):
        write_events(store, late_ctx, StageReport(), rows_df, [RUN_DATE], None)
    # An older attempt of the same run date finishing after a newer one commits nothing either.
    old_ctx = replace(late_ctx, attempt=1)
    with pytest.raises(ConcurrentWriteError, match="another attempt"):
        write_events(store, old_ctx, StageReport(), rows_df.limit(0), [RUN_DATE],
                     events_commit_mark(store, old_ctx))
    assert store.version("events") == version
    assert read_table(spark, config, "events").count() == 1
