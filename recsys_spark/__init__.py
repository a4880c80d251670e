"""recsys-spark: a PySpark pipeline from raw e-commerce event logs to per-user promotion tables."""
from __future__ import annotations

__version__ = "0.1.0"
