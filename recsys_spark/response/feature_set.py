"""The full feature set: event features plus the optional per-run input tables, point in time.

`user_features`, `user_segments`, `user_category_affinity` and `item_similarity` are written once
per run date (partition ``run_date``) from events up to the end of that date. A probe may use the latest
snapshot dated strictly before its ``probe_time``'s date: an impression on day X sees the
snapshot of X-1 at the latest; scoring (probe_time = the first instant after the run date D)
sees the snapshot of D. A table that is missing, or whose snapshots cover too few training
rows, is left out, and the same choice (a FeatureSpec) is applied when scoring.

`user_category_affinity` (the user's top-N categories, chosen on a later window than it was fitted
on: docs/rankings.md) gives ``cat_affinity``: 1 / the rank of the user's best category that falls
under one of the promotion's eligible categories (0 when none of the N does). A rank, not the
score, because the published candidate may change from run to run (the blend, a baseline) and
its scores with it; the rank means the same thing whichever won.
`item_similarity` gives ``sim_affinity``, the similarity of the user's recent items (before the
probe) to the promotion's eligible items: defined in response/similarity_affinity.py.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, FloatType, IntegerType, LongType, ShortType

from recsys_spark.errors import SchemaMismatchError
from recsys_spark.response.similarity_affinity import similarity_affinity
from recsys_spark.response.training_features import (
    BASE_CATEGORICAL,
    BASE_NUMERIC,
    PROBE_COLUMNS,
    event_features,
    with_promotion_features,
)

log = logging.getLogger(__name__)

_NUMERIC_TYPES = (DoubleType, FloatType, IntegerType, LongType, ShortType)
_KEY_COLUMNS = {"user_id", "run_id", "run_date"}
MISSING_CATEGORY = "missing"


@dataclass(frozen=True)
class OptionalInputs:
    """Optional per-run tables (None when the table does not exist)."""

    user_features: DataFrame | None = None
    user_segments: DataFrame | None = None
    user_category_affinity: DataFrame | None = None
    item_similarity: DataFrame | None = None


@dataclass(frozen=True)
class FeatureSpec:
    """Which features the model uses. Decided on the training data, reused for scoring."""

    user_feature_columns: tuple[str, ...] = ()
    use_segments: bool = False
    use_categories: bool = False
    use_similarity: bool = False

    @property
    def numeric(self) -> tuple[str, ...]:
        extra: list[str] = []
        if self.user_feature_columns:
            extra += [f"uf_{c}" for c in self.user_feature_columns] + ["uf_present"]
        if self.use_categories:
            extra += ["cat_affinity", "cat_present"]
        if self.use_similarity:
            extra += ["sim_affinity", "sim_present"]
        return BASE_NUMERIC + tuple(extra)

    @property
    def categorical(self) -> tuple[str, ...]:
        return BASE_CATEGORICAL + (("segment_id", "rfm_segment") if self.use_segments else ())

    @property
    def assembled_columns(self) -> tuple[str, ...]:
        """The model's assembler inputs: numeric features, then one one-hot vector per category."""
        return self.numeric + tuple(f"{c}_vec" for c in self.categorical)

    @classmethod
    def from_assembled_columns(cls, columns: Sequence[str]) -> FeatureSpec:
        """The spec a saved model was trained with, from its assembler's input columns.

        Raises:
            SchemaMismatchError: the columns are not those of any spec (a model saved by another
                version); the CLI reports it as one line, exit 2.
        """
        spec = cls(user_feature_columns=tuple(c[3:] for c in columns
                                              if c.startswith("uf_") and c != "uf_present"),
                   use_segments="segment_id_vec" in columns,
                   use_categories="cat_affinity" in columns,
                   use_similarity="sim_affinity" in columns)
        if spec.assembled_columns != tuple(columns):
            raise SchemaMismatchError(f"the model's feature columns {list(columns)} are not those of this "
                             "version's feature set; retrain it with `recsys response`")
        return spec

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(name for name, used in (("user_features", bool(self.user_feature_columns)),
                                             ("user_segments", self.use_segments),
                                             ("user_category_affinity", self.use_categories),
                                             ("item_similarity", self.use_similarity)) if used)


def candidate_spec(inputs: OptionalInputs) -> FeatureSpec:
    """Everything the available tables could give (before the coverage check)."""
    uf_columns: tuple[str, ...] = ()
    if inputs.user_features is not None and "run_date" in inputs.user_features.columns:
        uf_columns = tuple(f.name for f in inputs.user_features.schema.fields
                           if f.name not in _KEY_COLUMNS and isinstance(f.dataType, _NUMERIC_TYPES))
    segments = inputs.user_segments
    use_segments = (segments is not None and "run_date" in segments.columns
                    and {"segment_id", "rfm_segment"} <= set(segments.columns))
    categories = inputs.user_category_affinity
    use_categories = categories is not None and {"run_date", "category", "rank"} <= set(categories.columns)
    sim = inputs.item_similarity
    use_similarity = sim is not None and {"run_date", "item_id", "similar_item_id",
                                          "score"} <= set(sim.columns)
    return FeatureSpec(uf_columns, use_segments, use_categories, use_similarity)


def with_snapshot_date(probes_df: DataFrame, table_df: DataFrame, column: str) -> DataFrame:
    """Add ``column``: the latest ``run_date`` of ``table_df`` before the probe time's date
    (null when none). Both sides are reduced to their distinct dates first, so the cross join
    is days x days (hundreds of rows at most), then broadcast back to the probes."""
    dates_df = table_df.select(F.col("run_date").alias("snap")).distinct()
    days_df = probes_df.select(F.to_date("probe_time").alias("probe_day")).distinct()
    mapping_df = (days_df.crossJoin(dates_df).filter(F.col("snap") < F.col("probe_day"))
                  .groupBy("probe_day").agg(F.max("snap").alias(column)))
    return (probes_df.withColumn("probe_day", F.to_date("probe_time"))
            .join(F.broadcast(mapping_df), on="probe_day", how="left").drop("probe_day"))


def with_user_features(df: DataFrame, uf_df: DataFrame, columns: Sequence[str]) -> DataFrame:
    """Add uf_<column> (0.0 when no snapshot row) and uf_present (1.0 / 0.0)."""
    snap_df = uf_df.select("user_id", F.col("run_date").alias("_uf_date"), F.lit(1.0).alias("uf_present"),
                           *[F.col(c).cast("double").alias(f"uf_{c}") for c in columns])
    return (with_snapshot_date(df, uf_df, "_uf_date")
            .join(snap_df, on=["user_id", "_uf_date"], how="left")
            .fillna(0.0, subset=["uf_present", *[f"uf_{c}" for c in columns]])
            .drop("_uf_date"))


def with_segments(df: DataFrame, seg_df: DataFrame) -> DataFrame:
    """Add segment_id and rfm_segment (MISSING_CATEGORY when no snapshot row) and seg_present."""
    snap_df = seg_df.select("user_id", F.col("run_date").alias("_seg_date"), "segment_id",
                            "rfm_segment", F.lit(1.0).alias("seg_present"))
    return (with_snapshot_date(df, seg_df, "_seg_date")
            .join(snap_df, on=["user_id", "_seg_date"], how="left")
            .fillna(MISSING_CATEGORY, subset=["segment_id", "rfm_segment"])
            .fillna(0.0, subset=["seg_present"])
            .drop("_seg_date"))


def under_eligible(category: Column, eligible: Column) -> Column:
    """True when ``category`` is one of the ``eligible`` categories or lies under one of them
    ("a.b" is under "a"), or the promotion has no eligible categories."""
    return (F.size(eligible) == 0) | F.exists(
        eligible, lambda e: (category == e) | category.startswith(F.concat(e, F.lit("."))))


def with_category_affinity(df: DataFrame, ranking_df: DataFrame) -> DataFrame:
    """Add cat_affinity: 1 / rank of the user's best-ranked category under the promotion's
    eligible categories in the latest snapshot before the probe's day (0.0 when none), and
    cat_present (1.0 when the user has a list in that snapshot)."""
    dated_df = with_snapshot_date(df, ranking_df, "_cat_date")
    snap_df = ranking_df.select("user_id", F.col("run_date").alias("_cat_date"),
                                F.col("category").alias("_cat"), F.col("rank").alias("_cat_rank"))
    # Per probe: the user's top-N rows of that snapshot (N = features.category_top_n).
    affinity_df = (dated_df.select("probe_id", "user_id", "_cat_date", "eligible_categories")
                   .join(snap_df, on=["user_id", "_cat_date"], how="inner")
                   .groupBy("probe_id")
                   .agg(F.max(F.when(under_eligible(F.col("_cat"), F.col("eligible_categories")),
                                     1.0 / F.col("_cat_rank"))).alias("cat_affinity"),
                        F.lit(1.0).alias("cat_present")))
    return (dated_df.drop("_cat_date").join(affinity_df, on="probe_id", how="left")
            .fillna(0.0, subset=["cat_affinity", "cat_present"]))


def with_similarity_affinity(df: DataFrame, sim_df: DataFrame, events_df: DataFrame | None,
                             recent_events: int) -> DataFrame:
    """Add sim_present (1.0 / 0.0: a snapshot dated before the probe's day exists) and, unless
    ``events_df`` is None (the coverage check needs only the presence), sim_affinity
    (0.0 when unknown; see response/similarity_affinity.py)."""
    dated_df = with_snapshot_date(df, sim_df, "_sim_date")
    present_df = dated_df.withColumn("sim_present", F.col("_sim_date").isNotNull().cast("double"))
    if events_df is None:
        return present_df.drop("_sim_date")
    affinity_df = similarity_affinity(dated_df, events_df, sim_df, recent_events)
    return (present_df.drop("_sim_date").join(affinity_df, on="probe_id", how="left")
            .fillna(0.0, subset=["sim_affinity"]))


def with_optional_features(df: DataFrame, inputs: OptionalInputs, spec: FeatureSpec,
                           events_df: DataFrame | None = None, recent_events: int = 20) -> DataFrame:
    """Add the optional-table features ``spec`` asks for (plus seg_present with segments).
    ``events_df`` feeds the similarity affinity (None: only its sim_present)."""
    if spec.user_feature_columns and inputs.user_features is not None:
        df = with_user_features(df, inputs.user_features, spec.user_feature_columns)
    if spec.use_segments and inputs.user_segments is not None:
        df = with_segments(df, inputs.user_segments)
    if spec.use_categories and inputs.user_category_affinity is not None:
        df = with_category_affinity(df, inputs.user_category_affinity)
    if spec.use_similarity and inputs.item_similarity is not None:
        df = with_similarity_affinity(df, inputs.item_similarity, events_df, recent_events)
    return df


def coverage(df: DataFrame, spec: FeatureSpec) -> dict[str, float]:
    """Share of rows that found a snapshot, per optional table in ``spec`` (one aggregate)."""
    present = {"user_features": "uf_present", "user_segments": "seg_present",
               "user_category_affinity": "cat_present", "item_similarity": "sim_present"}
    wanted = {name: present[name] for name in spec.sources}
    if not wanted:
        return {}
    row = df.agg(*[F.avg(col).alias(name) for name, col in wanted.items()]).first()
    return {name: float(row[name] or 0.0) for name in wanted}


def build_features(probes_df: DataFrame, events_df: DataFrame, promotions_df: DataFrame,
                   inputs: OptionalInputs, label_events: Sequence[str], lookback_days: int,
                   spec: FeatureSpec | None = None, min_coverage: float = 0.5,
                   recent_events: int = 20,
                   ) -> tuple[DataFrame, FeatureSpec, dict[str, float]]:
    """Featurise probes. With ``spec=None`` (training) every available optional table is tried
    and kept only if its coverage reaches ``min_coverage``. ``recent_events``: the N of the
    similarity affinity (the user's last N item interactions).

    Returns:
        (DataFrame of PROBE_COLUMNS + spec.categorical + spec.numeric (position is both), the
        spec used,
        coverage per optional table tried).
    """
    base_df = event_features(probes_df, events_df, promotions_df, label_events, lookback_days)
    shares: dict[str, float] = {}
    if spec is None:
        spec = candidate_spec(inputs)
        if spec.sources:
            # Coverage needs only the probes and the snapshots, not the event features.
            promo_probes_df = with_promotion_features(probes_df, promotions_df)
            shares = coverage(with_optional_features(promo_probes_df, inputs, spec), spec)
            low = {name for name, share in shares.items() if share < min_coverage}
            if low:
                log.warning("response: leaving out %s (point-in-time coverage %s < %s)",
                            sorted(low), {k: round(v, 3) for k, v in shares.items()}, min_coverage)
            spec = replace(spec,
                           user_feature_columns=() if "user_features" in low
                           else spec.user_feature_columns,
                           use_segments=spec.use_segments and "user_segments" not in low,
                           use_categories=spec.use_categories and "user_category_affinity" not in low,
                           use_similarity=spec.use_similarity and "item_similarity" not in low)
    # A promotion without an end date (say) leaves a null; the assembler needs numbers.
    out_df = (with_optional_features(base_df, inputs, spec, events_df, recent_events)
              .fillna(0.0, subset=list(spec.numeric))
              .fillna(MISSING_CATEGORY, subset=list(spec.categorical)))
    features = [c for c in (*spec.categorical, *spec.numeric) if c not in PROBE_COLUMNS]
    return out_df.select(*PROBE_COLUMNS, *features), spec, shares
