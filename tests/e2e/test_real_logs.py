"""A shop's own data, without the simulator, through the real CLI:
- `recsys catalog import` refuses a file without its required columns (exit 2) and a file with
  too many bad records (exit 3), committing nothing;
- `recsys run --source rees46 --input FILE --promotions FILE` runs every stage on the REES46
  excerpt;
- Open Bandit logs: clean -> arm statistics -> `recsys ope` of the project's policies against
  the logged one, with IPS figures checked by hand from the CSV.
"""
from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from recsys_spark.bandit.arm_stats import context_counts, rewarded_impressions
from recsys_spark.settings.bandit import BanditConfig
from tests.clean.helpers import read_table, run_clean
from tests.conftest import REPO_ROOT
from tests.factories import make_config

pytestmark = pytest.mark.e2e

FIXTURES = REPO_ROOT / "tests" / "fixtures"
REES46_FILE = FIXTURES / "rees46" / "2019-Oct-excerpt.csv"
REES46_PROMOTIONS = FIXTURES / "rees46" / "promotions.csv"
OBD_DAY = dt.date(2019, 11, 24)
MODEL_STAGES = ["features", "similarity", "als", "response", "bandit"]


def recsys(*args: str, warehouse: Path) -> subprocess.CompletedProcess:
    """The real CLI in its own process (its own Spark), on a warehouse under the test's tmp."""
    command = [sys.executable, "-m", "recsys_spark.cli", *args, "--set", f"warehouse.root={warehouse}",
               "--set", f"landing.root={warehouse.parent / 'landing'}",
               "--set", "spark.master=local[2]", "--set", "spark.shuffle_partitions=2"]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The command's own lines on stderr (Spark's JVM prints its start-up banner there too);
    a user's mistake must end as one such line, never a traceback."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return [line for line in result.stderr.splitlines() if line.startswith("recsys")]


def rows(warehouse: Path, table: str) -> list[dict]:
    return DeltaTable(str(warehouse / table)).to_pyarrow_table().to_pylist()


def test_catalog_import_refuses_in_one_line_and_commits_nothing(tmp_path):
    warehouse = tmp_path / "warehouse"
    items = tmp_path / "items.csv"
    items.write_text("item_id,brand\ni1,acme\n")
    result = recsys("catalog", "import", "--items", str(items), "--as-of", "2019-10-01",
                    warehouse=warehouse)
    assert result.returncode == 2, result.stderr
    assert error_lines(result) == [
        f"recsys: error: items file {items}: missing required column(s) category (found: item_id, "
        "brand); nothing was imported"]

    promotions = tmp_path / "promotions.csv"
    promotions.write_text("promotion_id,promo_type,discount_value,start_date,end_date,budget\n"
                          "p1,percent_off,0.1,2019-10-01,2019-10-31,100\n"
                          "p2,bogo,0.1,2019-10-01,2019-10-31,100\n"
                          "p3,gift,5,2019-10-09,2019-10-01,-1\n")
    result = recsys("catalog", "import", "--promotions", str(promotions), "--as-of", "2019-10-01",
                    warehouse=warehouse)
    assert result.returncode == 3, result.stderr
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("recsys: data-quality gate failed: catalog import: ")
    assert (f"promotions file {promotions}: 2 of 3 records bad (66.7% > clean.catalog.max_bad_share "
            "10.0%; unknown_promo_type 1, negative_budget 1, end_before_start 1); nothing was "
            "committed") in lines[0]
    assert not any((warehouse / t).exists() for t in ("items", "promotions", "catalog_quarantine"))


def test_rees46_logs_and_promotions_run_every_stage(tmp_path):
    warehouse = tmp_path / "warehouse"
    # --no-report: the report has its own tests (tests/report); this one is every stage on logs
    result = recsys("run", "--source", "rees46", "--input", str(REES46_FILE),
                    "--promotions", str(REES46_PROMOTIONS), "--no-report", warehouse=warehouse)
    runs = {(r["stage"], r["status"]) for r in rows(warehouse, "pipeline_runs")}
    assert {("catalog", "succeeded"), ("clean", "succeeded")} <= runs, result.stderr[-3000:]
    assert not (tmp_path / "landing").exists()          # nothing was simulated

    assert sorted((r["promotion_id"], r["promo_type"], r["budget"], r["origin"])
                  for r in rows(warehouse, "promotions")) == [
        ("r46-electronics-10", "percent_off", 500, "catalog"),
        ("r46-free-shipping", "free_shipping", None, "catalog"),
        ("r46-furniture-gift", "gift", 100, "catalog")]
    items = rows(warehouse, "items")
    assert len(items) == 13 and {r["origin"] for r in items} == {"derived"}
    assert len(rows(warehouse, "events")) == 16
    for stage in ("features", "similarity", "als"):
        assert (stage, "succeeded") in runs, result.stderr[-3000:]

    # REES46 has no promotion impressions: too little history for the response model, so the
    # response stage publishes its per-promotion baseline and the bandit serves from it.
    assert result.returncode == 0, result.stderr[-3000:]
    assert {s for s, status in runs if status == "succeeded"} >= set(MODEL_STAGES)
    (response,) = [r for r in rows(warehouse, "pipeline_runs") if r["stage"] == "response"]
    notes = dict(response["notes"])
    assert notes["published"] == "baseline_promotion_rate", notes
    assert notes["decision"].startswith("response: no labelled promo impressions between "), notes
    served = rows(warehouse, "user_promotions")
    assert served and {r["promotion_id"] for r in served if not r["is_holdout"]} <= {
        "r46-electronics-10", "r46-free-shipping", "r46-furniture-gift"}


def _obd_impressions() -> list[dict]:
    """Every logged impression of the OBD excerpt, as the clean stage names it."""
    out = []
    for policy in ("random", "bts"):
        with (FIXTURES / "obd" / policy / "men" / "men.csv").open() as fh:
            for r in csv.DictReader(fh):
                out.append({"event_id": f"obd-{policy}-men-{r['']}",
                            "ts": dt.datetime.fromisoformat(r["timestamp"]),
                            "promotion_id": f"men-{r['item_id']}", "reward": float(r["click"]),
                            "pscore": float(r["propensity_score"])})
    return out


def test_obd_logs_clean_arm_statistics_and_ope(spark, tmp_path):
    config = make_config(tmp_path)
    run_clean(spark, config, OBD_DAY, source="obd", input_path=str(FIXTURES / "obd"))
    impressions = _obd_impressions()
    assert len(impressions) == 50 and sum(i["reward"] for i in impressions) == 5

    # Arm statistics from the cleaned impressions and clicks: each click is credited to its own
    # impression (one anonymous visitor per impression).
    bandit = BanditConfig(reward_event="promo_click")
    counts_df = context_counts(rewarded_impressions(read_table(spark, config, "events"), OBD_DAY, bandit),
                               None).select("context", "promotion_id", "raw_impressions", "raw_rewards")
    per_arm: dict[str, list[int]] = {}
    for i in impressions:
        n, r = per_arm.get(i["promotion_id"], [0, 0])
        per_arm[i["promotion_id"]] = [n + 1, r + int(i["reward"])]
    assertDataFrameEqual(counts_df, spark.createDataFrame(
        [("global", arm, n, r) for arm, (n, r) in per_arm.items()],
        "context string, promotion_id string, raw_impressions long, raw_rewards long"))

    # `recsys ope` on the clean events: the project's Thompson policy against the logged one.
    warehouse = Path(config.warehouse.root)
    result = recsys("ope", "--source", "events", "--run-date", OBD_DAY.isoformat(),
                    "--policy", "thompson,logged,uniform", "--dataset", "obd_men",
                    "--set", "bandit.reward_event=promo_click",
                    "--set", "bandit.bootstrap_replicates=50", warehouse=warehouse)
    assert result.returncode == 0, result.stderr[-3000:]
    estimates = {(r["policy"], r["estimator"]): r for r in rows(warehouse, "ope_estimates")}
    assert {p for p, _ in estimates} == {"thompson", "logged", "uniform"}

    # By hand: the later half (by time, then id) is evaluated. The logged policy's IPS is the
    # mean reward there; uniform's weights each reward by (1 / arms) / pscore.
    evaluated = sorted(impressions, key=lambda i: (i["ts"], i["event_id"]))[25:]
    arms = len({i["promotion_id"] for i in impressions})
    logged_ips = sum(i["reward"] for i in evaluated) / 25
    uniform_ips = sum(i["reward"] * (1 / arms) / i["pscore"] for i in evaluated) / 25
    assert estimates[("logged", "ips")]["n"] == 25
    assert estimates[("logged", "ips")]["estimate"] == pytest.approx(logged_ips, abs=1e-12)
    assert estimates[("logged", "snips")]["estimate"] == pytest.approx(logged_ips, abs=1e-12)
    assert estimates[("uniform", "ips")]["estimate"] == pytest.approx(uniform_ips, abs=1e-12)
    thompson = estimates[("thompson", "ips")]
    assert thompson["n"] == 25 and thompson["source"] == "events" and thompson["true_value"] is None
    assert thompson["ci_lower"] <= thompson["estimate"] <= thompson["ci_upper"]
    assert read_table(spark, config, "ope_estimates").where(F.col("policy") == "thompson").count() == 4
