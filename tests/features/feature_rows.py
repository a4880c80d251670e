"""Test helpers: inline `events` / `promotions` / `users` rows with the exact clean-table types
(RAW_FORMAT.md), and an AppConfig with its warehouse in tmp_path.

A plain module (not conftest.py) so that tests import it by a unique name."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from recsys_spark.config import AppConfig, LandingConfig, SparkConfig, WarehouseConfig

EVENTS = StructType([StructField(n, t) for n, t in [
    ("event_id", StringType()), ("event_time", TimestampType()), ("event_date", DateType()),
    ("event_type", StringType()), ("user_id", StringType()), ("session_id", StringType()),
    ("item_id", StringType()), ("category", StringType()), ("brand", StringType()),
    ("price", DoubleType()), ("quantity", IntegerType()), ("promotion_id", StringType()),
    ("position", IntegerType()), ("propensity", DoubleType()), ("policy", StringType()),
    ("source", StringType()), ("source_file", StringType()), ("ingested_run_id", StringType()),
    ("extra", MapType(StringType(), StringType())),
]])

PROMOTIONS = StructType([StructField(n, t) for n, t in [
    ("promotion_id", StringType()), ("name", StringType()), ("promo_type", StringType()),
    ("discount_value", DoubleType()), ("min_spend", DoubleType()),
    ("eligible_categories", ArrayType(StringType())), ("start_date", DateType()),
    ("end_date", DateType()), ("budget", LongType()), ("run_id", StringType()),
]])

USERS = StructType([StructField(n, t) for n, t in [
    ("user_id", StringType()), ("signup_date", DateType()), ("region", StringType()),
    ("device", StringType()), ("run_id", StringType()),
]])


def event(n: int, day: str, event_type: str, user_id: str | None, item_id: str | None = None,
          category: str | None = None, price: float | None = None, quantity: int | None = None,
          promotion_id: str | None = None, session_id: str | None = None, hour: int = 10) -> dict[str, Any]:
    """One clean `events` row; event_time is ``day`` at ``hour`` plus ``n`` seconds."""
    date = dt.date.fromisoformat(day)
    return {"event_id": f"e{n:06d}", "event_time": dt.datetime(date.year, date.month, date.day, hour) +
            dt.timedelta(seconds=n), "event_date": date, "event_type": event_type, "user_id": user_id,
            "session_id": session_id or f"s-{user_id}-{day}", "item_id": item_id, "category": category,
            "brand": None, "price": price, "quantity": quantity, "promotion_id": promotion_id,
            "position": None, "propensity": None, "policy": None, "source": "jsonl",
            "source_file": "test", "ingested_run_id": "r0", "extra": {}}


def events_frame(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    return spark.createDataFrame(rows, EVENTS)


def app_config(tmp_path: Path, **sections: Any) -> AppConfig:
    """An AppConfig whose warehouse is under ``tmp_path`` (delta-rs backend), with ``sections``."""
    values: dict[str, Any] = {
        "warehouse": WarehouseConfig(root=str(tmp_path / "warehouse"), backend="delta_rs"),
        "landing": LandingConfig(root=str(tmp_path / "landing")),
        "spark": SparkConfig(master="local[2]", shuffle_partitions=2),
    }
    values.update(sections)
    return AppConfig(**values)
