"""Fixtures for the simulator tests: one tiny world generated once per session."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from recsys_spark.simulate.testing import TinyWorld, write_tiny_world

START = dt.date(2026, 11, 1)


@pytest.fixture(scope="session")
def tiny_world(spark, tmp_path_factory) -> TinyWorld:
    return write_tiny_world(spark, Path(tmp_path_factory.mktemp("tiny")) / "landing")
