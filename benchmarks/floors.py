"""Stage floors: what Spark itself needs for a stage's work, measured on the stage's own inputs in
the same session, right after the stage ran.

    .venv/bin/python benchmarks/floors.py --warehouse W --run-date D              # every model stage
    .venv/bin/python benchmarks/floors.py --warehouse W --run-date D --stages als,response
    .venv/bin/python benchmarks/floors.py --preset demo                            # simulate + clean first

For each stage (run exactly as `recsys <stage>` runs it, through run_stage):

* **read+write floor** — the data files the stage read (the same versions and date windows,
  from its report) read as plain Parquet, every column, into Spark's no-op sink; and the rows
  it committed (the files of each output commit, cached beforehand) written as plain Parquet.
* **primitive floor** — the one Spark/MLlib/numpy operation the stage cannot avoid, on the
  stage's exact data (prepared untimed with the stage's own code):
  similarity: the co-occurrence self-join + groupBy + support filter on the capped
  (context, item) entries; als: ``ALS.fit`` with the chosen parameters on the indexed ratings
  (cached); response: the feature pipeline (indexers, assembler, scaler) + LogisticRegression
  fit over the configured grid on the assembled training set (and one fit alone); bandit: the
  numpy Thompson Monte Carlo alone (thompson_mc.slot_hits) for as many users and candidates as
  the run had, split over the cores. features has none (aggregations are its work).

Prints stage seconds, Spark jobs, the floors, the ratio stage / (read+write + primitive) and the
issue's target for the stage, with the load average. Asserts nothing.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from pyspark import StorageLevel  # noqa: E402
from pyspark.sql import DataFrame, SparkSession, Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from recsys_spark.config import AppConfig, load_config  # noqa: E402
from recsys_spark.pipeline import load_stage  # noqa: E402
from recsys_spark.runs import RunContext, StageReport  # noqa: E402
from recsys_spark.spark import build_spark_session  # noqa: E402
from recsys_spark.stage_io import DateWindow  # noqa: E402
from recsys_spark.stage_runner import run_stage  # noqa: E402
from recsys_spark.tables import TableStore, delta_log  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODEL_STAGES = ("features", "similarity", "als", "response", "bandit")
# The targets: stage <= a * read+write + b * primitive (None: no such target)
TARGETS: dict[str, tuple[float, float] | None] = {
    "features": (4.0, 0.0), "similarity": (0.0, 3.0), "als": (4.0, 1.5),
    "response": (4.0, 1.5), "bandit": None}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


@dataclasses.dataclass
class StageFloors:
    stage: str
    seconds: float
    jobs: int | None
    read_s: float
    write_s: float
    primitive_s: float | None
    primitive: str
    input_rows: int
    output_rows: int
    load: float
    extra: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def io_s(self) -> float:
        return self.read_s + self.write_s

    @property
    def floor_s(self) -> float:
        return self.io_s + (self.primitive_s or 0.0)

    @property
    def budget_s(self) -> float | None:
        target = TARGETS.get(self.stage)
        if target is None:
            return None
        a, b = target
        return a * self.io_s + b * (self.primitive_s or 0.0)


# ------------------------------------------------------------------ read + write floor
def read_floor(spark: SparkSession, report: StageReport) -> tuple[float, int]:
    """Seconds to read every file the stage read as plain Parquet (all columns), and the rows."""
    total, rows = 0.0, 0
    for files in report.input_files.values():
        if not files:
            continue
        df = spark.read.option("mergeSchema", "false").parquet(*sorted(files))
        seconds, _ = timed(lambda df=df: df.write.format("noop").mode("overwrite").save())
        total += seconds
        rows += df.count()
    return total, rows


def written_files(store: TableStore, table: str, version: int) -> list[str]:
    uri = store.uri(table)
    return [f"{uri}/{unquote(a['path'])}" for a in delta_log.commit_actions(uri, version).adds]


def write_floor(spark: SparkSession, store: TableStore, report: StageReport, scratch: Path
                ) -> tuple[float, int]:
    """Seconds to write the rows of every output commit as plain Parquet (read and cached first,
    untimed), and the rows."""
    total, rows = 0.0, 0
    for table, version in report.outputs.items():
        files = written_files(store, table, version)
        if not files:
            continue
        df = spark.read.parquet(*files).persist(StorageLevel.MEMORY_AND_DISK)
        rows += df.count()
        target = scratch / f"write-{table}"
        seconds, _ = timed(lambda df=df, target=target: df.write.mode("overwrite").parquet(str(target)))
        total += seconds
        df.unpersist()
        shutil.rmtree(target, ignore_errors=True)
    return total, rows


# ------------------------------------------------------------------ primitive floors
def _events(store: TableStore, report: StageReport, ctx: RunContext, days: int) -> DataFrame:
    return store.read("events", version=report.inputs["events"],
                      partition_filters=DateWindow.ending(ctx.run_date, days).filters("event_date"))


def similarity_primitive(spark: SparkSession, store: TableStore, ctx: RunContext,
                         report: StageReport, scratch: Path) -> tuple[float, dict[str, float]]:
    """The capped (context, item) entries (the stage's own code, untimed, to Parquet), then the
    timed self-join on context (item_i < item_j) + groupBy pair + support filter."""
    from recsys_spark.similarity.cooccurrence import context_items, with_event_weight

    cfg = ctx.config.similarity
    entries_path = str(scratch / "entries")
    context_items(with_event_weight(_events(store, report, ctx, cfg.lookback_days), cfg,
                                    ctx.run_date), cfg).write.mode("overwrite").parquet(entries_path)

    def join() -> int:
        entries_df = spark.read.parquet(entries_path)
        left = entries_df.select("context_id", "cw", F.col("item_id").alias("i"), F.col("a").alias("ai"))
        right = entries_df.select("context_id", F.col("item_id").alias("j"), F.col("a").alias("aj"))
        pairs_df = (left.join(right, on="context_id", how="inner").filter(F.col("i") < F.col("j"))
                    .groupBy("i", "j").agg(F.sum(F.col("cw") * F.col("ai") * F.col("aj")).alias("c"),
                                           F.count(F.lit(1)).alias("support"))
                    .filter(F.col("support") >= cfg.min_support))
        pairs_df.write.format("noop").mode("overwrite").save()
        return 0

    seconds, _ = timed(join)
    per_context = spark.read.parquet(entries_path).groupBy("context_id").count()
    emitted = per_context.agg(F.sum(F.col("count") * (F.col("count") - 1) / 2)).first()[0] or 0
    return seconds, {"pairs_emitted": float(emitted)}


def als_primitive(spark: SparkSession, store: TableStore, ctx: RunContext, report: StageReport,
                  scratch: Path) -> tuple[float, dict[str, float]]:
    """ALS.fit with the run's parameters on its ratings, indexed densely and cached (untimed)."""
    from pyspark.ml.recommendation import ALS

    from recsys_spark.als.confidence import build_ratings, end_of_day

    cfg = ctx.config.als
    params = dict(kv.split("=") for kv in report.notes.get("params", "").split(",") if kv)
    ratings_df = build_ratings(_events(store, report, ctx, cfg.window_days), cfg, end_of_day(ctx.run_date))

    def dense(column: str) -> DataFrame:
        ids = ratings_df.select(column).distinct()
        return ids.withColumn(f"{column}_x", (F.row_number().over(Window.orderBy(column)) - 1).cast("int"))

    indexed_path = str(scratch / "ratings")
    (ratings_df.join(dense("user_id"), on="user_id").join(dense("item_id"), on="item_id")
     .select("user_id_x", "item_id_x", "rating").write.mode("overwrite").parquet(indexed_path))
    input_df = spark.read.parquet(indexed_path).persist(StorageLevel.MEMORY_AND_DISK)
    n = input_df.count()
    als = ALS(rank=int(params.get("rank", cfg.rank)), maxIter=cfg.max_iter,
              regParam=float(params.get("reg_param", cfg.reg_param)),
              alpha=float(params.get("alpha", cfg.alpha)), implicitPrefs=True,
              nonnegative=cfg.nonnegative, numUserBlocks=cfg.num_user_blocks,
              numItemBlocks=cfg.num_item_blocks, checkpointInterval=cfg.checkpoint_interval,
              seed=1, userCol="user_id_x", itemCol="item_id_x", ratingCol="rating")

    def fit() -> None:
        model = als.fit(input_df)
        model.userFactors.count()
        model.itemFactors.count()

    seconds, _ = timed(fit)
    input_df.unpersist()
    return seconds, {"ratings": float(n)}


def response_primitive(spark: SparkSession, store: TableStore, ctx: RunContext,
                       report: StageReport, scratch: Path) -> tuple[float, dict[str, float]]:
    """The stage's training set (its own code, untimed, to Parquet), then timed: the model's
    pipeline (indexers, one-hot, assembler, scaler, LogisticRegression) fitted for every grid
    point on the training split; one fit alone is reported too."""
    import itertools

    from recsys_spark.response.model import build_pipeline, with_class_weights
    from recsys_spark.response.stage import read_inputs
    from recsys_spark.response.train import build_training_data
    from recsys_spark.stage_io import Inputs

    cfg = ctx.config.response
    first_probe = ctx.run_date - dt.timedelta(days=cfg.training_days - 1)
    data = read_inputs(Inputs(store, ctx, StageReport()), cfg, first_probe)
    training = build_training_data(data.events_df, data.promotions_df, data.optional, cfg, ctx.run_date)
    path = str(scratch / "training")
    training.split("train").write.mode("overwrite").parquet(path)
    training.training_df.unpersist()
    rows, positives = training.counts["train"]
    train_df = with_class_weights(spark.read.parquet(path), positives, rows, cfg.class_balance
                                  ).persist(StorageLevel.MEMORY_AND_DISK)
    train_df.count()
    grid = list(itertools.product(cfg.reg_params, cfg.elastic_net_params))
    fits = [timed(lambda reg=reg, en=en: build_pipeline(training.spec, reg, en, cfg.max_iter)
                  .fit(train_df))[0] for reg, en in grid]
    train_df.unpersist()
    return sum(fits), {"grid_points": float(len(grid)), "one_fit_s": min(fits),
                       "training_rows": float(rows)}


def bandit_primitive(spark: SparkSession, store: TableStore, ctx: RunContext, report: StageReport,
                     scratch: Path) -> tuple[float, dict[str, float]]:
    """The numpy Monte Carlo alone (thompson_mc.slot_hits) on synthetic users with the run's
    shape: as many served users, min(promotions, propensity_max_candidates) candidates each,
    Beta parameters of the run's arms; timed on a sample of users on one core and scaled to all
    users over the session's cores."""
    import numpy as np
    import pandas as pd

    from recsys_spark.bandit.thompson_mc import slot_hits

    cfg = ctx.config.bandit
    if (ctx.config.bandit.policy != "thompson"):
        return 0.0, {}
    users = int(report.metrics.get("users", 0) - report.metrics.get("holdout_users", 0))
    arms = store.read("bandit_arm_stats", version=report.outputs["bandit_arm_stats"]).select(
        "promotion_id", "alpha", "beta").toPandas()
    promos = arms.groupby("promotion_id")[["alpha", "beta"]].first().reset_index()
    width = min(len(promos), cfg.propensity_max_candidates)
    sample = min(users, 20_000)
    if sample == 0 or width == 0:
        return 0.0, {}
    rng = np.random.default_rng(1)
    picks = np.stack([rng.choice(len(promos), size=width, replace=False) for _ in range(sample)])
    flat = picks.reshape(-1)
    pdf = pd.DataFrame({
        "user_id": np.repeat([f"u{i:08d}" for i in range(sample)], width),
        "promotion_id": promos["promotion_id"].to_numpy()[flat],
        "promo_type": np.array(["a", "b", "c", "d", "e"])[flat % 5],
        "lift": rng.uniform(0.5, 2.0, size=flat.size),
        "alpha": promos["alpha"].to_numpy()[flat], "beta": promos["beta"].to_numpy()[flat],
        "draw_key": rng.integers(-2**62, 2**62, size=flat.size)})
    seconds, _ = timed(lambda: slot_hits(pdf, cfg.propensity_draws, cfg.slots_per_user,
                                         cfg.one_per_promo_type))
    cores = max(1, spark.sparkContext.defaultParallelism)
    return seconds * users / sample / cores, {"mc_users": float(users), "mc_width": float(width),
                                              "mc_core_s": seconds * users / sample}


PRIMITIVES: dict[str, tuple[str, Callable[..., tuple[float, dict[str, float]]]] | None] = {
    "features": None,
    "similarity": ("self-join + groupBy on capped pairs", similarity_primitive),
    "als": ("ALS.fit", als_primitive),
    "response": ("pipeline + LR.fit (grid)", response_primitive),
    "bandit": ("numpy Thompson MC", bandit_primitive),
}


def measure(spark: SparkSession, store: TableStore, config: AppConfig, run_date: dt.date,
            stage: str, scratch: Path) -> StageFloors:
    """Run ``stage`` for ``run_date`` as `recsys <stage>` does, then its floors."""
    load = os.getloadavg()[0]
    ctx = RunContext(config=config, run_date=run_date, stage=stage)
    seconds, report = timed(lambda: run_stage(spark, store, ctx, load_stage(stage)))
    return floors_of(spark, store, ctx, report, seconds, load, scratch)


def floors_of(spark: SparkSession, store: TableStore, ctx: RunContext, report: StageReport,
              seconds: float, load: float, scratch: Path) -> StageFloors:
    """The floors of a stage run that just finished (``report`` from run_stage, ``seconds`` its
    wall time, ``load`` the load average when it started); benchmarks call this after their
    own stage run."""
    stage = ctx.stage
    scratch.mkdir(parents=True, exist_ok=True)
    read_s, rows_in = read_floor(spark, report)
    write_s, rows_out = write_floor(spark, store, report, scratch)
    primitive = PRIMITIVES[stage]
    primitive_s, extra = (None, {}) if primitive is None else primitive[1](spark, store, ctx, report,
                                                                           scratch)
    jobs = report.metrics.get("spark_jobs")
    return StageFloors(stage, seconds, None if jobs is None else int(jobs), read_s, write_s,
                       primitive_s, primitive[0] if primitive else "-", rows_in, rows_out, load, extra)


def print_table(results: list[StageFloors]) -> None:
    print(f"\n{'stage':<11}{'stage s':>9}{'jobs':>6}{'read s':>8}{'write s':>8}{'prim s':>8}"
          f"{'floor s':>9}{'ratio':>7}{'target s':>10}{'met':>5}{'load':>6}  primitive")
    for r in results:
        budget = r.budget_s
        met = "-" if budget is None else ("yes" if r.seconds <= budget else "no")
        print(f"{r.stage:<11}{r.seconds:>9.1f}{r.jobs if r.jobs is not None else '-':>6}"
              f"{r.read_s:>8.1f}{r.write_s:>8.1f}"
              f"{(f'{r.primitive_s:.1f}' if r.primitive_s is not None else '-'):>8}"
              f"{r.floor_s:>9.1f}{r.seconds / r.floor_s if r.floor_s else float('nan'):>7.1f}"
              f"{(f'{budget:.1f}' if budget is not None else '-'):>10}{met:>5}{r.load:>6.1f}  "
              f"{r.primitive}" + (f" {json.dumps({k: round(v, 2) for k, v in r.extra.items()})}"
                                   if r.extra else ""))
    print("ratio = stage s / (read s + write s + prim s); target: features 4 x io, similarity "
          "3 x prim, als and response 4 x io + 1.5 x prim (io = read + write)")


def prepare_world(args: argparse.Namespace, root: Path) -> tuple[Path, dt.date]:
    """`recsys simulate` + the clean stage of every day for ``--preset`` (child processes)."""
    base = [sys.executable, "-m", "recsys_spark.cli"]
    common = ["--config", str(REPO / "conf" / "local.yaml"), "--set", f"warehouse.root={root / 'warehouse'}",
              "--set", f"landing.root={root / 'landing'}", *[x for s in args.set for x in ("--set", s)]]
    subprocess.run([*base, "run", *common, "--preset", args.preset, "--days", str(args.days),
                    "--only", "clean", "--no-report"], check=True, cwd=REPO)
    config = load_config(str(REPO / "conf" / "local.yaml"), args.set)
    start = dt.date.fromisoformat(config.simulate.start_date)
    return root / "warehouse", start + dt.timedelta(days=args.days - 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", default=None, help="a warehouse whose events are cleaned")
    parser.add_argument("--run-date", default=None)
    parser.add_argument("--preset", default=None, help="simulate + clean this preset first")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--stages", default=",".join(MODEL_STAGES))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--scratch", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="recsys-floors-"))
    scratch.mkdir(parents=True, exist_ok=True)
    if args.preset:
        warehouse, run_date = prepare_world(args, scratch)
    else:
        if not (args.warehouse and args.run_date):
            parser.error("give --warehouse and --run-date, or --preset")
        warehouse, run_date = Path(args.warehouse), dt.date.fromisoformat(args.run_date)
    config = load_config(str(REPO / "conf" / "local.yaml"), [*args.set, f"warehouse.root={warehouse}"])
    spark = build_spark_session(config.spark, "recsys-floors", config.warehouse.root,
                                delta_backend=config.warehouse.backend)
    store = TableStore(spark, config.warehouse)
    print(f"warehouse {warehouse}, run date {run_date}, Delta backend {store.backend_name}, "
          f"master {spark.sparkContext.master}, load {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    for stage in [s.strip() for s in args.stages.split(",") if s.strip()]:
        result = measure(spark, store, config, run_date, stage, scratch)
        results.append(result)
        print(f"{stage}: {result.seconds:.1f} s, {result.jobs} jobs, floor {result.floor_s:.1f} s "
              f"(load {result.load:.1f})", flush=True)
    print_table(results)
    spark.stop()
    if args.json:
        Path(args.json).write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
