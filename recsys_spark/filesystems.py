"""The pyarrow filesystem behind a warehouse or landing URI, for the driver's own file work
(listing, footers, small files, moves) beside Spark.

pyarrow opens local paths and object stores (s3://, gs://, abfs://) natively. Its HDFS client
needs ``libhdfs.so`` from a Hadoop install and a JVM inside the Python process — neither of which
a pip-installed PySpark driver has ("Unable to load libhdfs"). delta-rs ships a pure-Rust HDFS
client (its object store), so ``hdfs://`` and ``viewfs://`` go through that instead: the same
client that reads and commits the Delta logs there.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
from deltalake.fs import DeltaStorageHandler

HADOOP_SCHEMES = ("hdfs", "viewfs")


def arrow_filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem holding ``uri`` (a URI with a scheme) and the path of ``uri`` inside it.

    Raises:
        OSError / ValueError: pyarrow cannot open the scheme (as ``FileSystem.from_uri``).
    """
    parts = urlsplit(uri)
    if parts.scheme in HADOOP_SCHEMES:
        handler = _ObjectStoreHandler(f"{parts.scheme}://{parts.netloc}")
        # object-store paths are relative to the filesystem root: no leading slash
        return pafs.PyFileSystem(handler), parts.path.strip("/")
    # imported here: the table backends import this module, and delta_log sits in their package
    from recsys_spark.tables.delta_log import delta_rs_uri

    return pafs.FileSystem.from_uri(delta_rs_uri(uri))


class _ObjectStoreHandler(DeltaStorageHandler):
    """delta-rs' filesystem handler, mended where deltalake 1.6 and pyarrow 22 disagree."""

    def copy_file(self, src: str, dest: str) -> None:
        # deltalake's Python wrapper passes ``dst=``; its Rust method names the argument otherwise
        self._handler.copy_file(src, dest)

    def open_output_stream(self, path: str,
                           metadata: Mapping[str, str] | None = None) -> pa.PythonFile:
        stream = self._handler.open_output_stream(path, dict(metadata) if metadata else None)
        return pa.PythonFile(_BytesWriter(stream), mode="w")


class _BytesWriter:
    """pyarrow hands ``write`` a ``pyarrow.Buffer``; delta-rs' Rust stream takes only ``bytes``
    (deltalake 1.6 raises "'Buffer' object is not an instance of 'bytes'")."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: Any) -> int:
        return int(self._stream.write(bytes(memoryview(data))))

    def __getattr__(self, name: str) -> Any:  # close, flush, tell, closed, ...
        return getattr(self._stream, name)
