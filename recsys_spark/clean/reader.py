"""Reading raw files as text lines, each with its source file and 1-based line number.

Every adapter starts from these lines, so a record that fails to parse is still kept with its
raw text for quarantine. Files are listed on the driver (pyarrow file systems: local paths and
object stores) so that a file Spark cannot decode at all (a corrupt gzip) is noticed and
quarantined whole instead of vanishing or killing the job.
"""
from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow.fs as pafs
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from recsys_spark.errors import RecsysError
from recsys_spark.paths import has_scheme, normalize_root
from recsys_spark.tables.delta_log import delta_rs_uri

log = logging.getLogger(__name__)

# The columns every adapter receives.
LINES_SCHEMA = StructType([
    StructField("value", StringType(), True),          # null for a file that could not be read
    StructField("source_file", StringType(), False),
    StructField("line_number", LongType(), True),       # null for a file that could not be read
])
_READ_CHUNK = 1 << 20


class CleanInputError(RecsysError):
    """The raw input of a clean run is missing or not usable (names the path)."""


@dataclass(frozen=True)
class InputFile:
    path: str       # what Spark reads (a local path or a URI)
    size: int


@dataclass(frozen=True)
class RawLines:
    """The lines of one run's input, plus what the driver learnt while numbering them."""

    lines_df: DataFrame
    files: tuple[InputFile, ...]
    unreadable_files: tuple[str, ...]
    blank_lines: int


def list_input_files(path: str, suffixes: Sequence[str], exclude_names: Sequence[str] = ()
                     ) -> list[InputFile]:
    """Data files under ``path`` (a file or a folder, searched recursively), sorted by path.

    Names starting with ``_`` or ``.`` (markers, checksums) and names in ``exclude_names`` are
    skipped; only names ending with one of ``suffixes`` count.

    Raises:
        CleanInputError: ``path`` does not exist.
    """
    root = normalize_root(path)
    fs, base = pafs.FileSystem.from_uri(delta_rs_uri(root))
    info = fs.get_file_info(base)
    if info.type == pafs.FileType.NotFound:
        raise CleanInputError(f"input not found: {path}")
    if info.type == pafs.FileType.File:
        infos = [info]
    else:
        infos = [i for i in fs.get_file_info(pafs.FileSelector(base, recursive=True))
                 if i.type == pafs.FileType.File]
    prefix = root[: len(root) - len(base)] if has_scheme(root) and root.endswith(base) else ""
    out = [InputFile(prefix + i.path if has_scheme(root) else i.path, int(i.size or 0))
           for i in infos
           if not any(part.startswith(("_", ".")) for part in i.path[len(base):].split("/"))
           and i.base_name not in exclude_names
           and i.base_name.lower().endswith(tuple(suffixes))]
    return sorted(out, key=lambda f: f.path)


def file_key(file_path: Column) -> Column:
    """Spark's file URI as the plain path the driver listed (``file:/x`` -> ``/x``)."""
    return F.url_decode(F.regexp_replace(F.regexp_replace(file_path, r"^file:(//)?", ""),
                                         r"\+", "%2B"))


def read_lines(spark: SparkSession, files: Sequence[InputFile]) -> RawLines:
    """All lines of ``files`` with ``source_file`` and exact 1-based ``line_number``.

    Line numbers come without a full sort: within one file split ("block") Spark reads lines in
    order and ``monotonically_increasing_id`` grows by one per row, so a line's number is its
    id minus the block's first id plus the lines of the earlier blocks of the same file. The
    per-block figures are a small aggregate (one row per block) collected on the driver.
    Whitespace-only lines are not records: they are dropped and counted in ``blank_lines``.
    """
    if not files:
        return RawLines(spark.createDataFrame([], LINES_SCHEMA), (), (), 0)
    # A corrupt file must not kill the job: Spark skips it and the driver notices it below.
    raw_df = (spark.read.option("ignoreCorruptFiles", "true").text([f.path for f in files])
              .select(F.col("value"),
                      file_key(F.col("_metadata.file_path")).alias("source_file"),
                      F.col("_metadata.file_block_start").alias("block_start"),
                      F.monotonically_increasing_id().alias("row_id")))
    block_rows = (raw_df.groupBy("source_file", "block_start")
                  .agg(F.min("row_id").alias("first_row_id"), F.count(F.lit(1)).alias("rows"),
                       F.sum(F.when(F.trim("value") == "", 1).otherwise(0)).alias("blank"))
                  .collect())
    offsets: list[tuple[str, int, int, int]] = []
    rows_per_file: dict[str, int] = {}
    blank_lines = 0
    for row in sorted(block_rows, key=lambda r: (r["source_file"], r["block_start"])):
        seen = rows_per_file.get(row["source_file"], 0)
        offsets.append((row["source_file"], int(row["block_start"]), int(row["first_row_id"]), seen))
        rows_per_file[row["source_file"]] = seen + int(row["rows"])
        blank_lines += int(row["blank"])
    offsets_df = spark.createDataFrame(offsets, "source_file string, block_start long, "
                                                "first_row_id long, lines_before long")
    lines_df = (raw_df.join(F.broadcast(offsets_df), ["source_file", "block_start"], "inner")
                .where(F.trim("value") != "")
                .select("value", "source_file",
                        (F.col("row_id") - F.col("first_row_id") + F.col("lines_before") + 1)
                        .alias("line_number")))
    unreadable = tuple(f.path for f in files
                       if f.path not in rows_per_file and f.size > 0 and not _is_blank_file(f.path))
    if unreadable:
        log.warning("clean: %d input file(s) could not be read and are quarantined whole: %s",
                    len(unreadable), ", ".join(unreadable[:5]))
        bad_df = spark.createDataFrame([(None, p, None) for p in unreadable], LINES_SCHEMA)
        lines_df = lines_df.unionByName(bad_df)
    return RawLines(lines_df, tuple(files), unreadable, blank_lines)


def _is_blank_file(path: str) -> bool:
    """True when a file Spark read no lines from is genuinely empty (e.g. gzip of nothing).

    Only files that produced no lines are checked, on the driver, streaming in chunks; a file
    that cannot be decompressed is not blank (it is unreadable).
    """
    fs, inner = pafs.FileSystem.from_uri(delta_rs_uri(path if has_scheme(path) else normalize_root(path)))
    try:
        with fs.open_input_stream(inner) as stream:
            source = gzip.GzipFile(fileobj=stream) if path.lower().endswith(".gz") else stream
            while chunk := source.read(_READ_CHUNK):
                if chunk.strip():
                    return False
        return True
    except (OSError, EOFError, zlib.error):
        return False
