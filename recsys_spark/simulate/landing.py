"""Writing the landing folder: event files by arrival date and catalog snapshots.

Spark writes gzip text into a staging folder partitioned by (arrival date, generated day, file
index), one file per partition; the driver then gives each file its final, deterministic name
``events/date=<arrival>/part-<generated day>-<file index>.jsonl.gz``. Re-generating a day first
removes that day's files, so reruns replace rather than add. File operations go through
pyarrow.fs (recsys_spark.filesystems), so local paths, object stores and HDFS all work.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow.fs as pafs
from pyspark.sql import DataFrame

from recsys_spark.filesystems import arrow_filesystem
from recsys_spark.paths import has_scheme, normalize_root

log = logging.getLogger(__name__)

EVENTS_DIR = "events"
CATALOG_DIR = "catalog"
STAGING_DIR = "_staging"


@dataclass(frozen=True)
class Landing:
    """A landing root and the filesystem that holds it."""

    root: str          # normalised root (absolute path, or URI without trailing slash)
    fs: pafs.FileSystem
    fs_root: str       # the root as a path inside ``fs``

    @classmethod
    def open(cls, root: str) -> Landing:
        norm = normalize_root(root)
        if has_scheme(norm):
            fs, path = arrow_filesystem(norm)
            return cls(norm, fs, path.rstrip("/"))
        return cls(norm, pafs.LocalFileSystem(), norm)

    def uri(self, relative: str) -> str:
        """Where Spark reads/writes ``relative``."""
        return f"{self.root}/{relative}"

    def path(self, relative: str) -> str:
        """``relative`` as a path inside ``fs``."""
        return f"{self.fs_root}/{relative}"

    def write_bytes(self, relative: str, data: bytes) -> None:
        self.fs.create_dir(self.path(relative).rpartition("/")[0], recursive=True)
        with self.fs.open_output_stream(self.path(relative), compression=None) as out:
            out.write(data)

    def read_bytes(self, relative: str) -> bytes:
        with self.fs.open_input_stream(self.path(relative), compression=None) as src:
            return src.read()

    def list_files(self, relative: str) -> list[str]:
        """Files under ``relative`` (recursive), relative to the root, sorted."""
        selector = pafs.FileSelector(self.path(relative), recursive=True, allow_not_found=True)
        infos = self.fs.get_file_info(selector)
        start = len(self.fs_root) + 1
        return sorted(i.path[start:] for i in infos if i.type == pafs.FileType.File)

    def delete(self, relative: str) -> None:
        info = self.fs.get_file_info(self.path(relative))
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(self.path(relative))
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(self.path(relative))


def gzip_bytes(data: bytes) -> bytes:
    """gzip with a zero timestamp, so equal content gives equal bytes."""
    return gzip.compress(data, mtime=0)


def day_prefix(gen_date: dt.date) -> str:
    return f"part-{gen_date:%Y%m%d}-"


def event_file(arrival: dt.date, gen_date: dt.date, file_idx: int) -> str:
    """Relative path of an event file."""
    return f"{EVENTS_DIR}/date={arrival.isoformat()}/{day_prefix(gen_date)}{file_idx:05d}.jsonl.gz"


def empty_file(gen_date: dt.date, j: int) -> str:
    return f"{EVENTS_DIR}/date={gen_date.isoformat()}/{day_prefix(gen_date)}empty{j:02d}.jsonl.gz"


def remove_generated_days(landing: Landing, gen_dates: Iterable[dt.date]) -> None:
    """Delete the event files earlier runs wrote for ``gen_dates`` (in every arrival folder)."""
    prefixes = tuple(day_prefix(d) for d in gen_dates)
    for rel in landing.list_files(EVENTS_DIR):
        if rel.rpartition("/")[2].startswith(prefixes):
            landing.delete(rel)


def write_event_lines(landing: Landing, lines_df: DataFrame) -> list[str]:
    """Write (arrival_date, gen_date, file_idx, line_no, line) rows as event files.

    Returns:
        The relative paths written, sorted.

    Raises:
        RuntimeError: Spark split one file's lines over several tasks (a bug, never expected).
    """
    staging = f"{STAGING_DIR}/{uuid.uuid4().hex}"
    keys = ["arrival_date", "gen_date", "file_idx"]
    (lines_df.select(*keys, "line_no", "line")
     .sortWithinPartitions(*keys, "line_no")
     .select(*keys, "line")
     .write.mode("overwrite").partitionBy(*keys).option("compression", "gzip")
     .text(landing.uri(staging)))
    written = []
    by_target: dict[str, list[str]] = {}
    for rel in landing.list_files(staging):
        if not rel.endswith(".gz"):
            continue
        parts = dict(p.split("=", 1) for p in rel.split("/") if "=" in p)
        target = event_file(dt.date.fromisoformat(parts["arrival_date"]),
                            dt.date.fromisoformat(parts["gen_date"]), int(parts["file_idx"]))
        by_target.setdefault(target, []).append(rel)
    for target, sources in sorted(by_target.items()):
        if len(sources) != 1:
            raise RuntimeError(f"{target}: expected one staging file, got {len(sources)}")
        landing.fs.create_dir(landing.path(target).rpartition("/")[0], recursive=True)
        landing.fs.move(landing.path(sources[0]), landing.path(target))
        written.append(target)
    landing.delete(staging)
    return written


def write_empty_files(landing: Landing, gen_dates: Sequence[dt.date], per_day: int) -> list[str]:
    """Empty (zero-line, valid gzip) event files; returns their relative paths."""
    out = []
    for day in gen_dates:
        for j in range(per_day):
            rel = empty_file(day, j)
            landing.write_bytes(rel, gzip_bytes(b""))
            out.append(rel)
    return out


def json_lines_gz(records: Iterable[dict]) -> bytes:
    """gzip JSON Lines bytes of ``records`` (compact separators, UTF-8)."""
    text = "".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in records)
    return gzip_bytes(text.encode("utf-8"))


def write_json_lines(landing: Landing, relative: str, records: Iterable[dict]) -> None:
    """A small gzip JSON Lines file written from the driver (catalog items, promotions)."""
    landing.write_bytes(relative, json_lines_gz(records))


def write_dated_lines(landing: Landing, lines_df: DataFrame, file_name: str, subdir: str) -> None:
    """Rows (date, sort_key, line) -> ``<subdir>/date=<date>/<file_name>``, one file per date."""
    staging = f"{STAGING_DIR}/{uuid.uuid4().hex}"
    (lines_df.repartition("date").sortWithinPartitions("date", "sort_key").select("date", "line")
     .write.mode("overwrite").partitionBy("date").option("compression", "gzip")
     .text(landing.uri(staging)))
    for rel in landing.list_files(staging):
        if not rel.endswith(".gz"):
            continue
        date = rel.split("date=", 1)[1].split("/", 1)[0]
        target = f"{subdir}/date={date}/{file_name}"
        landing.delete(target)
        landing.fs.create_dir(landing.path(target).rpartition("/")[0], recursive=True)
        landing.fs.move(landing.path(rel), landing.path(target))
    landing.delete(staging)
