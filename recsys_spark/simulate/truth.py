"""The ground truth under ``<landing>/_ground_truth/``: written by the simulator, read only by
tests, benchmarks and evaluation (never by a pipeline stage).

Layout (Parquet folders written by Spark unless noted):
- ``world.json``             seed, start date, resolved SimulatorConfig, days generated (JSON)
- ``items.parquet``          item_id, category, brand, price, popularity (log), embedding (pyarrow)
- ``promotions.parquet``     catalog columns + type_idx, depth (pyarrow)
- ``users/``                 user_id, is_bot, taste, price_sensitivity, responsiveness, ... top_items
- ``response/``              user_id, promotion_id, p_redeem, p_click (true P(. | shown))
- ``oracle/date=D/``         user_id, rank, promotion_id, p_redeem: best active promotions per user
- ``defects/gen_date=D/``    defect_class, event_id, file, line, arrival_date, detail
- ``true_events/gen_date=D/`` every generated event before dirt, with its defect plan (a
  redemption the shop refused for want of budget is not among them)
- ``budget_ledger/gen_date=D/`` promotion_id, budget, attempted, accepted, refused redemptions
- ``refused_redeems/gen_date=D/`` each refused redemption: event_id, user_id, promotion_id,
  event_time, budget, spent_before, attempt (simulate/budgets.py)
"""
from __future__ import annotations

import json
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from recsys_spark.errors import RecsysError
from recsys_spark.simulate.landing import Landing

TRUTH_DIR = "_ground_truth"
WORLD_FILE = f"{TRUTH_DIR}/world.json"


class SimulatorError(RecsysError, ValueError):
    """The landing folder and the simulator request do not fit together."""


def truth_uri(landing_root: str, name: str) -> str:
    """URI of one ground-truth dataset (see the module docstring for names)."""
    return Landing.open(landing_root).uri(f"{TRUTH_DIR}/{name}")


def read_world(landing_root: str) -> dict[str, Any]:
    """world.json as a dict. Raises SimulatorError when no world was generated there."""
    landing = Landing.open(landing_root)
    try:
        return json.loads(landing.read_bytes(WORLD_FILE).decode("utf-8"))
    except FileNotFoundError:
        raise SimulatorError(f"{landing.uri(WORLD_FILE)}: no simulated world here "
                             "(run `recsys simulate` first)") from None


def read_truth(spark: SparkSession, landing_root: str, name: str) -> DataFrame:
    """One Parquet ground-truth dataset: users, response, oracle, defects or true_events."""
    return spark.read.parquet(truth_uri(landing_root, name))


def has_truth(landing_root: str, name: str) -> bool:
    """Whether ``landing_root`` is a landing folder holding the ground-truth folder ``name``."""
    # Listed, not stat'ed: on object stores and on hdfs:// through delta-rs' client a folder has
    # no entry of its own, only the files under it.
    try:
        return bool(Landing.open(landing_root).list_files(f"{TRUTH_DIR}/{name}"))
    except (OSError, ValueError):
        return False
