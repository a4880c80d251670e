"""The clean stage on the simulator's tiny world, scored against its ground truth of defects."""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from recsys_spark.settings.clean import QualityConfig
from tests.clean.helpers import read_table, run_clean, with_clean
from tests.factories import make_config

simulate_testing = pytest.importorskip("recsys_spark.simulate.testing")
simulate_truth = pytest.importorskip("recsys_spark.simulate.truth")

# Ground-truth defect class -> the reason the clean stage must give.
EXPECTED_REASON = {
    "malformed": "malformed_record", "missing_required": "missing_required",
    "unknown_event_type": "unknown_event_type", "future_timestamp": "future_ts",
    "epoch_timestamp": "too_old", "invalid_utf8": "encoding", "wrong_type": "bad_type",
    "bad_price": "out_of_range", "bot_traffic": "bot_traffic",
}


@pytest.mark.stage
def test_tiny_world_day_one_matches_ground_truth(spark, tmp_path):
    config = with_clean(make_config(tmp_path), quality=QualityConfig(enabled=False))
    world = simulate_testing.write_tiny_world(spark, config.landing.root, days=1)
    day = world.start_date
    report = run_clean(spark, config, day)

    truth_df = (simulate_truth.read_truth(spark, config.landing.root, "defects")
                .where(F.col("arrival_date") == day))
    mapping = F.create_map(*[F.lit(x) for kv in EXPECTED_REASON.items() for x in kv])
    want = sorted((r["file"], r["line"], r["reason"]) for r in truth_df.where(
        F.col("defect_class").isin(*EXPECTED_REASON)).select(
        "file", "line", mapping[F.col("defect_class")].alias("reason")).collect())
    prefix = f"{config.landing.root}/"
    got = sorted((r["source_file"].removeprefix(prefix), r["line_number"], ",".join(r["reasons"]))
                 for r in read_table(spark, config, "events_quarantine").collect())
    assert got == want
    duplicates = truth_df.where(F.col("defect_class") == "duplicate").count()
    assert report.metrics["duplicates_in_run"] == duplicates
    assert report.metrics["records_in"] == (report.metrics["clean"] + report.metrics["quarantined"]
                                            + report.metrics["duplicates"])
    events_df = read_table(spark, config, "events")
    assert events_df.count() == events_df.select("event_id").distinct().count()
