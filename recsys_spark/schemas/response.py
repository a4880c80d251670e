"""Tables the response stage writes: promotion_scores, response_training_set."""
from __future__ import annotations

from pyspark.sql.types import (
    DateType,
    DoubleType,
    IntegerType,
    MapType,
    StringType,
    StructType,
    TimestampType,
)

from recsys_spark.schemas.spec import TableSpec, col

PROMOTION_SCORES = StructType([
    col("user_id", StringType(), "user", nullable=False),
    col("promotion_id", StringType(), "an active promotion the user is eligible for", nullable=False),
    col("p_response", DoubleType(), "calibrated probability that the user responds (click or "
        "redeem, as configured) within the attribution window if shown at the scoring position",
        nullable=False),
    col("model_run_id", StringType(), "run id of the model that scored (its files are under "
        "<warehouse>/_models/response/<model_run_id>)", nullable=False),
    col("run_id", StringType(), "run that wrote the row", nullable=False),
    col("run_date", DateType(), "run date: scores use events up to the end of this date",
        nullable=False),
])

RESPONSE_TRAINING_SET = StructType([
    col("impression_id", StringType(), "event_id of the logged promo_impression", nullable=False),
    col("user_id", StringType(), "user shown the promotion", nullable=False),
    col("promotion_id", StringType(), "promotion shown", nullable=False),
    col("impression_time", TimestampType(), "when it was shown (UTC)"),
    col("position", IntegerType(), "slot it was shown in"),
    col("propensity", DoubleType(), "logging policy's probability of this impression"),
    col("label", IntegerType(), "1 = responded within the attribution window"),
    col("split", StringType(), "train | validation | test (chronological)"),
    col("promo_type", StringType(), "promotion type"),
    col("features", MapType(StringType(), DoubleType()),
        "numeric point-in-time features, from events strictly before impression_time"),
    col("run_id", StringType(), "run that wrote the row", nullable=False),
    col("run_date", DateType(), "run date", nullable=False),
])

TABLES = {
    "promotion_scores": TableSpec(
        "promotion_scores", PROMOTION_SCORES,
        "Calibrated response probability for every eligible (user, active promotion) pair: "
        "active on the run date, budget left, targeting matched, user not excluded.",
        partition_by=("run_date",), keys=("run_date", "user_id", "promotion_id"),
        written_by="response",
        example_queries={"Best promotion per user": (
            "SELECT user_id, max_by(promotion_id, p_response) AS promotion_id\n"
            "FROM promotion_scores WHERE run_date = DATE'2026-11-30' GROUP BY user_id")}),
    "response_training_set": TableSpec(
        "response_training_set", RESPONSE_TRAINING_SET,
        "Labelled, featurised promo impressions the response model was trained, validated and "
        "tested on (written when response.write_training_set is true).",
        partition_by=("run_date",), keys=("run_date", "impression_id"), written_by="response"),
}
