"""The simulator's entry points: :func:`generate` a world and days of raw logs, and
:func:`respond` to the pipeline's ``user_promotions`` with the next day's events (closed loop)."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.settings.simulate import SimulatorConfig
from recsys_spark.simulate import budgets, dirt
from recsys_spark.simulate import landing as landing_io
from recsys_spark.simulate.behaviour import BUILTIN_POLICY
from recsys_spark.simulate.events import raw_behaviour, readable_events, visitor_rows
from recsys_spark.simulate.landing import CATALOG_DIR, Landing
from recsys_spark.simulate.truth import TRUTH_DIR, WORLD_FILE, SimulatorError, read_world, truth_uri
from recsys_spark.simulate.world import (
    RESPONSE_DDL,
    USERS_DDL,
    World,
    build_world,
    response_frame,
    users_frame,
)

log = logging.getLogger(__name__)

@contextlib.contextmanager
def _timed(step: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    log.info("simulate: %s took %.1f s", step, time.perf_counter() - started)


DEFECT_TYPES = (("defect_class", "string"), ("event_id", "string"), ("file", "string"),
                ("line", "int"), ("arrival_date", "date"), ("detail", "string"), ("gen_date", "date"))
DEFECTS_DDL = ", ".join(f"{c} {t}" for c, t in DEFECT_TYPES)


@dataclass
class SimulationSummary:
    """What one generate/respond call wrote."""

    landing_root: str
    seed: int
    dates: list[dt.date]
    events: int = 0                      # generated events (before dirt), bots included
    lines: int = 0                       # lines written (duplicates included)
    files: int = 0                       # event files written (empty ones included)
    by_type: dict[str, int] = field(default_factory=dict)
    defects: dict[str, int] = field(default_factory=dict)
    impressions: int = 0
    plan_rows_ignored: int = 0           # user_promotions rows naming unknown users/promotions
    refused_redeems: int = 0             # redemptions past a promotion's budget (budgets.py)


def generate(spark: SparkSession, sim_config: SimulatorConfig, landing_root: str,
             start_date: dt.date, days: int, seed: int) -> SimulationSummary:
    """Build the world for ``seed`` and write ``days`` days of raw logs from ``start_date``.

    Writes events, catalog snapshots and the full ground truth under ``landing_root``;
    re-running with the same arguments replaces the same files with identical content.

    Returns:
        A SimulationSummary with counts per event type and per defect class.

    Raises:
        ValueError: ``days`` < 1 or world sizes the generator cannot build.
    """
    if days < 1:
        raise ValueError(f"days: must be >= 1, got {days}")
    world = build_world(sim_config, seed, start_date)
    landing = Landing.open(landing_root)
    _write_world(landing, world, days)
    users_df = _users_df(spark, world).persist(StorageLevel.MEMORY_AND_DISK)
    users_df.drop("user_idx").write.mode("overwrite").parquet(truth_uri(landing_root, "users"))
    (spark.range(0, sim_config.n_users, numPartitions=sim_config.generation_partitions)
     .mapInPandas(lambda it: (response_frame(world, b["id"].to_numpy()) for b in it), RESPONSE_DDL)
     .write.mode("overwrite").parquet(truth_uri(landing_root, "response")))
    day_indexes = list(range(days))
    raw_df = raw_behaviour(world, visitor_rows(spark, world, day_indexes), plan=False)
    events_df = readable_events(spark, world, raw_df, [BUILTIN_POLICY])
    spent_df = budgets.spend_before(spark, landing.root, start_date)
    summary = _write_days(spark, world, landing, events_df, day_indexes, users_df, spent_df)
    users_df.unpersist()
    return summary


def respond(spark: SparkSession, sim_config: SimulatorConfig, landing_root: str,
            user_promotions_df: DataFrame, run_date: dt.date, seed: int) -> SimulationSummary:
    """Write day ``run_date + 1``: organic behaviour plus responses to the promotions shown.

    ``user_promotions_df`` has user_id, rank, promotion_id, propensity, run_date (and optionally
    policy); its rows for ``run_date`` are shown, in rank order, to each listed user who visits
    the next day (while the promotion runs). Clicks and redemptions are drawn from the true
    probabilities in the ground truth; nothing else is shown that day.

    Returns:
        A SimulationSummary (``impressions`` = impressions written).

    Raises:
        SimulatorError: no world in ``landing_root`` or it was made with another seed/config.
    """
    meta = read_world(landing_root)
    if meta["seed"] != seed or SimulatorConfig.from_dict(meta["config"]) != sim_config:
        raise SimulatorError(f"{landing_root}: the world there was generated with seed "
                             f"{meta['seed']} and preset {meta['config']['preset']!r}; respond "
                             "must use the same seed and simulator config")
    world = build_world(sim_config, seed, dt.date.fromisoformat(meta["start_date"]))
    landing = Landing.open(landing_root)
    day_idx = world.day_index(run_date + dt.timedelta(days=1))
    plans_df, policies, ignored = _plans(world, user_promotions_df, run_date)
    rows_df = (visitor_rows(spark, world, [day_idx])
               .join(plans_df, on=["key", "kind"], how="left")
               .select("kind", "key", "day",
                       F.coalesce("plan_promos", F.array().cast("array<int>")).alias("plan_promos"),
                       F.coalesce("plan_props", F.array().cast("array<double>")).alias("plan_props"),
                       F.coalesce("plan_positions", F.array().cast("array<int>")).alias("plan_positions"),
                       F.coalesce("plan_policy", F.lit(0)).alias("plan_policy")))
    events_df = readable_events(spark, world, raw_behaviour(world, rows_df, plan=True), policies)
    users_df = _users_df(spark, world)
    spent_df = budgets.spend_before(spark, landing.root, run_date + dt.timedelta(days=1))
    summary = _write_days(spark, world, landing, events_df, [day_idx], users_df, spent_df)
    summary.plan_rows_ignored = ignored
    meta["days_generated"] = sorted(set(meta.get("days_generated", [])) | {day_idx})
    landing.write_bytes(WORLD_FILE, json.dumps(meta, indent=2, sort_keys=True).encode("utf-8"))
    return summary


def _plans(world: World, up_df: DataFrame, run_date: dt.date) -> tuple[DataFrame, list[str], int]:
    cfg = world.config
    policy = F.col("policy") if "policy" in up_df.columns else F.lit("pipeline")
    day_df = (up_df.filter(F.col("run_date") == F.lit(run_date))
              .select(F.col("user_id"), F.col("promotion_id"), F.col("rank").cast("int").alias("rank"),
                      F.col("propensity").cast("double").alias("propensity"),
                      F.coalesce(policy.cast("string"), F.lit("unknown")).alias("policy"))
              .withColumn("key", F.when(F.col("user_id").rlike("^u[0-9]{7}$"),
                                        F.substring("user_id", 2, 7).cast("long")))
              .withColumn("promo_idx", F.when(F.col("promotion_id").rlike("^p[0-9]{4}$"),
                                              F.substring("promotion_id", 2, 4).cast("int"))))
    valid = (F.col("key") < cfg.n_users) & (F.col("promo_idx") < cfg.n_promotions)
    counts = day_df.agg(F.count("*").alias("n"),
                        F.sum(F.when(valid, 1).otherwise(0)).alias("ok")).first()
    ignored = int(counts["n"]) - int(counts["ok"] or 0)
    # A handful of policy names: small enough to bring to the driver as a lookup list.
    policies = sorted(r["policy"] for r in day_df.filter(valid).select("policy").distinct().collect())
    names = F.array(*[F.lit(p) for p in policies]) if policies else F.array().cast("array<string>")
    plans_df = (day_df.filter(valid)
                .withColumn("policy_idx", (F.array_position(names, F.col("policy")) - 1).cast("int"))
                .groupBy("key")
                .agg(F.sort_array(F.collect_list(F.struct("rank", "promo_idx", "propensity",
                                                          "policy_idx"))).alias("plan"))
                .select("key", F.lit(0).alias("kind"),
                        F.transform("plan", lambda x: x["promo_idx"]).alias("plan_promos"),
                        F.transform("plan", lambda x: x["propensity"]).alias("plan_props"),
                        F.transform("plan", lambda x: x["rank"]).alias("plan_positions"),
                        F.element_at("plan", 1)["policy_idx"].alias("plan_policy")))
    return plans_df, policies, ignored


def _write_world(landing: Landing, world: World, days: int) -> None:
    meta = {"seed": world.seed, "start_date": world.start_date.isoformat(),
            "config": world.config.to_dict(), "days_generated": list(range(days)),
            "n_bots": world.n_bots}
    landing.write_bytes(WORLD_FILE, json.dumps(meta, indent=2, sort_keys=True).encode("utf-8"))
    items = pd.DataFrame({
        "item_id": [f"i{i:05d}" for i in range(world.n_items)], "category": list(world.item_category),
        "brand": list(world.item_brand), "price": world.item_price,
        "log_popularity": world.item_log_pop, "embedding": list(world.item_emb)})
    promos = world.promos.copy()
    for name, frame in (("items.parquet", items), ("promotions.parquet", promos)):
        with landing.fs.open_output_stream(landing.path(f"{TRUTH_DIR}/{name}")) as out:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out)


def _users_df(spark: SparkSession, world: World) -> DataFrame:
    cfg = world.config
    return (spark.range(0, cfg.n_users + world.n_bots, numPartitions=cfg.generation_partitions)
            .mapInPandas(lambda it: (users_frame(world, b["id"].to_numpy()) for b in it), USERS_DDL))


def _write_days(spark: SparkSession, world: World, landing: Landing, events_df: DataFrame,
                day_indexes: Sequence[int], users_df: DataFrame, spent_df: DataFrame
                ) -> SimulationSummary:
    """Write the days' event files and ground truth; ``spent_df`` (promotion_id, spent) is what
    each promotion's budget lost on earlier days (budgets.py)."""
    cfg, seed = world.config, world.seed
    start = world.start_date
    gen_dates = [start + dt.timedelta(days=d) for d in day_indexes]
    # Both caches live on disk: they grow with the data, and cached in memory they held the
    # storage share execution needed (at 10M events, 3 GB driver, the line-numbering window ran
    # out of memory while lines_df was being cached). Re-reading them from local disk is cheap.
    with _timed("generate events"):
        plan_df = (dirt.with_defect_plan(events_df, cfg.dirt, seed)
                   .withColumn("gen_date", F.date_add(F.lit(start), F.col("gen_day")))
                   .persist(StorageLevel.DISK_ONLY))
        plan_df.count()
    with _timed("budgets"):
        # The shop refuses redemptions past a promotion's budget: they leave the logs and the
        # true events (the defect plan is keyed per event, so the others keep theirs).
        attempts_df = budgets.redeem_attempts(plan_df, budgets.budgets_frame(spark, world.promos),
                                              spent_df).persist(StorageLevel.DISK_ONLY)
        refused = budgets.write_budget_truth(landing, attempts_df, gen_dates)
        generated_df = plan_df
        if refused:
            plan_df = plan_df.join(F.broadcast(attempts_df.filter(F.col("is_refused")).select("event_id")),
                                   on="event_id", how="left_anti")
    lines_df = dirt.with_lines(dirt.with_files(dirt.with_dirty_fields(plan_df), cfg.dirt, seed,
                                               cfg.files_per_day),
                               cfg.generation_partitions).persist(StorageLevel.DISK_ONLY)
    landing_io.remove_generated_days(landing, gen_dates)
    with _timed("event files"):
        written = landing_io.write_event_lines(landing, lines_df)
    empties = landing_io.write_empty_files(landing, gen_dates, cfg.dirt.empty_files_per_day)
    with _timed("file inventory"):
        # One small aggregate per file: its flags and line count.
        inventory = (lines_df.groupBy("arrival_date", "gen_date", "file_idx", "has_extra_field",
                                      "has_renamed_field")
                     .agg(F.count("*").alias("lines"))
                     .collect())
    file_rows = []
    for r in inventory:
        rel = landing_io.event_file(r["arrival_date"], r["gen_date"], r["file_idx"])
        if r["has_extra_field"]:
            file_rows.append(("extra_field", None, rel, None, r["arrival_date"], "app_version",
                              r["gen_date"]))
        if r["has_renamed_field"]:
            file_rows.append(("renamed_field", None, rel, None, r["arrival_date"], "userId", r["gen_date"]))
    for rel in empties:
        day = dt.date.fromisoformat(rel.split("date=")[1][:10])
        file_rows.append(("empty_file", None, rel, None, day, None, day))

    file_col = F.concat(F.lit("events/date="), F.col("arrival_date").cast("string"), F.lit("/part-"),
                        F.date_format("gen_date", "yyyyMMdd"), F.lit("-"),
                        F.lpad(F.col("file_idx").cast("string"), 5, "0"), F.lit(".jsonl.gz"))
    # A line may carry two classes: an extra copy of a late event is a duplicate and late.
    classes = F.filter(F.array(F.when(F.col("copy_no") > 0, F.lit("duplicate")), F.col("defect"),
                               F.when(F.col("late_days") > 0, F.lit("late_arrival"))),
                       lambda c: c.isNotNull())
    detail = (F.when(F.col("defect_class") == "duplicate",
                     F.concat(F.lit("copy "), F.col("copy_no").cast("string"), F.lit(" of "),
                              F.col("copies").cast("string")))
              .when(F.col("defect_class") == "late_arrival", F.col("late_days").cast("string"))
              .otherwise(F.col("detail")))
    line_defects_df = (lines_df.withColumn("defect_class", F.explode(classes))
                       .select("defect_class", "event_id", file_col.alias("file"),
                               F.col("line_no").alias("line"), "arrival_date", detail.alias("detail"),
                               "gen_date")
                       .select(*[F.col(c).cast(t) for c, t in DEFECT_TYPES]))
    defects_df = line_defects_df.unionByName(spark.createDataFrame(file_rows, DEFECTS_DDL))
    with _timed("ground truth: defects"):
        (defects_df.repartition(1).sortWithinPartitions("gen_date", "file", "line", "defect_class")
         .write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy("gen_date")
         .parquet(truth_uri(landing.root, "defects")))
    with _timed("ground truth: true events"):
        (plan_df.select("event_id", F.timestamp_millis("event_ms").alias("event_time"), "event_type",
                        "user_id", "session_id", "item_id", "category", "brand", "price", "quantity",
                        "promotion_id", "position", "propensity", "policy", "is_bot", "defect",
                        "copies", "late_days", "gen_date")
         .write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy("gen_date")
         .parquet(truth_uri(landing.root, "true_events")))
    with _timed("catalog"):
        _write_catalog(spark, world, landing, day_indexes, users_df)
    with _timed("oracle"):
        _write_oracle(spark, world, landing, day_indexes)
    with _timed("summary counts"):
        by_type = {r["event_type"]: int(r["n"]) for r in
                   plan_df.groupBy("event_type").agg(F.count("*").alias("n")).collect()}
        defects = {r["defect_class"]: int(r["n"]) for r in
                   spark.read.parquet(truth_uri(landing.root, "defects"))
                   .filter(F.col("gen_date").isin(gen_dates))
                   .groupBy("defect_class").agg(F.count("*").alias("n")).collect()}
    n_lines = sum(int(r["lines"]) for r in inventory)
    generated_df.unpersist()
    attempts_df.unpersist()
    lines_df.unpersist()
    summary = SimulationSummary(landing_root=landing.root, seed=seed, dates=gen_dates,
                                events=sum(by_type.values()), lines=n_lines,
                                files=len(written) + len(empties), by_type=dict(sorted(by_type.items())),
                                defects=dict(sorted(defects.items())),
                                impressions=by_type.get("promo_impression", 0),
                                refused_redeems=refused)
    log.info("simulated %s: %s events, %s lines, %s files", [d.isoformat() for d in gen_dates],
             summary.events, summary.lines, summary.files)
    return summary


def _write_catalog(spark: SparkSession, world: World, landing: Landing, day_indexes: Sequence[int],
                   users_df: DataFrame) -> None:
    """Full catalog snapshot per day: items, promotions known by then, users signed up by then."""
    start = world.start_date
    items = [{"item_id": f"i{i:05d}", "category": world.item_category[i], "brand": world.item_brand[i],
              "price": float(world.item_price[i]), "name": f"{world.item_brand[i]} "
              f"{world.item_category[i].split('.')[-1]} {i}"} for i in range(world.n_items)]
    # The item catalog is the same every day: serialise and compress it once.
    items_gz = landing_io.json_lines_gz(items)
    catalog_cols = ["promotion_id", "name", "promo_type", "discount_value", "min_spend",
                    "eligible_categories", "start_date", "end_date", "budget"]
    for d in day_indexes:
        folder = f"{CATALOG_DIR}/date={(start + dt.timedelta(days=d)).isoformat()}"
        landing.write_bytes(f"{folder}/items.jsonl.gz", items_gz)
        promos = world.promos[world.promos["start_day"] <= d][catalog_cols]
        landing_io.write_json_lines(landing, f"{folder}/promotions.jsonl.gz",
                                    [_plain(r) for r in promos.to_dict(orient="records")])
    days_df = spark.createDataFrame(pd.DataFrame({"day": list(day_indexes)}), "day int")
    lines_df = (users_df.crossJoin(F.broadcast(days_df))
                .filter(F.col("signup_day") <= F.col("day"))
                .select(F.date_add(F.lit(start), F.col("day")).cast("string").alias("date"),
                        F.col("user_id").alias("sort_key"),
                        F.to_json(F.struct(
                            "user_id",
                            F.date_add(F.lit(start), F.col("signup_day")).cast("string").alias("signup_date"),
                            "region", "device")).alias("line")))
    landing_io.write_dated_lines(landing, lines_df, "users.jsonl.gz", CATALOG_DIR)


def _plain(record: dict) -> dict:
    out = {}
    for k, v in record.items():
        if hasattr(v, "item"):
            v = v.item()
        out[k] = list(v) if isinstance(v, (list, tuple)) else v
    return out


def _write_oracle(spark: SparkSession, world: World, landing: Landing,
                  day_indexes: Sequence[int]) -> None:
    """Per day and user: the ``promo_slots`` active promotions with the highest true P(redeem)."""
    rows = [(world.start_date + dt.timedelta(days=d), f"p{p:04d}")
            for d in day_indexes for p in world.active_promos(d)]
    active_df = spark.createDataFrame(rows, "date date, promotion_id string")
    from pyspark.sql import Window

    order = Window.partitionBy("date", "user_id").orderBy(F.col("p_redeem").desc(), "promotion_id")
    (spark.read.parquet(truth_uri(landing.root, "response"))
     .join(F.broadcast(active_df), on="promotion_id", how="inner")
     .withColumn("rank", F.row_number().over(order))
     .filter(F.col("rank") <= world.config.promo_slots)
     .select("user_id", "rank", "promotion_id", "p_redeem", "date")
     .write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy("date")
     .parquet(truth_uri(landing.root, "oracle")))
