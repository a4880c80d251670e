"""Too little labelled history is an input too: the response stage publishes the per-promotion
baseline (rates shrunk toward the global rate), says so, and succeeds."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import functions as F

from recsys_spark.errors import UnknownTableError
from recsys_spark.response.rescore import SCORING_STAGE, run_response_scoring
from recsys_spark.response.stage import run_response
from recsys_spark.runs import RunContext
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import TableStore
from tests.factories import event, make_config, promotion, write_rows

pytestmark = pytest.mark.stage

RUN_DATE = dt.date(2026, 11, 3)


def _log():
    """One day of impressions (11-01, labelled by the end of 11-03): p1 shown to u1..u4 and
    clicked by u1 and u2; p2 shown to u1 and u2, never clicked; p3 never shown."""
    rows = [event(f"i1{u}", "2026-11-01 10:00", "promo_impression", f"u{u}", promotion_id="p1")
            for u in range(1, 5)]
    rows += [event(f"c1{u}", "2026-11-01 10:05", "promo_click", f"u{u}", promotion_id="p1")
             for u in (1, 2)]
    rows += [event(f"i2{u}", "2026-11-01 11:00", "promo_impression", f"u{u}", promotion_id="p2")
             for u in (1, 2)]
    rows += [event(f"v{u}", "2026-11-02 09:00", "view", f"u{u}", item_id="i1", category="home.x")
             for u in range(1, 5)]
    return rows


def test_too_little_history_publishes_the_shrunk_promotion_rates(spark, tmp_path):
    config = make_config(tmp_path)
    store = TableStore(spark, config.warehouse)
    write_rows(spark, store, "events", _log())
    write_rows(spark, store, "promotions", [promotion(p) for p in ("p1", "p2", "p3")])
    write_rows(spark, store, "users", [{"user_id": f"u{u}", "run_id": "clean-run"} for u in range(1, 5)])
    ctx = RunContext(config, RUN_DATE, "response")

    report = run_stage(spark, store, ctx, run_response)   # succeeds: no DataQualityError

    # s = 10 pseudo-impressions around the global rate g = 2 / 6
    g, s = 2 / 6, 10.0
    rates = {"p1": (2 + s * g) / (4 + s), "p2": (0 + s * g) / (2 + s), "p3": g}
    expected_df = spark.createDataFrame(
        [(f"u{u}", p, rate, ctx.run_id) for u in range(1, 5) for p, rate in rates.items()],
        "user_id string, promotion_id string, p_response double, model_run_id string")
    got_df = (store.read("promotion_scores").filter(F.col("run_date") == RUN_DATE)
              .select("user_id", "promotion_id", "p_response", "model_run_id"))
    assert_approx_df_equality(got_df, expected_df, 1e-12, ignore_row_order=True, ignore_nullable=True)

    assert report.notes["published"] == "baseline_promotion_rate"
    assert report.notes["decision"].startswith("response: not enough labelled promo impressions")
    assert "published baseline_promotion_rate instead" in report.notes["decision"]
    assert report.metrics["published_is_baseline"] == 1.0
    (published,) = store.read("model_metrics").filter("model = 'published'").collect()
    assert (published["metric"], published["value"]) == ("auc_roc", None)
    assert published["params"]["candidate"] == "baseline_promotion_rate"

    # No model was saved, so scoring-only has nothing to reuse and says how to get one.
    with pytest.raises(UnknownTableError, match="no trained response model on or before"):
        run_response_scoring(spark, store, RunContext(config, RUN_DATE, SCORING_STAGE))
