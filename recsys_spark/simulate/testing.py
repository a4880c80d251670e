"""Helpers for tests of any stage: a tiny simulated world in a temporary landing folder."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from recsys_spark.settings.simulate import SimulatorConfig
from recsys_spark.simulate.api import SimulationSummary, generate

TINY_SEED = 20261123
TINY_START = dt.date(2026, 11, 1)
TINY_DAYS = 2


@dataclass(frozen=True)
class TinyWorld:
    """Where the tiny world was written and what the generator reported."""

    landing_root: str
    config: SimulatorConfig
    seed: int
    start_date: dt.date
    days: int
    summary: SimulationSummary


def write_tiny_world(spark: SparkSession, landing_root: str | Path, seed: int = TINY_SEED,
                     days: int = TINY_DAYS, **overrides: object) -> TinyWorld:
    """Generate the ``tiny`` preset (with ``overrides``) into ``landing_root``.

    Returns:
        A TinyWorld; ``summary`` has the event and defect counts. Takes seconds on 2 cores.
    """
    config = SimulatorConfig.from_preset("tiny", **overrides)
    summary = generate(spark, config, str(landing_root), TINY_START, days, seed)
    return TinyWorld(str(landing_root), config, seed, TINY_START, days, summary)
