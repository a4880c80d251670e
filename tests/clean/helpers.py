"""Small builders for clean-stage tests: raw events, landing files, running the stage."""
from __future__ import annotations

import datetime as dt
import gzip
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.clean.stage import make_clean_stage
from recsys_spark.config import AppConfig
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import TableStore

RUN_DATE = dt.date(2026, 11, 2)


def event(n: int, **overrides: Any) -> dict[str, Any]:
    """A valid raw `view` event number ``n`` on RUN_DATE (fields as in RAW_FORMAT.md)."""
    base: dict[str, Any] = {
        "event_id": f"e{n:016x}", "event_time": f"2026-11-02T10:{n % 60:02d}:00.000Z",
        "event_type": "view", "user_id": f"u{n % 3}", "session_id": f"s{n % 3}",
        "item_id": f"i{n}", "category": "electronics.audio", "brand": "acme", "price": None,
        "quantity": None, "promotion_id": None, "position": None, "propensity": None,
        "policy": None}
    base.update(overrides)
    return base


def line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def write_lines(path: Path, lines: list[str | bytes], gz: bool = True) -> Path:
    """Write raw lines (str or raw bytes) as a (gzip) JSONL/CSV file; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join((x if isinstance(x, bytes) else x.encode("utf-8")) + b"\n" for x in lines)
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


def landing_day(config: AppConfig, day: dt.date = RUN_DATE) -> Path:
    return Path(config.landing.root) / "events" / f"date={day.isoformat()}"


def with_clean(config: AppConfig, **changes: Any) -> AppConfig:
    return replace(config, clean=replace(config.clean, **changes))


def run_clean(spark: SparkSession, config: AppConfig, day: dt.date = RUN_DATE,
              source: str | None = None, input_path: str | None = None,
              allow_empty: bool = False) -> StageReport:
    store = TableStore(spark, config.warehouse)
    ctx = RunContext(config=config, run_date=day, stage="clean")
    return run_stage(spark, store, ctx, make_clean_stage(source, input_path, allow_empty))


def read_table(spark: SparkSession, config: AppConfig, name: str) -> DataFrame:
    return TableStore(spark, config.warehouse).read(name)


def table_rows(spark: SparkSession, config: AppConfig, name: str) -> list[str]:
    """The table's content as sorted JSON lines (a content hash is taken of this)."""
    rows_df = read_table(spark, config, name)
    return sorted(r[0] for r in rows_df.select(F.to_json(F.struct(*rows_df.columns))).collect())
