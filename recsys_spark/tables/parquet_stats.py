"""Delta file statistics read from Parquet footers: exact, or left out — never guessed.

Delta readers skip files using ``numRecords`` and per-column ``minValues``/``maxValues``/
``nullCount``. Everything here comes from the footer Spark wrote: a column is described only
when every row group carries statistics for it. Floating-point, boolean, binary and nested
columns (and decimals) get no min/max (NaN ordering and nested layouts make footer values unsafe to reuse).
"""
from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pyarrow.parquet as pq

_MIN_MAX_PHYSICAL = {"INT32", "INT64", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"}


def stats_json(metadata: pq.FileMetaData) -> str:
    """The Delta ``stats`` JSON string for one Parquet file."""
    schema = metadata.schema
    min_values: dict[str, Any] = {}
    max_values: dict[str, Any] = {}
    null_count: dict[str, int] = {}
    for col_index in range(metadata.num_columns):
        column = schema.column(col_index)
        if "." in column.path:  # nested field: skip, the flat dict would misdescribe it
            continue
        name = column.path
        col_stats = [metadata.row_group(rg).column(col_index).statistics
                     for rg in range(metadata.num_row_groups)]
        if metadata.num_row_groups == 0:
            null_count[name] = 0
            continue
        if any(s is None or not s.has_null_count for s in col_stats):
            continue
        null_count[name] = int(sum(s.null_count for s in col_stats))
        if not _min_max_safe(column):
            continue
        with_values = [s for s in col_stats if s.has_min_max]
        all_null_groups = [s for s in col_stats if not s.has_min_max]
        # A row group without min/max is only acceptable when it holds nulls alone.
        if not with_values or any(s.null_count != s.num_values for s in all_null_groups):
            continue
        low = min(s.min for s in with_values)
        high = max(s.max for s in with_values)
        min_values[name] = _json_value(low, upper=False)
        max_values[name] = _json_value(high, upper=True)
    return json.dumps({"numRecords": metadata.num_rows, "minValues": min_values,
                       "maxValues": max_values, "nullCount": null_count},
                      separators=(",", ":"))


def _min_max_safe(column: pq.ColumnSchema) -> bool:
    if column.physical_type not in _MIN_MAX_PHYSICAL:
        return False  # FLOAT/DOUBLE (NaN), BOOLEAN, INT96
    logical = str(column.logical_type)
    if column.physical_type in ("BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"):
        return logical.startswith("String")  # not raw binary, not decimals (float JSON rounds)
    return True


def _json_value(value: Any, upper: bool) -> Any:
    if isinstance(value, dt.datetime):
        # Delta keeps timestamps at millisecond precision: round the max up, the min down,
        # so the range still contains every value.
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        value = value.astimezone(dt.timezone.utc)
        micros = value.microsecond
        millis = math.ceil(micros / 1000) if upper else micros // 1000
        base = value.replace(microsecond=0)
        if millis == 1000:
            base, millis = base + dt.timedelta(seconds=1), 0
        return base.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value
