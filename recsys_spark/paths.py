"""URIs of warehouses and tables: local paths and object stores (s3a://, abfss://, hdfs://)."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from recsys_spark.errors import TableError

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,127}$")


def has_scheme(uri: str) -> bool:
    """True for URIs like s3a://bucket/x or file:///x; False for plain paths."""
    return bool(_SCHEME.match(uri))


def is_local(uri: str) -> bool:
    """True for plain paths and file:// URIs."""
    return not has_scheme(uri) or uri.startswith("file://")


def normalize_root(uri: str) -> str:
    """Absolute local path (no scheme) for local roots; the URI without a trailing slash otherwise."""
    if uri.startswith("file://"):
        return str(Path(urlsplit(uri).path).resolve())
    if not has_scheme(uri):
        return str(Path(uri).expanduser().resolve())
    return uri.rstrip("/")


def join_uri(root: str, relative: str) -> str:
    """``relative`` under ``root``, unless ``relative`` is already absolute or a URI."""
    if has_scheme(relative) or relative.startswith("/"):
        return relative
    return f"{normalize_root(root)}/{relative.strip('/')}"


def table_uri(warehouse_root: str, table_name: str) -> str:
    """The folder of a named table under the warehouse root.

    Raises:
        TableError: the name is not a plain lower-case identifier, so it could escape the
            warehouse (``../x``, ``/abs``, ``s3://other``) or collide with Delta's own folders.
    """
    if not TABLE_NAME.match(table_name):
        raise TableError(f"invalid table name {table_name!r}: use lower-case letters, digits and "
                         "underscores, starting with a letter (tables live under warehouse.root)")
    return f"{normalize_root(warehouse_root)}/{table_name}"


def path_component(uri: str) -> str:
    """The path part of a URI with scheme and authority removed (what Spark and delta-rs agree on)."""
    if has_scheme(uri):
        return urlsplit(uri).path
    return uri
