"""Reading the warehouse without Spark (pandas, Arrow, DuckDB) in a way that exits cleanly.

With deltalake 1.6.x and pyarrow 21-26, reading a table's data through delta-rs' own file
system (``DeltaTable(...).to_pyarrow_table()``, ``to_pyarrow_dataset()`` scanned by DuckDB, and
sometimes ``to_pandas()``) aborts the interpreter at exit in 5-65% of runs ("terminate called
without an active exception", exit code 134): a shutdown-order race between delta-rs' Rust I/O
threads and Arrow's C++ thread pools (delta-io/delta-rs#2184; polars#24169). No released pin pair
avoids it (docs/tables.md lists what was tried). Handing deltalake a pyarrow file system keeps
the file reads in Arrow: the log still decides which files and partition values make the
version, Arrow only opens them. ``RECIPES`` are the documented consumer reads, each exercised
20 times in a subprocess by tests/foundation/test_consumer_recipes.py.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
from deltalake import DeltaTable

from recsys_spark import filesystems
from recsys_spark.tables.delta_log import delta_rs_uri


def arrow_filesystem(table_uri: str) -> pafs.FileSystem:
    """A pyarrow file system rooted at the table folder (local, s3://, hdfs://, ...)."""
    fs, root = filesystems.arrow_filesystem(table_uri)  # hdfs:// through delta-rs' client
    return pafs.SubTreeFileSystem(root, fs)


def read_arrow(table_uri: str, version: int | None = None, columns: Sequence[str] | None = None,
               filters: list[tuple[str, str, Any]] | None = None) -> pa.Table:
    """The table (at ``version``) as an Arrow table, read by Arrow's own file system."""
    delta = DeltaTable(delta_rs_uri(table_uri), version=version)
    return delta.to_pyarrow_table(columns=list(columns) if columns else None, filters=filters,
                                  filesystem=arrow_filesystem(table_uri))


def arrow_dataset(table_uri: str, version: int | None = None) -> pads.Dataset:
    """The table as a lazy pyarrow dataset (DuckDB, Polars and Arrow scan it) on Arrow's file
    system, with partition values from the log."""
    delta = DeltaTable(delta_rs_uri(table_uri), version=version)
    return delta.to_pyarrow_dataset(filesystem=arrow_filesystem(table_uri))


# The documented consumer reads ({table} is the table folder). Each keeps the workaround.
RECIPES: dict[str, str] = {
    "to_pandas": (
        "import pyarrow.fs as pafs\n"
        "from deltalake import DeltaTable\n"
        "table = '{table}'\n"
        "fs = pafs.SubTreeFileSystem(table, pafs.LocalFileSystem())\n"
        "df = DeltaTable(table).to_pandas(filesystem=fs)\n"
        "print(len(df))\n"),
    "to_pyarrow_table": (
        "import pyarrow.fs as pafs\n"
        "from deltalake import DeltaTable\n"
        "table = '{table}'\n"
        "fs = pafs.SubTreeFileSystem(table, pafs.LocalFileSystem())\n"
        "arrow_table = DeltaTable(table).to_pyarrow_table(filesystem=fs)\n"
        "print(arrow_table.num_rows)\n"),
    "to_pyarrow_dataset_duckdb": (
        "import duckdb\n"
        "import pyarrow.fs as pafs\n"
        "from deltalake import DeltaTable\n"
        "table = '{table}'\n"
        "fs = pafs.SubTreeFileSystem(table, pafs.LocalFileSystem())\n"
        "dataset = DeltaTable(table).to_pyarrow_dataset(filesystem=fs)\n"
        "print(duckdb.sql('SELECT count(*) FROM dataset').fetchone()[0])\n"),
}
