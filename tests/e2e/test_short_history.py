"""Too little history is an input too: three simulated days through every stage succeed, the
response stage publishes its per-promotion baseline, and the bandit serves from it.

(Before: `recsys run --preset tiny --days 3` stopped at the response stage with "not enough
labelled promo impressions to train ... train: 0 rows".) Runs the pipeline in this process on
the session's Spark, without the report, to keep it to about a minute and a half.
"""
from __future__ import annotations

import datetime as dt

import pytest

from recsys_spark.commands.decisions import decision_lines
from recsys_spark.pipeline import run_pipeline, select_stages
from recsys_spark.simulate.testing import TINY_START, write_tiny_world
from recsys_spark.tables import TableStore
from tests.factories import make_config

pytestmark = pytest.mark.e2e

DAYS = 3


def test_three_days_run_every_stage_and_publish_the_baselines(spark, tmp_path):
    config = make_config(tmp_path)
    write_tiny_world(spark, config.landing.root, days=DAYS)
    store = TableStore(spark, config.warehouse)
    dates = [TINY_START + dt.timedelta(days=i) for i in range(DAYS)]
    result = run_pipeline(spark, store, config, dates, select_stages())

    assert result.succeeded, [o.error for o in result.outcomes if o.error]
    assert [o.stage for o in result.outcomes] == ["clean"] * DAYS + [
        "features", "similarity", "als", "response", "bandit", "readout"]
    reports = {o.stage: o.report for o in result.outcomes if o.stage != "clean"}
    response = reports["response"]
    assert response.notes["published"] == "baseline_promotion_rate"
    assert "not enough labelled promo impressions" in response.notes["decision"]
    (line,) = decision_lines("response", response)
    assert line.startswith("response: published baseline_promotion_rate — response: not enough")
    # the rankings still chose on their one-day windows (train day 1, validation 2, test 3) or
    # said why they could not; either way each published something and recorded it
    for stage, task in (("features", "categories"), ("similarity", "neighbours"), ("als", "items")):
        assert reports[stage].notes[f"{task}.published"], stage
    scores = store.read("promotion_scores").count()
    served = store.read("user_promotions").filter("NOT is_holdout").count()
    assert scores > 0 and served > 0
