"""What every way of building a dimension produces: the table's new full state."""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from recsys_spark.schemas.events import ITEMS, PROMOTIONS, USERS

ITEMS_TABLE, USERS_TABLE, PROMOTIONS_TABLE = "items", "users", "promotions"
DIM_SCHEMAS: dict[str, StructType] = {ITEMS_TABLE: ITEMS, USERS_TABLE: USERS,
                                      PROMOTIONS_TABLE: PROMOTIONS}
DIM_KEYS: dict[str, str] = {ITEMS_TABLE: "item_id", USERS_TABLE: "user_id",
                            PROMOTIONS_TABLE: "promotion_id"}
# `origin` of a row of items / promotions: a shop's catalog, or derived from the logs.
CATALOG, DERIVED = "catalog", "derived"


@dataclass(frozen=True)
class DimSnapshot:
    """A dimension's new full state: ``df`` has the table's columns (run_id is stamped by the
    write); ``rows_without_key`` counts landing-snapshot rows dropped for lacking a key."""

    table: str
    df: DataFrame
    rows_without_key: int = 0
