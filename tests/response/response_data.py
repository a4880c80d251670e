"""Inline test data with the exact contract columns and types of the response stage's inputs."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    DateType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
)

from recsys_spark.schemas import events as contracts
from tests.schemas import nullable

UTC = dt.timezone.utc


def _schema(*fields: tuple[str, Any]) -> StructType:
    return StructType([StructField(name, tp, True) for name, tp in fields])


EVENTS = nullable(contracts.EVENTS)
PROMOTIONS = nullable(contracts.PROMOTIONS)
USERS = nullable(contracts.USERS)

USER_SEGMENTS = _schema(("user_id", StringType()), ("segment_id", StringType()),
                        ("rfm_segment", StringType()), ("run_id", StringType()),
                        ("run_date", DateType()))

USER_CATEGORY_AFFINITY = _schema(("user_id", StringType()), ("rank", IntegerType()),
                                 ("category", StringType()), ("score", DoubleType()),
                                 ("source", StringType()), ("run_id", StringType()),
                                 ("run_date", DateType()))


def ts(text: str) -> dt.datetime:
    """'2026-11-05 10:00' (or with seconds) as an aware UTC datetime."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    return dt.datetime.strptime(text, fmt).replace(tzinfo=UTC)


def event(event_id: str, when: str | dt.datetime, event_type: str, user_id: str | None,
          **values: Any) -> dict[str, Any]:
    """One events row; event_date follows event_time; unspecified columns get contract defaults."""
    moment = ts(when) if isinstance(when, str) else when
    row = {name: None for name in EVENTS.fieldNames()}
    row.update(event_id=event_id, event_time=moment, event_date=moment.date(),
               event_type=event_type, user_id=user_id, session_id=f"s-{user_id}",
               source="jsonl", source_file="test.jsonl.gz", ingested_run_id="clean-run", extra={})
    if event_type == "promo_impression":
        row.update(position=1, propensity=0.5, policy="logging")
    row.update(values)
    return row


def events_df(spark: SparkSession, rows: Iterable[Mapping[str, Any]]) -> DataFrame:
    return spark.createDataFrame([dict(r) for r in rows], EVENTS)


def promotion(promotion_id: str, promo_type: str = "percent_off", discount_value: float = 0.1,
              min_spend: float = 0.0, eligible_categories: list[str] | None = None,
              start: str = "2026-10-01", end: str = "2026-12-31", budget: int = 1000
              ) -> dict[str, Any]:
    return {"promotion_id": promotion_id, "name": f"promo {promotion_id}", "promo_type": promo_type,
            "discount_value": discount_value, "min_spend": min_spend,
            "eligible_categories": eligible_categories or [],
            "start_date": dt.date.fromisoformat(start), "end_date": dt.date.fromisoformat(end),
            "budget": budget, "run_id": "clean-run"}


def promotions_df(spark: SparkSession, rows: Iterable[Mapping[str, Any]]) -> DataFrame:
    return spark.createDataFrame([dict(r) for r in rows], PROMOTIONS)
