"""Tiny inline inputs with the contract columns, written into a tmp warehouse."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    DateType,
    DoubleType,
    StringType,
    StructField,
    StructType,
)

from recsys_spark.schemas import events as contracts
from recsys_spark.tables import CommitInfo, TableStore
from tests.schemas import nullable

RUN_DATE = dt.date(2026, 11, 20)
UTC = dt.timezone.utc

EVENTS = nullable(contracts.EVENTS)
PROMOTIONS = nullable(contracts.PROMOTIONS)
SCORES = StructType([
    StructField("user_id", StringType()), StructField("promotion_id", StringType()),
    StructField("p_response", DoubleType()), StructField("model_run_id", StringType()),
    StructField("run_id", StringType()), StructField("run_date", DateType()),
])
SEGMENTS = StructType([
    StructField("user_id", StringType()), StructField("segment_id", StringType()),
    StructField("rfm_segment", StringType()), StructField("run_id", StringType()),
    StructField("run_date", DateType()),
])


def event(eid: str, when: dt.datetime, etype: str, user: str | None, promo: str | None,
          position: int | None = None) -> tuple:
    prop = 0.5 if etype == "promo_impression" else None
    return (eid, when, when.date(), etype, user, "s-" + (user or "anon"), None, None, None, None, None,
            promo, position, prop, "thompson" if prop else None, "jsonl", "f", "r0", {})


def promotion(pid: str, ptype: str, budget: int, start: dt.date = dt.date(2026, 11, 1),
              end: dt.date = dt.date(2026, 11, 30)) -> tuple:
    return (pid, pid.upper(), ptype, 0.1, 0.0, [], start, end, budget, "r0")


def write(spark: SparkSession, store: TableStore, table: str, rows: list[tuple], schema: StructType,
          partition_by: tuple[str, ...] = ()) -> DataFrame:
    df = spark.createDataFrame(rows, schema)
    store.write(df, table, "overwrite", CommitInfo(run_id="test", stage="test"),
                partition_by=list(partition_by))
    return df


def scores_rows(p: dict[tuple[str, str], float]) -> list[tuple]:
    return [(u, pr, v, "m1", "r1", RUN_DATE) for (u, pr), v in sorted(p.items())]


def segments_rows(seg: dict[str, str]) -> list[tuple]:
    return [(u, s, "x", "r1", RUN_DATE) for u, s in sorted(seg.items())]


def make_config(tmp_path, **sections):
    """An AppConfig with its warehouse under ``tmp_path`` (as tests/conftest.py's make_config)."""
    from recsys_spark.config import AppConfig
    from recsys_spark.settings.core import LandingConfig, SparkConfig, WarehouseConfig

    values = {"warehouse": WarehouseConfig(root=str(tmp_path / "warehouse"), backend="delta_rs"),
              "landing": LandingConfig(root=str(tmp_path / "landing")),
              "spark": SparkConfig(master="local[2]", shuffle_partitions=2)}
    values.update(sections)
    return AppConfig(**values)
