"""A scaled-down `realistic` world (simulate/realistic.py) as an `events` table, for the rankings.

The generator's ground truth holds every event before dirt (``true_events``); the test skips
`clean` (its own tests cover it) and writes the non-bot events straight into `events`, so the
rankings see the same behaviour a cleaned log holds, at a fraction of the cost.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.schemas import ALL_TABLES
from recsys_spark.schemas.events import EVENTS
from recsys_spark.settings.simulate import SimulatorConfig
from recsys_spark.simulate.api import generate
from recsys_spark.simulate.truth import read_truth
from recsys_spark.tables import CommitInfo, TableStore

SEED = 20261123
START = dt.date(2026, 11, 1)


def true_events(spark: SparkSession, landing_root: str) -> DataFrame:
    """The world's non-bot events in the `events` contract (source "simulator")."""
    raw_df = read_truth(spark, landing_root, "true_events").filter(~F.col("is_bot"))
    given = {"event_date": F.col("gen_date"), "run_date": F.col("gen_date"), "source": F.lit("jsonl"),
             "source_file": F.lit("true_events"), "ingested_run_id": F.lit("truth"),
             "extra": F.create_map().cast("map<string,string>")}
    return raw_df.select(*[
        (given[f.name] if f.name in given else
         F.col(f.name) if f.name in raw_df.columns else F.lit(None)).cast(f.dataType).alias(f.name)
        for f in EVENTS.fields])


def write_realistic_events(spark: SparkSession, store: TableStore, tmp: Path, days: int,
                           **sizes: object) -> int:
    """Generate the realistic preset with ``sizes`` for ``days`` days from START and write its
    events; returns how many."""
    config = SimulatorConfig.from_preset("realistic", **sizes)
    landing = str(tmp / "landing")
    generate(spark, config, landing, START, days, SEED)
    events_df = true_events(spark, landing).persist()
    store.write(events_df, "events", "overwrite", CommitInfo(run_id="truth", stage="clean"),
                partition_by=list(ALL_TABLES["events"].partition_by))
    count = events_df.count()
    events_df.unpersist()
    return count
