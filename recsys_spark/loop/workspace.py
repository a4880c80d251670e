"""Folders of a closed loop: one warm-up (warehouse + landing) copied per policy.

Layout, beside the real tables but invisible to ``recsys tables`` (a folder starting with ``_``
is not a table name)::

    <warehouse.root>/_loop/_warmup/{warehouse,landing,manifest.json}
    <warehouse.root>/_loop/<policy>/{warehouse,landing}

Copying a table folder keeps it readable because our Delta logs store data file paths relative
to the table folder (:func:`check_copied_tables` verifies that on every copy). File operations go
through pyarrow.fs, so local paths and the object stores pyarrow knows both work.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from recsys_spark.config import AppConfig
from recsys_spark.errors import RecsysError
from recsys_spark.filesystems import arrow_filesystem
from recsys_spark.paths import has_scheme, normalize_root
from recsys_spark.settings.core import LandingConfig
from recsys_spark.tables import delta_log

log = logging.getLogger(__name__)

LOOP_DIR = "_loop"
WARMUP_DIR = "_warmup"
MANIFEST = "manifest.json"


class LoopWorkspaceError(RecsysError):
    """A loop folder cannot be prepared (e.g. a copied table points outside its folder)."""


@dataclass(frozen=True)
class LoopWorkspace:
    """The loop's scratch root (``<warehouse.root>/_loop``) and the filesystem holding it."""

    root: str
    fs: pafs.FileSystem
    fs_root: str

    @classmethod
    def for_config(cls, config: AppConfig) -> LoopWorkspace:
        root = f"{normalize_root(config.warehouse.root)}/{LOOP_DIR}"
        if has_scheme(root):
            fs, path = arrow_filesystem(root)
            return cls(root, fs, path.rstrip("/"))
        return cls(root, pafs.LocalFileSystem(), root)

    def folder(self, name: str) -> str:
        """URI of a loop folder: ``_warmup`` or a policy name."""
        return f"{self.root}/{name}"

    def config_for(self, config: AppConfig, name: str) -> AppConfig:
        """``config`` with its warehouse and landing moved into loop folder ``name``.

        Warehouse and landing roots are not part of the config fingerprint, so run ids (and
        every seed keyed on them) are the same in every folder.
        """
        folder = self.folder(name)
        return dataclasses.replace(
            config, warehouse=dataclasses.replace(config.warehouse, root=f"{folder}/warehouse"),
            landing=LandingConfig(root=f"{folder}/landing"))

    def _path(self, name: str) -> str:
        return f"{self.fs_root}/{name}"

    def remove(self, name: str) -> None:
        path = self._path(name)
        if self.fs.get_file_info(path).type != pafs.FileType.NotFound:
            self.fs.delete_dir(path)

    def copy(self, source: str, target: str) -> None:
        """Replace folder ``target`` with a copy of ``source`` (both loop folder names)."""
        self.remove(target)
        self.fs.create_dir(self._path(target), recursive=True)
        pafs.copy_files(self._path(source), self._path(target), source_filesystem=self.fs,
                        destination_filesystem=self.fs)

    def import_run(self, warehouse_root: str, landing_root: str) -> None:
        """Replace the warm-up folder with copies of a finished `recsys run`'s warehouse and
        landing (same filesystem as the loop's)."""
        self.remove(WARMUP_DIR)
        for source, part in ((warehouse_root, "warehouse"), (landing_root, "landing")):
            target = f"{self._path(WARMUP_DIR)}/{part}"
            self.fs.create_dir(target, recursive=True)
            source_path = normalize_root(source)
            if has_scheme(source_path):
                source_path = arrow_filesystem(source_path)[1]
            pafs.copy_files(source_path, target, source_filesystem=self.fs,
                            destination_filesystem=self.fs)

    def read_manifest(self) -> dict[str, Any] | None:
        """The warm-up's manifest (written last, so it marks a finished warm-up), or None."""
        path = f"{self._path(WARMUP_DIR)}/{MANIFEST}"
        try:
            with self.fs.open_input_stream(path) as stream:
                return json.loads(stream.read().decode("utf-8"))
        except (FileNotFoundError, OSError, ValueError):
            return None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        path = f"{self._path(WARMUP_DIR)}/{MANIFEST}"
        with self.fs.open_output_stream(path, compression=None) as out:
            out.write(json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"))


def check_copied_tables(warehouse_root: str, tables: list[str]) -> None:
    """Open every copied table with deltalake and check its files lie inside the copy.

    Raises:
        LoopWorkspaceError: a table's log names a data file outside its own folder (an absolute
            path), so the copy would read the original's files.
    """
    root = normalize_root(warehouse_root)
    for table in tables:
        uri = f"{root}/{table}"
        delta = delta_log.open_table(uri, table)
        inside = delta_log.delta_rs_uri(uri)
        outside = [u for u in delta.file_uris() if not _strip_file_scheme(u).startswith(
            _strip_file_scheme(inside) + "/")]
        if outside:
            raise LoopWorkspaceError(f"table {table} copied to {uri} still reads {outside[0]}: its "
                                     "Delta log stores absolute paths, so copies are not independent")


def _strip_file_scheme(uri: str) -> str:
    return uri[len("file://"):] if uri.startswith("file://") else uri
