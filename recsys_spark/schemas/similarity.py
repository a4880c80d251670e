"""Tables the similarity stage writes: item_similarity, item_category_affinity, category_affinity."""
from __future__ import annotations

from pyspark.sql.types import DateType, DoubleType, IntegerType, LongType, StringType, StructType

from recsys_spark.schemas.spec import TableSpec, col

_RUN = [
    col("run_id", StringType(), "run that computed the row", nullable=False),
    col("run_date", DateType(), "as-of date (events with event_date <= run_date)", nullable=False),
]

ITEM_SIMILARITY = StructType([
    col("item_id", StringType(), "item", nullable=False),
    col("similar_item_id", StringType(), "neighbour item", nullable=False),
    col("score", DoubleType(), "similarity (cosine | jaccard | lift, see method)", nullable=False),
    col("rank", IntegerType(), "1..top_k per item (score desc, similar_item_id asc)", nullable=False),
    col("support", LongType(), "co-count: contexts (users, sessions) holding both items; estimated "
        "when sampling is on"),
    col("method", StringType(), "measure used: cosine | jaccard | lift", nullable=False),
    *_RUN,
])

ITEM_CATEGORY_AFFINITY = StructType([
    col("item_id", StringType(), "item", nullable=False),
    col("category", StringType(), "top-level category of the item's neighbours", nullable=False),
    col("score", DoubleType(), "share of the item's top-K similarity mass in that category"),
    col("rank", IntegerType(), "1 = strongest (score desc, category asc)"),
    *_RUN,
])

CATEGORY_AFFINITY = StructType([
    col("category", StringType(), "top-level category", nullable=False),
    col("similar_category", StringType(), "another top-level category", nullable=False),
    col("score", DoubleType(), "the configured measure on category-level co-occurrence",
        nullable=False),
    col("rank", IntegerType(), "1..n per category (score desc, similar_category asc)"),
    col("support", LongType(), "summed item-pair co-counts between the two categories"),
    col("method", StringType(), "cosine | jaccard | lift"),
    *_RUN,
])

TABLES = {
    "item_similarity": TableSpec(
        "item_similarity", ITEM_SIMILARITY,
        "Top-K item-item neighbours from weighted, time-decayed co-occurrence in user histories and "
        "sessions (SAR measures).",
        partition_by=("run_date",), keys=("run_date", "item_id", "similar_item_id"),
        written_by="similarity",
        example_queries={"Neighbours of one item": (
            "SELECT similar_item_id, score, support FROM item_similarity\n"
            "WHERE run_date = DATE'2026-11-07' AND item_id = 'i0001' ORDER BY rank")}),
    "item_category_affinity": TableSpec(
        "item_category_affinity", ITEM_CATEGORY_AFFINITY,
        "Item -> top-level category rollup of item_similarity (where an item's neighbours live).",
        partition_by=("run_date",), keys=("run_date", "item_id", "category"), written_by="similarity"),
    "category_affinity": TableSpec(
        "category_affinity", CATEGORY_AFFINITY,
        "Category <-> category affinity (top-level categories, as promotions target them).",
        partition_by=("run_date",), keys=("run_date", "category", "similar_category"),
        written_by="similarity"),
}
