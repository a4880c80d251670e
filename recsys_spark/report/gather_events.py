"""Small pandas frames about runs and events: Spark aggregates first, then ``toPandas``.

Every function reads through a :class:`Snapshot` and returns a frame of at most
(days x categories) rows, whatever the size of the tables.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.domain.events import INTEREST_EVENT_TYPES, PROMO_EVENT_TYPES
from recsys_spark.report.model import MissingInput
from recsys_spark.report.snapshot import Snapshot

# Shopping and promotion funnels, in step order.
SHOP_FUNNEL = INTEREST_EVENT_TYPES
PROMO_FUNNEL = PROMO_EVENT_TYPES


def _window(run_date: dt.date, days: int) -> tuple[dt.date, dt.date]:
    return run_date - dt.timedelta(days=days - 1), run_date


def stage_runs(snapshot: Snapshot, run_date: dt.date) -> pd.DataFrame:
    """The last attempt of every stage on ``run_date``.

    Returns:
        columns stage, run_id, status, started_at, duration_s, rows_in, rows_out (by start time).
    """
    runs_df = snapshot.read("pipeline_runs", "recsys run",
                            partition_filters=[("run_date", "=", run_date)])
    last = Window.partitionBy("stage").orderBy(F.col("attempt").desc())
    return (runs_df.withColumn("n", F.row_number().over(last)).filter(F.col("n") == 1)
            .select("stage", "run_id", "status", "started_at", "duration_s", "rows_in", "rows_out")
            .orderBy("started_at", "stage").toPandas())


def clean_runs(snapshot: Snapshot, run_date: dt.date, days: int = 30) -> pd.DataFrame:
    """Counts of the last clean attempt per run date in the ``days`` up to ``run_date``.

    Returns:
        columns run_date, run_id, status, records_in, clean, duplicates, quarantined,
        failed_checks (data-quality checks whose result starts with "fail"), by run_date.

    Raises:
        MissingInput: no pipeline_runs table, or no clean run in the window.
    """
    lo, hi = _window(run_date, days)
    runs_df = snapshot.read("pipeline_runs", "recsys run",
                            partition_filters=[("run_date", ">=", lo), ("run_date", "<=", hi)])
    last = Window.partitionBy("run_date").orderBy(F.col("attempt").desc())
    metric = F.col("metrics").getItem
    failed = F.size(F.filter(F.map_values("quality"), lambda v: v.startswith("fail")))
    out = (runs_df.filter(F.col("stage") == "clean")
           .withColumn("n", F.row_number().over(last)).filter(F.col("n") == 1)
           .select("run_date", "run_id", "status",
                   *[metric(m).cast("long").alias(m)
                     for m in ("records_in", "clean", "duplicates", "quarantined")],
                   F.coalesce(failed, F.lit(0)).alias("failed_checks"))
           .orderBy("run_date").toPandas())
    if out.empty:
        raise MissingInput(f"no clean run between {lo} and {hi}", f"recsys clean --run-date {hi}")
    return out


def quarantine_by_reason(snapshot: Snapshot, run_date: dt.date, days: int = 30) -> pd.DataFrame:
    """Quarantined records per run date and reason code in the ``days`` up to ``run_date``.

    A record with two reasons counts once under each.

    Returns:
        columns run_date, reason, records, sorted by run_date then reason. Empty when nothing
        was quarantined.

    Raises:
        MissingInput: no events_quarantine table.
    """
    lo, hi = _window(run_date, days)
    quarantine_df = snapshot.read("events_quarantine", f"recsys clean --run-date {hi}",
                                  partition_filters=[("run_date", ">=", lo), ("run_date", "<=", hi)])
    return (quarantine_df.select("run_date", F.explode("reasons").alias("reason"))
            .groupBy("run_date", "reason").agg(F.count(F.lit(1)).alias("records"))
            .orderBy("run_date", "reason").toPandas())


def _events(snapshot: Snapshot, run_date: dt.date, days: int) -> DataFrame:
    lo, hi = _window(run_date, days)
    return snapshot.read("events", f"recsys clean --run-date {hi}",
                         partition_filters=[("event_date", ">=", lo), ("event_date", "<=", hi)])


def daily_events(snapshot: Snapshot, run_date: dt.date, days: int = 14) -> pd.DataFrame:
    """Events per event date and type in the ``days`` up to ``run_date``.

    Returns:
        columns event_date, event_type, events, sorted by event_date then event_type.
    """
    return (_events(snapshot, run_date, days).groupBy("event_date", "event_type")
            .agg(F.count(F.lit(1)).alias("events")).orderBy("event_date", "event_type").toPandas())


def daily_activity(snapshot: Snapshot, run_date: dt.date, days: int = 14) -> pd.DataFrame:
    """Activity per event date in the ``days`` up to ``run_date``.

    Returns:
        columns event_date, events, users (distinct known users), sessions, anonymous_events.
    """
    return (_events(snapshot, run_date, days).groupBy("event_date")
            .agg(F.count(F.lit(1)).alias("events"), F.count_distinct("user_id").alias("users"),
                 F.count_distinct("session_id").alias("sessions"),
                 F.sum(F.when(F.col("user_id").isNull(), 1).otherwise(0)).alias("anonymous_events"))
            .orderBy("event_date").toPandas())


def funnels(snapshot: Snapshot, run_date: dt.date, days: int = 14) -> pd.DataFrame:
    """Sessions reaching each funnel step in the ``days`` up to ``run_date``.

    A session counts at a step when it has at least one event of that type (steps are not
    required to happen in order: the rows say how many sessions did each thing).

    Returns:
        columns funnel ("shop" | "promotion"), step (1-based), event_type, sessions,
        share_of_first (sessions / sessions at step 1).
    """
    steps = [("shop", i + 1, t) for i, t in enumerate(SHOP_FUNNEL)]
    steps += [("promotion", i + 1, t) for i, t in enumerate(PROMO_FUNNEL)]
    counts = {r["event_type"]: int(r["sessions"]) for r in
              _events(snapshot, run_date, days)
              .filter(F.col("event_type").isin([t for _, _, t in steps]))
              .groupBy("event_type").agg(F.count_distinct("session_id").alias("sessions")).collect()}
    rows = []
    for funnel, step, event_type in steps:
        first = counts.get(SHOP_FUNNEL[0] if funnel == "shop" else PROMO_FUNNEL[0], 0)
        sessions = counts.get(event_type, 0)
        rows.append({"funnel": funnel, "step": step, "event_type": event_type, "sessions": sessions,
                     "share_of_first": sessions / first if first else float("nan")})
    return pd.DataFrame(rows)
