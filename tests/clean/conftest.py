"""Python workers must be this interpreter (the pseudonymization pandas UDF needs pandas/pyarrow);
set before the session-scoped SparkSession starts."""
from __future__ import annotations

import os
import sys

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
