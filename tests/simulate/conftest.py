"""Fixtures for the simulator tests: one tiny world generated once per session."""
from __future__ import annotations

import os
import sys

# pandas UDFs run in Python workers; without this they start the system python3 (no pandas).
# Set at import time because the shared `spark` fixture reads it when the session starts.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import datetime as dt  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from recsys_spark.simulate.testing import TinyWorld, write_tiny_world  # noqa: E402

START = dt.date(2026, 11, 1)


@pytest.fixture(scope="session")
def tiny_world(spark, tmp_path_factory) -> TinyWorld:
    return write_tiny_world(spark, Path(tmp_path_factory.mktemp("tiny")) / "landing")
