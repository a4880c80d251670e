"""Tables the als stage writes: id map, factors, recommendations, category affinity."""
from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructType,
)

from recsys_spark.schemas.spec import TableSpec, col

_RUN_ID = col("run_id", StringType(), "run that wrote the row", nullable=False)
_RUN_DATE = col("run_date", DateType(), "run date (partition)", nullable=False)

ALS_ID_MAP = StructType([
    col("kind", StringType(), "user | item (partition)", nullable=False),
    col("id", StringType(), "user_id or item_id", nullable=False),
    col("idx", LongType(), "the integer ALS uses; never changes once assigned", nullable=False),
    col("run_id", StringType(), "run that first assigned the index", nullable=False),
    col("run_date", DateType(), "run date that first assigned the index", nullable=False),
])

ALS_USER_FACTORS = StructType([
    col("user_id", StringType(), "user", nullable=False),
    col("features", ArrayType(FloatType(), containsNull=True), "latent factor vector (length rank)"),
    _RUN_ID, _RUN_DATE,
])

ALS_ITEM_FACTORS = StructType([
    col("item_id", StringType(), "item", nullable=False),
    col("features", ArrayType(FloatType(), containsNull=True), "latent factor vector (length rank)"),
    _RUN_ID, _RUN_DATE,
])

ALS_RECOMMENDATIONS = StructType([
    col("user_id", StringType(), "user", nullable=False),
    col("rank", IntegerType(), "1 = best", nullable=False),
    col("item_id", StringType(), "recommended item", nullable=False),
    col("score", DoubleType(), "als: factor dot product; popular/segment: users who interacted"),
    col("source", StringType(), "als | segment (cold start, popular in the user's segment) | "
                                "popular (cold start, globally popular)", nullable=False),
    _RUN_ID, _RUN_DATE,
])

ALS_CATEGORY_AFFINITY = StructType([
    col("user_id", StringType(), "user with factors", nullable=False),
    col("category", StringType(), "TOP-level category", nullable=False),
    col("score", DoubleType(), "user factor . mean item factor of the category"),
    _RUN_ID, _RUN_DATE,
])

TABLES = {
    "als_id_map": TableSpec(
        "als_id_map", ALS_ID_MAP,
        "String ids -> the integer indices ALS uses. Append-only: an id keeps its index for "
        "ever; new ids get max+1.. in a deterministic order. Join it to read ALS output by index.",
        partition_by=("kind",), keys=("kind", "id"), written_by="als", write_mode="append"),
    "als_user_factors": TableSpec(
        "als_user_factors", ALS_USER_FACTORS, "Implicit-ALS user factors of the run's model.",
        partition_by=("run_date",), keys=("run_date", "user_id"), written_by="als"),
    "als_item_factors": TableSpec(
        "als_item_factors", ALS_ITEM_FACTORS, "Implicit-ALS item factors of the run's model.",
        partition_by=("run_date",), keys=("run_date", "item_id"), written_by="als"),
    "als_recommendations": TableSpec(
        "als_recommendations", ALS_RECOMMENDATIONS,
        "Top-N items per user, scored over candidates (top categories' items + popular items), "
        "purchased items excluded (configurable); cold-start users get segment/popular items.",
        partition_by=("run_date",), keys=("run_date", "user_id", "rank"), written_by="als",
        example_queries={"A user's list": (
            "SELECT rank, item_id, score, source FROM als_recommendations\n"
            "WHERE run_date = DATE'2026-11-30' AND user_id = 'u000001' ORDER BY rank")}),
    "als_category_affinity": TableSpec(
        "als_category_affinity", ALS_CATEGORY_AFFINITY,
        "User x top-level category fit: user factor . mean item factor of the category.",
        partition_by=("run_date",), keys=("run_date", "user_id", "category"), written_by="als"),
}
