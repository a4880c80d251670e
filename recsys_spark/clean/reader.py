"""Reading raw files as text lines, and what the driver learns about each file afterwards.

Every adapter starts from these lines, so a record that fails to parse is still kept with its
raw text for quarantine. Reading is lazy: a line is identified by its file, the start of its
file split ("block") and a row id, and its 1-based line number is worked out later, only for
the rows that go to quarantine, from one small per-block aggregate (:class:`FileStats`).

Files are listed on the driver (pyarrow file systems: local paths and object stores). A file
Spark cannot decode at all (not gzip) produces no lines and is quarantined whole; a gzip file
cut short (or corrupt mid-stream) produces the lines before the break, and the loss is noticed
by comparing the bytes read with the size the gzip trailer states (see :func:`file_problems`).
"""
from __future__ import annotations

import gzip
import logging
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow.fs as pafs
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.errors import RecsysError
from recsys_spark.filesystems import arrow_filesystem
from recsys_spark.paths import has_scheme, normalize_root

log = logging.getLogger(__name__)

_READ_CHUNK = 1 << 20
_GZIP_SUFFIX = ".gz"
# Line-position columns every adapter carries through (see module docstring).
POSITION_COLUMNS: tuple[str, ...] = ("source_file", "block_start", "row_id", "line_bytes")
UNREADABLE, TRUNCATED = "unreadable", "truncated"


class CleanInputError(RecsysError):
    """The raw input of a clean run is missing or not usable (names the path)."""


@dataclass(frozen=True)
class InputFile:
    path: str       # what Spark reads (a local path or a URI)
    size: int


@dataclass(frozen=True)
class FileProblem:
    """A file whose content was (partly) lost: ``kind`` unreadable or truncated."""

    path: str
    kind: str
    lines_read: int
    detail: str


def list_input_files(path: str, suffixes: Sequence[str], exclude_names: Sequence[str] = ()
                     ) -> list[InputFile]:
    """Data files under ``path`` (a file or a folder, searched recursively), sorted by path.

    Names starting with ``_`` or ``.`` (markers, checksums) and names in ``exclude_names`` are
    skipped; only names ending with one of ``suffixes`` count.

    Raises:
        CleanInputError: ``path`` does not exist.
    """
    root = normalize_root(path)
    fs, base = arrow_filesystem(root)
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


def path_exists(path: str) -> bool:
    """True when ``path`` (a local path or URI) exists."""
    fs, base = arrow_filesystem(normalize_root(path))
    return fs.get_file_info(base).type != pafs.FileType.NotFound


def file_key(file_path: Column) -> Column:
    """Spark's file URI as the plain path the driver listed (``file:/x`` -> ``/x``)."""
    return F.url_decode(F.regexp_replace(F.regexp_replace(file_path, r"^file:(//)?", ""),
                                         r"\+", "%2B"))


def read_lines(spark: SparkSession, files: Sequence[InputFile]) -> DataFrame:
    """All lines of ``files``: ``value`` plus :data:`POSITION_COLUMNS` (lazy, no Spark job).

    Within one block Spark reads lines in order and ``monotonically_increasing_id`` grows by one
    per row, so (source_file, block_start, row_id) orders lines exactly as in the file, and the
    line number is the row id minus the block's first id plus the lines of the earlier blocks
    (:meth:`FileStats.offsets_df`). A corrupt file must not kill the job: Spark skips what it
    cannot decode and :func:`file_problems` reports the loss.
    """
    if not files:
        return spark.createDataFrame([], "value string, source_file string, block_start long, "
                                         "row_id long, line_bytes int")
    return (spark.read.option("ignoreCorruptFiles", "true").text([f.path for f in files])
            .select(F.col("value"),
                    file_key(F.col("_metadata.file_path")).alias("source_file"),
                    F.col("_metadata.file_block_start").alias("block_start"),
                    F.monotonically_increasing_id().alias("row_id"),
                    F.octet_length("value").alias("line_bytes")))


@dataclass(frozen=True)
class BlockStat:
    source_file: str
    block_start: int
    first_row_id: int
    lines: int
    blank: int
    bytes: int


@dataclass(frozen=True)
class FileStats:
    """Per-block line counts of one run's input (one small row per file split)."""

    blocks: tuple[BlockStat, ...]

    @classmethod
    def collect(cls, lines_df: DataFrame) -> FileStats:
        """One aggregate over the position columns of ``lines_df`` (one row per line: an
        adapter that makes several records of a line marks the extra ones record_seq > 0)."""
        first_of_line = F.col("record_seq") == 0
        rows = (lines_df.where(first_of_line)
                .groupBy("source_file", "block_start")
                .agg(F.min("row_id").alias("first_row_id"), F.count(F.lit(1)).alias("lines"),
                     F.count_if(F.col("line_kind") == "blank").alias("blank"),
                     F.sum("line_bytes").alias("bytes"))
                .collect())
        return cls(tuple(sorted((BlockStat(r["source_file"], int(r["block_start"]),
                                           int(r["first_row_id"]), int(r["lines"]),
                                           int(r["blank"]), int(r["bytes"] or 0)) for r in rows),
                                key=lambda b: (b.source_file, b.block_start))))

    @property
    def blank_lines(self) -> int:
        return sum(b.blank for b in self.blocks)

    def lines_per_file(self) -> dict[str, tuple[int, int]]:
        """source_file -> (lines, bytes of those lines without their line ends)."""
        out: dict[str, tuple[int, int]] = {}
        for b in self.blocks:
            lines, size = out.get(b.source_file, (0, 0))
            out[b.source_file] = (lines + b.lines, size + b.bytes)
        return out

    def offsets_df(self, spark: SparkSession) -> DataFrame:
        """(source_file, block_start, first_row_id, lines_before): what line numbers need."""
        seen: dict[str, int] = {}
        rows = []
        for b in self.blocks:
            before = seen.get(b.source_file, 0)
            rows.append((b.source_file, b.block_start, b.first_row_id, before))
            seen[b.source_file] = before + b.lines
        return spark.createDataFrame(rows, "source_file string, block_start long, "
                                           "first_row_id long, lines_before long")


def with_line_numbers(df: DataFrame, offsets_df: DataFrame) -> DataFrame:
    """Adds ``line_number`` (1-based) to rows carrying the position columns (offsets from
    :meth:`FileStats.offsets_df`, broadcast: one row per block)."""
    return (df.join(F.broadcast(offsets_df), ["source_file", "block_start"], "left")
            .withColumn("line_number", F.col("row_id") - F.col("first_row_id")
                        + F.col("lines_before") + 1)
            .drop("first_row_id", "lines_before"))


def file_problems(files: Sequence[InputFile], stats: FileStats) -> list[FileProblem]:
    """Files whose content was lost, in path order.

    - unreadable: a non-empty file Spark read no line from and that is not an empty gzip;
    - truncated: a gzip file whose lines add up to fewer bytes than its trailer states, confirmed
      by decompressing it on the driver (only such suspects are decompressed).
    """
    per_file = stats.lines_per_file()
    problems = []
    for f in files:
        lines, size = per_file.get(f.path, (0, 0))
        if lines == 0:
            if f.size > 0 and not _is_blank_file(f.path):
                problem = _decode_problem(f.path)
                problems.append(FileProblem(f.path, TRUNCATED if problem == TRUNCATED else UNREADABLE,
                                            0, _describe(problem, 0)))
            continue
        if f.path.lower().endswith(_GZIP_SUFFIX) and not _size_matches(f.path, lines, size):
            problem = _decode_problem(f.path)
            if problem is not None:
                problems.append(FileProblem(f.path, TRUNCATED, lines, _describe(problem, lines)))
    if problems:
        log.warning("clean: %d input file(s) lost content and are quarantined: %s",
                    len(problems), ", ".join(p.path for p in problems[:5]))
    return problems


def _describe(problem: str | None, lines: int) -> str:
    if problem == TRUNCATED or (problem and problem.startswith("corrupt")):
        return (f"gzip stream cut short or corrupt after {lines} lines read; the rest of the "
                "file is lost")
    return f"not readable as {'gzip' if problem else 'text'}: {problem or 'no lines'}"


def _open(path: str) -> tuple[pafs.FileSystem, str]:
    return arrow_filesystem(path if has_scheme(path) else normalize_root(path))


def _size_matches(path: str, lines: int, size: int) -> bool:
    """Does the gzip trailer's ISIZE (uncompressed size mod 2^32) fit the lines read, with
    LF or CRLF line ends, with or without a final line end? A cut file ends in compressed data,
    which matches by chance with probability ~1e-9."""
    fs, inner = _open(path)
    try:
        with fs.open_input_file(inner) as handle:
            total = handle.size()
            if total < 18:
                return False
            handle.seek(total - 4)
            isize = struct.unpack("<I", handle.read(4))[0]
    except OSError:
        return False
    candidates = {size + lines, size + lines - 1, size + 2 * lines, size + 2 * lines - 2}
    return isize in {c % (1 << 32) for c in candidates}


def _decode_problem(path: str) -> str | None:
    """None when the whole file decompresses; ``truncated`` when the stream ends early; another
    text when it is not gzip or corrupt."""
    fs, inner = _open(path)
    try:
        with fs.open_input_stream(inner, compression=None) as stream, gzip.GzipFile(fileobj=stream) as source:
            while source.read(_READ_CHUNK):
                pass
        return None
    except EOFError:
        return TRUNCATED
    except gzip.BadGzipFile as exc:
        return f"not gzip ({exc})"
    except (OSError, zlib.error) as exc:
        return f"corrupt gzip stream ({exc})"


def _is_blank_file(path: str) -> bool:
    """True when a file Spark read no lines from is genuinely empty (e.g. gzip of nothing).

    Only files that produced no lines are checked, on the driver, streaming in chunks; a file
    that cannot be decompressed is not blank.
    """
    fs, inner = _open(path)
    try:
        with fs.open_input_stream(inner, compression=None) as stream:
            source = gzip.GzipFile(fileobj=stream) if path.lower().endswith(_GZIP_SUFFIX) else stream
            while chunk := source.read(_READ_CHUNK):
                if chunk.strip():
                    return False
        return True
    except (OSError, EOFError, zlib.error):
        return False
