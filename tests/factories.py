"""Test rows and configs built from the project's own contracts (recsys_spark/schemas), so a test
never redeclares a table's columns and its rows always have the table's exact names and types.

    rows = [event(1, "2026-11-01", "view", "u1", item_id="i1"), ...]
    events_df = frame(spark, "events", rows)
    config = make_config(tmp_path, bandit=BanditConfig(slots_per_user=1))
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructField, StructType

from recsys_spark.config import AppConfig
from recsys_spark.schemas import ALL_TABLES
from recsys_spark.settings.core import LandingConfig, SparkConfig, WarehouseConfig


def nullable_schema(table: str) -> StructType:
    """The table's schema with every column nullable: test rows may leave out what a case does
    not need, while names, types and order stay exactly the contract's."""
    return StructType([StructField(f.name, f.dataType, True, f.metadata)
                       for f in ALL_TABLES[table].schema.fields])


def row(table: str, **values: Any) -> dict[str, Any]:
    """One row of ``table``: every column None unless given.

    Raises:
        KeyError: a keyword is not a column of the table (a typo would otherwise pass silently).
    """
    columns = ALL_TABLES[table].schema.fieldNames()
    unknown = sorted(set(values) - set(columns))
    if unknown:
        raise KeyError(f"{table} has no columns {unknown}")
    return {c: values.get(c) for c in columns}


def frame(spark: SparkSession, table: str, rows: Iterable[Mapping[str, Any]]) -> DataFrame:
    """A DataFrame of ``table``'s (nullable) schema from keyword rows (see :func:`row`)."""
    return spark.createDataFrame([row(table, **r) for r in rows], nullable_schema(table))


def event(n: int, day: str, event_type: str, user_id: str | None, *, hour: int = 10,
          **values: Any) -> dict[str, Any]:
    """One clean `events` row: event_id ``e<n>``, event_time ``day`` at ``hour`` plus ``n``
    seconds (UTC), a session per user and day; any other column by keyword."""
    date = dt.date.fromisoformat(day)
    when = dt.datetime(date.year, date.month, date.day, hour, tzinfo=dt.timezone.utc)
    defaults = {"event_id": f"e{n:06d}", "event_time": when + dt.timedelta(seconds=n),
                "event_date": date, "event_type": event_type, "user_id": user_id,
                "session_id": f"s-{user_id}-{day}", "source": "jsonl", "source_file": "test",
                "ingested_run_id": "r0", "extra": {}}
    return row("events", **{**defaults, **values})


def promotion(promotion_id: str, *, start: str = "2026-11-01", end: str = "2026-11-30",
              **values: Any) -> dict[str, Any]:
    """One `promotions` row running ``start``..``end``; budget etc. by keyword."""
    defaults = {"promotion_id": promotion_id, "name": promotion_id, "promo_type": "percent_off",
                "discount_value": 0.1, "min_spend": 0.0, "eligible_categories": [],
                "start_date": dt.date.fromisoformat(start), "end_date": dt.date.fromisoformat(end),
                "budget": None, "run_id": "r0"}
    return row("promotions", **{**defaults, **values})


def make_config(tmp_path: Path, backend: str = "delta_rs", **sections: Any) -> AppConfig:
    """An AppConfig with its warehouse and landing under ``tmp_path`` and ``sections`` given."""
    values: dict[str, Any] = {
        "warehouse": WarehouseConfig(root=str(tmp_path / "warehouse"), backend=backend),  # type: ignore[arg-type]
        "landing": LandingConfig(root=str(tmp_path / "landing")),
        "spark": SparkConfig(master="local[2]", shuffle_partitions=2),
    }
    values.update(sections)
    return AppConfig(**values)
