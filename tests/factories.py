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
from recsys_spark.domain.events import PROMO_IMPRESSION
from recsys_spark.schemas import ALL_TABLES
from recsys_spark.settings.core import LandingConfig, SparkConfig, WarehouseConfig
from recsys_spark.tables import CommitInfo, TableStore

SETUP = CommitInfo(run_id="test-setup", stage="test")


def nullable_schema(table: str) -> StructType:
    """The table's schema with every column nullable and without the column comments: test rows
    may leave out what a case does not need, while names, types and order stay exactly the
    contract's (and a result computed from them compares with an expected frame built inline)."""
    return StructType([StructField(f.name, f.dataType, True)
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


def ts(text: str) -> dt.datetime:
    """'2026-11-05 10:00' (or with seconds) as an aware UTC datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


def _moment(when: str | dt.date | dt.datetime) -> dt.datetime | dt.date:
    """A day ('2026-11-01', a date) or an exact moment ('2026-11-01 10:30[:15]', an aware
    datetime)."""
    if isinstance(when, str):
        return dt.date.fromisoformat(when) if len(when) == 10 else ts(when)
    return when


def event(n: int | str, when: str | dt.date | dt.datetime, event_type: str, user_id: str | None, *,
          hour: int = 10, **values: Any) -> dict[str, Any]:
    """One clean `events` row; any other column by keyword.

    ``n`` is the event number (event_id ``e<n>``, six digits) or the event_id itself. ``when``
    is a day (event_date), the event then at ``hour`` plus ``n`` seconds (UTC), or an exact
    moment (see :func:`_moment`) whose UTC date is the event_date. One session per user and day. A
    promo_impression carries what the clean stage requires of one (position 1, propensity 0.5,
    policy "logging") unless given.
    """
    moment = _moment(when)
    if isinstance(moment, dt.datetime):
        day = moment.astimezone(dt.timezone.utc).date()
    else:
        day, seconds = moment, n if isinstance(n, int) else 0
        moment = (dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc)
                  + dt.timedelta(seconds=seconds))
    defaults: dict[str, Any] = {
        "event_id": f"e{n:06d}" if isinstance(n, int) else n, "event_time": moment,
        "event_date": day, "event_type": event_type, "user_id": user_id,
        "session_id": f"s-{user_id}-{day.isoformat()}", "source": "jsonl", "source_file": "test",
        "ingested_run_id": "r0", "extra": {}}
    if event_type == PROMO_IMPRESSION:
        defaults.update(position=1, propensity=0.5, policy="logging")
    return row("events", **{**defaults, **values})


def _date(day: str | dt.date | None) -> dt.date | None:
    return dt.date.fromisoformat(day) if isinstance(day, str) else day


def promotion(promotion_id: str, *, start: str | dt.date = "2026-11-01",
              end: str | dt.date = "2026-11-30", **values: Any) -> dict[str, Any]:
    """One `promotions` row running ``start``..``end``; budget (default None: unlimited) etc. by
    keyword."""
    defaults = {"promotion_id": promotion_id, "name": promotion_id, "promo_type": "percent_off",
                "discount_value": 0.1, "min_spend": 0.0, "eligible_categories": [],
                "start_date": _date(start), "end_date": _date(end), "budget": None, "run_id": "r0"}
    return row("promotions", **{**defaults, **values})


def score(user_id: str, promotion_id: str, p_response: float, *, run_date: str | dt.date,
          model_run_id: str = "m1", run_id: str = "r1") -> dict[str, Any]:
    """One `promotion_scores` row of the response run ``run_date``."""
    return row("promotion_scores", user_id=user_id, promotion_id=promotion_id,
               p_response=p_response, model_run_id=model_run_id, run_id=run_id,
               run_date=_date(run_date))


def segment(user_id: str, segment_id: str, *, run_date: str | dt.date, rfm_segment: str | None = None,
            run_id: str = "r1", **values: Any) -> dict[str, Any]:
    """One `user_segments` row of the features run ``run_date``."""
    return row("user_segments", user_id=user_id, segment_id=segment_id, rfm_segment=rfm_segment,
               run_id=run_id, run_date=_date(run_date), **values)


# How the clean stage lays out `events` (the contract's partitioning), for setups that write it.
EVENTS_PARTITIONS = list(ALL_TABLES["events"].partition_by)


def write_rows(spark: SparkSession, store: TableStore, table: str,
               rows: Iterable[Mapping[str, Any]], mode: str = "overwrite") -> DataFrame:
    """Commit ``rows`` to ``table`` as the writing stage would lay it out (the spec's
    partitioning), as a setup commit; returns the DataFrame written."""
    df = frame(spark, table, rows)
    store.write(df, table, mode, SETUP, partition_by=list(ALL_TABLES[table].partition_by))
    return df


def make_config(tmp_path: Path, backend: str = "delta_rs", **sections: Any) -> AppConfig:
    """An AppConfig with its warehouse and landing under ``tmp_path`` and ``sections`` given."""
    values: dict[str, Any] = {
        "warehouse": WarehouseConfig(root=str(tmp_path / "warehouse"), backend=backend),  # type: ignore[arg-type]
        "landing": LandingConfig(root=str(tmp_path / "landing")),
        "spark": SparkConfig(master="local[2]", shuffle_partitions=2),
    }
    values.update(sections)
    return AppConfig(**values)
