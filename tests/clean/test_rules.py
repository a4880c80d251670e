"""One test per defect class: the defect is quarantined with its reason, every good row passes."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from recsys_spark.clean.reader import FileStats, list_input_files, read_lines, with_line_numbers
from recsys_spark.clean.stage import classify, parse_lines
from recsys_spark.settings.clean import CleanConfig, PrivacyConfig
from tests.clean.helpers import RUN_DATE, event, line, write_lines

GOOD = [line(event(1)), line(event(2, event_type="purchase", price=19.9, quantity=2))]


def classify_file(spark: SparkSession, tmp_path: Path, lines: list[str | bytes],
                  config: CleanConfig | None = None, run_date: dt.date = RUN_DATE):
    write_lines(tmp_path / "in" / "part-0.jsonl.gz", lines)
    lines_df = read_lines(spark, list_input_files(str(tmp_path / "in"), (".jsonl.gz",)))
    typed_df = parse_lines(lines_df, "jsonl", config or CleanConfig())
    classified_df = classify(typed_df, run_date, config or CleanConfig(), None)
    return with_line_numbers(classified_df, FileStats.collect(typed_df).offsets_df(spark))


def outcome(classified_df):
    return classified_df.select("line_number", "event_id", "disposition", "reasons")


def expected(spark: SparkSession, defect_rows: list[tuple]):
    good = [(1, "e0000000000000001", "clean", []), (2, "e0000000000000002", "clean", [])]
    return spark.createDataFrame(good + defect_rows,
                                 "line_number long, event_id string, disposition string, "
                                 "reasons array<string>")


LONG_ID = "x" * 257
DEFECTS = {
    "malformed_record": ('{"event_id": "e3", "event_time": ', None, ["malformed_record"]),
    "missing_required": (line(event(3, session_id=None)), "e0000000000000003", ["missing_required"]),
    "missing_quantity": (line(event(3, event_type="purchase", price=5.0)), "e0000000000000003",
                         ["missing_required"]),
    "bad_type": (line(event(3, event_type="add_to_cart", price="abc")), "e0000000000000003",
                 ["bad_type"]),
    "unknown_event_type": (line(event(3, event_type="teleport")), "e0000000000000003",
                           ["unknown_event_type"]),
    "out_of_range": (line(event(3, event_type="purchase", price=-5, quantity=1)),
                     "e0000000000000003", ["out_of_range"]),
    "out_of_range_quantity": (line(event(3, event_type="purchase", price=5, quantity=0)),
                              "e0000000000000003", ["out_of_range"]),
    "future_ts": (line(event(3, event_time="2026-11-03T00:16:00Z")), "e0000000000000003",
                  ["future_ts"]),
    "too_old": (line(event(3, event_time="2026-10-29T23:59:59Z")), "e0000000000000003", ["too_old"]),
    "size_violation": (line(event(3, item_id=LONG_ID)), "e0000000000000003", ["size_violation"]),
    "encoding": (b'{"event_id":"e0000000000000003","event_time":"2026-11-02T10:00:00Z",'
                 b'"event_type":"view","session_id":"s","item_id":"caf\xe9"}',
                 "e0000000000000003", ["encoding"]),
}


# Every defect line goes into one file after the good rows (line numbers 3, 4, ...), classified
# once per module; each test then checks its own defect's row (the machine is small and shared).
DEFECT_ORDER = sorted(DEFECTS)
EDGE_LINES = [line(event(30, event_time="2026-10-30T00:00:00Z")),   # oldest accepted day: late
              line(event(31, event_time="2026-11-03T00:15:00Z")),   # exactly at the tolerance
              GOOD[0]]                                               # a re-delivered duplicate


@pytest.fixture(scope="module")
def defect_rows(spark, tmp_path_factory):
    lines = [*GOOD, *[DEFECTS[d][0] for d in DEFECT_ORDER], *EDGE_LINES]
    classified_df = classify_file(spark, tmp_path_factory.mktemp("defects"), lines)
    return {r["line_number"]: r for r in classified_df.select(
        "line_number", "event_id", "disposition", "reasons", "event_date", "duplicate_of").collect()}


def _row(rows, line_number):
    r = rows[line_number]
    return (r["line_number"], r["event_id"], r["disposition"], r["reasons"])


@pytest.mark.unit
@pytest.mark.parametrize("defect", DEFECT_ORDER)
def test_defect_is_quarantined_with_its_reason(defect_rows, defect):
    line_number = 3 + DEFECT_ORDER.index(defect)
    _raw, event_id, reasons = DEFECTS[defect]
    assert _row(defect_rows, line_number) == (line_number, event_id, "quarantined", reasons)


@pytest.mark.unit
def test_every_good_row_arrives(defect_rows):
    first_edge = 3 + len(DEFECT_ORDER)
    got = sorted((r["line_number"], r["event_id"], r["disposition"], r["reasons"], r["event_date"],
                  r["duplicate_of"])
                 for r in defect_rows.values() if r["disposition"] != "quarantined")
    assert got == [
        (1, "e0000000000000001", "clean", [], RUN_DATE, None),
        (2, "e0000000000000002", "clean", [], RUN_DATE, None),
        (first_edge, f"e{30:016x}", "clean", [], dt.date(2026, 10, 30), None),
        (first_edge + 1, f"e{31:016x}", "clean", [], dt.date(2026, 11, 3), None),
        (first_edge + 2, "e0000000000000001", "duplicate", [], RUN_DATE, "in_run"),
    ]
    assert len(defect_rows) == first_edge + 2


@pytest.mark.unit
def test_bot_traffic_quarantines_every_event_of_the_bot(spark, tmp_path):
    # 61 distinct events of one user within 10:30 (threshold 60) plus one of its events an
    # hour later: all 62 are bot_traffic; a re-delivered copy does not count twice.
    bot = [line(event(100 + i, user_id="bot", event_time=f"2026-11-02T10:30:{i % 60:02d}.{i:03d}Z"))
           for i in range(61)]
    later = line(event(200, user_id="bot", event_time="2026-11-02T11:30:00Z"))
    got_df = outcome(classify_file(spark, tmp_path, [*GOOD, *bot, later]))
    bot_rows = [(3 + i, f"e{100 + i:016x}", "quarantined", ["bot_traffic"]) for i in range(61)]
    assertDataFrameEqual(got_df, expected(spark, [*bot_rows, (64, f"e{200:016x}", "quarantined",
                                                               ["bot_traffic"])]))


@pytest.mark.unit
def test_sixty_events_per_minute_is_not_a_bot(spark, tmp_path):
    # Exactly the threshold, plus 5 re-deliveries of the same ids: still a human.
    human = [line(event(100 + i, user_id="fast", event_time=f"2026-11-02T10:30:{i:02d}Z"))
             for i in range(60)]
    got_df = outcome(classify_file(spark, tmp_path, [*GOOD, *human, *human[:5]]))
    rows = [(3 + i, f"e{100 + i:016x}", "clean", []) for i in range(60)]
    rows += [(63 + i, f"e{100 + i:016x}", "duplicate", []) for i in range(5)]
    assertDataFrameEqual(got_df, expected(spark, rows))


@pytest.mark.unit
def test_schema_drift_extra_fields_and_rename(spark, tmp_path):
    drifted = event(3)
    drifted["userId"] = drifted.pop("user_id")
    drifted.update(app_version="1.2.3", context={"ab": 1}, email="a@b.c", ip="10.0.0.1")
    config = CleanConfig(privacy=PrivacyConfig(allowlisted_pii_fields=("ip",)))
    got_df = classify_file(spark, tmp_path, [line(event(1)), line(drifted)], config).select(
        "line_number", "user_id", "extra", "disposition")
    want = [(1, "u1", {}, "clean"),
            (2, "u0", {"app_version": "1.2.3", "context": '{"ab":1}', "ip": "10.0.0.1"}, "clean")]
    assertDataFrameEqual(got_df, spark.createDataFrame(
        want, "line_number long, user_id string, extra map<string,string>, disposition string"))


@pytest.mark.unit
def test_local_times_use_the_source_time_zone(spark, tmp_path):
    config = CleanConfig(time_zones={"jsonl": "Europe/Berlin"})
    lines = [line(event(1, event_time="2026-11-02T10:00:00")),        # Berlin local (UTC+1)
             line(event(2, event_time="2026-11-02T10:00:00+03:00")),  # offset wins
             line(event(3, event_time="2026-11-02 10:00:00 UTC"))]
    got_df = classify_file(spark, tmp_path, lines, config).select(
        "line_number", F.date_format("event_time", "HH:mm").alias("utc"))
    assert sorted(tuple(r) for r in got_df.collect()) == [(1, "09:00"), (2, "07:00"), (3, "10:00")]


@pytest.mark.unit
def test_clean_config_validation():
    with pytest.raises(ValueError, match="time_zones"):
        CleanConfig(time_zones={"jsonl": "Mars/Base"})
    with pytest.raises(ValueError, match="lookback_days"):
        CleanConfig(lookback_days=-1)
    with pytest.raises(ValueError, match="price_min"):
        CleanConfig(price_min=10.0, price_max=5.0)
    assert replace(CleanConfig(), lookback_days=0).lookback_days == 0
