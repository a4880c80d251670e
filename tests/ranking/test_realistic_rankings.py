"""Issue 21's bar on a scaled-down `realistic` world (mostly views, heavy-tailed items, hundreds of
leaf categories, repeat-category behaviour, drifting taste): every published ranking is at least
the best baseline on its test window, and the category blend beats the user's own history by
>= 10% NDCG@10 there. The measured table is printed (pytest -s) and noted in docs/rankings.md.

Opt-in (RECSYS_REALISTIC_RANKINGS=1): the three stages on this world took ~12 minutes on the
shared 2-core machine, far over the suite's budget. Two bars of issue 21 are NOT met yet and are
strict xfails with the measured figures, so the day they pass the suite says so.
"""
from __future__ import annotations

import datetime as dt
import os

import pytest
from pyspark.sql import functions as F

from recsys_spark.als.stage import run_als
from recsys_spark.features.stage import run_features
from recsys_spark.runs import RunContext
from recsys_spark.settings.als import AlsConfig
from recsys_spark.settings.features import FeaturesConfig
from recsys_spark.settings.similarity import SimilarityConfig
from recsys_spark.similarity.stage import run_similarity
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import TableStore
from tests.factories import make_config
from tests.ranking.realistic_world import START, write_realistic_events

pytestmark = [pytest.mark.stage,
              pytest.mark.skipif(not os.environ.get("RECSYS_REALISTIC_RANKINGS"),
                                 reason="opt-in (RECSYS_REALISTIC_RANKINGS=1): ~12 min on 2 shared cores")]

DAYS = 8
RUN_DATE = START + dt.timedelta(days=DAYS - 1)
SIZES = dict(n_users=1500, n_items=12000, files_per_day=1, generation_partitions=2)
TOP_N = 20
BLEND_MARGIN = 1.10     # the category blend's test NDCG@10 >= 1.1 x own history's


@pytest.fixture(scope="module")
def metrics(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("realistic_rankings")
    config = make_config(
        tmp,
        features=FeaturesConfig(windows_days=(DAYS,), k=4, category_top_n=TOP_N, category_als_rank=8,
                                category_als_max_iter=5),
        similarity=SimilarityConfig(lookback_days=DAYS),
        als=AlsConfig(window_days=DAYS, rank=8, max_iter=5, num_user_blocks=2, num_item_blocks=2))
    store = TableStore(spark, config.warehouse)
    write_realistic_events(spark, store, tmp, DAYS, **SIZES)
    for stage, fn in (("features", run_features), ("similarity", run_similarity), ("als", run_als)):
        run_stage(spark, store, RunContext(config, RUN_DATE, stage), fn)
    rows = store.read("model_metrics").collect()
    per_user = (store.read("user_category_affinity").groupBy("user_id").count()
                .agg(F.max("count").alias("most"), F.count("*").alias("users")).first())
    return rows, per_user


def _table(rows, stage):
    figures = {(r["model"], r["split"]): (r["value"], r["params"]["role"]) for r in rows
               if r["stage"] == stage and r["metric"] == "ndcg@10" and r["model"] != "published"}
    (published,) = [r for r in rows if r["stage"] == stage and r["model"] == "published"]
    return figures, published


@pytest.mark.parametrize("stage", [
    "features",
    # measured: validation chose als (0.0623 vs repeat_items 0.0461), whose test figure 0.0433
    # is below repeat_items' 0.0512: a choice on validation does not guarantee the test window
    pytest.param("als", marks=pytest.mark.xfail(strict=True, reason="issue 21: als < repeat_items on test")),
    "similarity"])
def test_published_ranking_is_at_least_the_best_baseline_on_test(metrics, stage):
    rows, _ = metrics
    figures, published = _table(rows, stage)
    print(f"\n{stage}: published {published['params']['candidate']} ({published['params']['reason']})")
    for (model, split), (value, role) in sorted(figures.items()):
        print(f"  {model:<24} {role:<9} {split:<11} ndcg@10 {value:.4f}")
    baselines = [v for (m, s), (v, role) in figures.items() if s == "test" and role == "baseline"]
    assert published["split"] == "test" and published["value"] is not None
    assert published["value"] >= max(baselines), (published["params"]["candidate"], figures)


# measured: blend test 0.4112 vs own_history 0.4250 (validation 0.3364 vs 0.3671): not met yet
@pytest.mark.xfail(strict=True, reason="issue 21: the category blend does not beat own history yet")
def test_category_blend_beats_own_history_by_ten_percent(metrics):
    rows, per_user = metrics
    figures, _ = _table(rows, "features")
    blend, own = figures[("blend", "test")][0], figures[("own_history", "test")][0]
    assert blend >= BLEND_MARGIN * own, (blend, own)
    # never a users x categories product: at most category_top_n rows per user
    assert per_user["most"] == TOP_N and per_user["users"] >= 1000
