"""Reading a Delta transaction log with delta-rs: versions, schema, history, transaction ids.

Both backends write standard Delta logs, so this metadata access serves both.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from pyspark.sql.types import StructType

from recsys_spark.errors import TableError, UnknownTableError
from recsys_spark.tables.model import HistoryEntry

# object_store speaks s3:// where Hadoop speaks s3a://
_DELTA_RS_SCHEMES = {"s3a://": "s3://", "s3n://": "s3://"}


def delta_rs_uri(uri: str) -> str:
    for hadoop, native in _DELTA_RS_SCHEMES.items():
        if uri.startswith(hadoop):
            return native + uri[len(hadoop):]
    return uri


def open_table(uri: str, name: str, version: int | None = None,
               as_of: dt.datetime | None = None) -> DeltaTable:
    """Open a table at its latest version, at ``version`` or as of a timestamp.

    Raises:
        UnknownTableError: no Delta table at ``uri``.
        TableError: the version or timestamp does not exist.
    """
    try:
        table = DeltaTable(delta_rs_uri(uri))
    except TableNotFoundError:
        raise UnknownTableError(f"unknown table {name!r}: no Delta table at {uri}") from None
    try:
        if version is not None:
            table.load_as_version(version)
        elif as_of is not None:
            stamp = as_of if as_of.tzinfo else as_of.replace(tzinfo=dt.timezone.utc)
            table.load_as_version(stamp)
    except Exception as exc:  # delta-rs raises a generic DeltaError for both cases
        what = f"version {version}" if version is not None else f"timestamp {as_of}"
        raise TableError(f"table {name}: cannot load {what}: {exc}") from None
    return table


def try_open(uri: str) -> DeltaTable | None:
    """The table at ``uri``, or None when there is none yet."""
    try:
        return DeltaTable(delta_rs_uri(uri))
    except TableNotFoundError:
        return None


def spark_schema(table: DeltaTable) -> StructType:
    """The table's schema as a Spark StructType (Delta's schema JSON is Spark's)."""
    return StructType.fromJson(json.loads(table.schema().to_json()))


def partition_columns(table: DeltaTable) -> list[str]:
    return list(table.metadata().partition_columns)


def add_actions(table: DeltaTable) -> pa.Table:
    """The live files of the loaded version: path, size, stats and ``partition.<col>`` values."""
    return pa.table(table.get_add_actions(flatten=True))


_COMPARE = {"=": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal,
            ">": pc.greater, ">=": pc.greater_equal}


def prune(actions: pa.Table, filters: Sequence[tuple[str, str, Any]], partition_cols: list[str],
          name: str) -> pa.Table:
    """Keep the add actions whose partition values satisfy every filter.

    Raises:
        TableError: a filter names a column the table is not partitioned by, or an unknown
            operator.
    """
    for column, op, value in filters:
        if column not in partition_cols:
            raise TableError(f"table {name}: cannot prune on {column!r}; partition columns are "
                             f"{partition_cols}")
        if actions.num_rows == 0:
            return actions
        values = actions.column(f"partition.{column}")
        if op == "in":
            mask = pc.is_in(values, value_set=pa.array(list(value), type=values.type))
        elif op in _COMPARE:
            mask = _COMPARE[op](values, pa.scalar(value, type=values.type))
        else:
            raise TableError(f"table {name}: unknown partition filter operator {op!r}")
        actions = actions.filter(pc.fill_null(mask, False))
    return actions


def row_count(table: DeltaTable) -> int | None:
    """Rows in the loaded version from file statistics; None when a file has no count."""
    actions = add_actions(table)
    if actions.num_rows == 0:
        return 0
    if "num_records" not in actions.column_names:
        return None
    counts = actions.column("num_records").to_pylist()
    return None if any(c is None for c in counts) else int(sum(counts))


def history(table: DeltaTable, limit: int | None = None) -> list[HistoryEntry]:
    """Commits, newest first, with the run id and stage each commit recorded."""
    entries = []
    for commit in table.history(limit):
        metadata = {k: str(v) for k, v in commit.items() if k in _custom_keys(commit)}
        metadata.update(_user_metadata(commit.get("userMetadata")))
        entries.append(HistoryEntry(
            version=int(commit["version"]),
            timestamp_ms=int(commit.get("timestamp", 0)),
            operation=str(commit.get("operation", "")),
            run_id=metadata.get("run_id"),
            stage=metadata.get("stage"),
            metadata=metadata))
    return entries


def _user_metadata(raw: Any) -> dict[str, str]:
    # The native backend records the commit info as JSON in Delta's userMetadata field.
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return {"userMetadata": str(raw)}
    return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}


_STANDARD_COMMIT_KEYS = {"timestamp", "operation", "operationParameters", "engineInfo",
                         "clientVersion", "version", "readVersion", "isBlindAppend",
                         "operationMetrics", "userMetadata", "txnId", "isolationLevel"}


def _custom_keys(commit: dict[str, Any]) -> set[str]:
    return {k for k in commit if k not in _STANDARD_COMMIT_KEYS}


CHANGE_DATA_FEED = "delta.enableChangeDataFeed"


def require_change_data_feed(table: DeltaTable, name: str) -> None:
    """Raises TableError unless the table records its changes (Change Data Feed)."""
    if table.metadata().configuration.get(CHANGE_DATA_FEED, "false").lower() != "true":
        raise TableError(f"table {name} does not record its changes ({CHANGE_DATA_FEED} is off; "
                         "it is set when the table is created from its TableSpec)")


@dataclass(frozen=True)
class CommitActions:
    """The file actions of one commit, as written in ``_delta_log/<version>.json``."""

    version: int
    timestamp_ms: int
    adds: list[dict[str, Any]]
    removes: list[dict[str, Any]]
    cdc: list[dict[str, Any]]


def commit_actions(uri: str, version: int) -> CommitActions:
    """Read one commit file of the log (small: one JSON line per action).

    Raises:
        TableError: the commit file is gone (log cleanup removed it).
    """
    from recsys_spark.filesystems import arrow_filesystem  # it imports this module

    fs, root = arrow_filesystem(uri)
    path = f"{root}/_delta_log/{version:020d}.json"
    try:
        with fs.open_input_stream(path) as stream:
            lines = stream.read().decode("utf-8").splitlines()
    except FileNotFoundError:
        raise TableError(f"{uri}: commit {version} is no longer in the log") from None
    actions = [json.loads(line) for line in lines if line.strip()]
    info = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
    return CommitActions(version, int(info.get("timestamp", 0)),
                         [a["add"] for a in actions if "add" in a],
                         [a["remove"] for a in actions if "remove" in a],
                         [a["cdc"] for a in actions if "cdc" in a])
