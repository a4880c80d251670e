"""Test helpers: inline `events` / `promotions` / `users` rows with the exact clean-table types
(RAW_FORMAT.md), and an AppConfig with its warehouse in tmp_path.

A plain module (not conftest.py) so that tests import it by a unique name."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from recsys_spark.config import AppConfig
from recsys_spark.schemas import events as schemas
from recsys_spark.settings.core import LandingConfig, SparkConfig, WarehouseConfig
from tests.schemas import nullable

EVENTS = nullable(schemas.EVENTS)
PROMOTIONS = nullable(schemas.PROMOTIONS)
USERS = nullable(schemas.USERS)


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
