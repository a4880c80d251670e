"""Where the pinned Delta jars are (``make jars`` -> ``.jars/``), and the session settings they need.

The native backend needs delta-spark's JVM classes on the driver's and executors' classpath.
Outside spark-submit the project puts its own pinned copies (``jars.lock``, fetched and SHA-256
checked by ``tools/fetch_jars.py``) on ``spark.jars``; under spark-submit the JVM is already
running, so the jars come from ``--jars`` / ``--packages`` and only the SQL settings are added.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

# The repository checkout holds jars.lock and .jars/; an installed wheel has neither, and then
# RECSYS_JARS_DIR (a folder with the same jar files) can point at a copy.
REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = REPO_ROOT / "jars.lock"
JARS_DIR_ENV = "RECSYS_JARS_DIR"

# What delta-spark needs in the session (Delta's own quickstart settings): SQL commands
# (OPTIMIZE, VACUUM, DESCRIBE HISTORY, table_changes) and catalog tables.
DELTA_SQL_SETTINGS: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
# The purpose of a jars.lock line without one: on the Spark session's classpath.
SESSION_PURPOSE = "session"


@dataclass(frozen=True)
class PinnedJar:
    """One line of jars.lock: ``group:artifact:version sha256 [purpose]``."""

    coordinate: str
    sha256: str
    purpose: str = SESSION_PURPOSE

    @property
    def file_name(self) -> str:
        _, artifact, version = self.coordinate.split(":")
        return f"{artifact}-{version}.jar"


def read_lock(path: Path = LOCK_FILE) -> list[PinnedJar]:
    """The pins of ``path``; [] when there is no lock file (an installed wheel).

    Raises:
        ValueError: a line is not ``group:artifact:version sha256 [purpose]``.
    """
    if not path.is_file():
        return []
    pins = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) not in (2, 3) or parts[0].count(":") != 2 or len(parts[1]) != 64:
            raise ValueError(f"{path}:{number}: expected 'group:artifact:version sha256 [purpose]'")
        pins.append(PinnedJar(parts[0], parts[1].lower(), *parts[2:]))
    return pins


def jars_dir() -> Path:
    return Path(os.environ.get(JARS_DIR_ENV) or REPO_ROOT / ".jars")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pinned_jars(purpose: str = SESSION_PURPOSE, folder: Path | None = None,
                lock: Path = LOCK_FILE) -> list[Path] | None:
    """The verified jar files of ``purpose``, in lock order; None unless every one of them is
    present with its pinned SHA-256 (a half-fetched set must not reach the classpath)."""
    folder = folder or jars_dir()
    pins = [p for p in read_lock(lock) if p.purpose == purpose]
    if not pins:
        return None
    paths = [folder / p.file_name for p in pins]
    if all(path.is_file() and sha256(path) == pin.sha256 for path, pin in zip(paths, pins, strict=True)):
        return paths
    return None
