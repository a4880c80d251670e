"""Bandit tests: the Python workers must run this interpreter (pandas/scipy for the Beta
quantile UDF). Set before the session-scoped Spark fixture starts the context."""
from __future__ import annotations

import os
import sys

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
