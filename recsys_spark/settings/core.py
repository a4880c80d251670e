"""Settings of the whole project: where data lives, how Spark runs, what makes a run reproducible.

The stage sections live beside this module (``settings/<stage>.py``); ``recsys_spark.config``
assembles them into one AppConfig. Nothing here imports Spark or a stage.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class WarehouseConfig:
    """Where the Delta tables live and how they are written."""

    root: str
    # auto: native delta-spark when its JVM classes are on the classpath, else delta-rs commits.
    backend: Literal["auto", "native", "delta_rs"] = "auto"
    # Files this many hours old and no longer referenced are removed by `recsys vacuum`.
    vacuum_retention_hours: int = 168

    def __post_init__(self) -> None:
        if not self.root.strip():
            raise ValueError("root: must not be empty")
        if self.vacuum_retention_hours < 0:
            raise ValueError("vacuum_retention_hours: must be >= 0")


@dataclass(frozen=True)
class LandingConfig:
    """Where raw logs arrive (a local path or an object-store URI)."""

    root: str


@dataclass(frozen=True)
class SparkConfig:
    """Session settings. ``master`` is ignored when spark-submit already set one."""

    master: str = "local[*]"
    shuffle_partitions: int = 8
    driver_memory: str = "2g"
    # Where ALS and long lineages checkpoint; relative paths resolve under the warehouse root.
    checkpoint_dir: str = "_checkpoints"
    ui_enabled: bool = False
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "ERROR"
    # Any further spark.* settings, passed through as given.
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.shuffle_partitions < 1:
            raise ValueError("shuffle_partitions: must be >= 1")


@dataclass(frozen=True)
class RunConfig:
    """What makes a run reproducible."""

    seed: int = 20261123
