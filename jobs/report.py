"""spark-submit entry for the report: `spark-submit jobs/report.py --config … [--run-date D]
[--output PATH]`."""
from __future__ import annotations

import sys

from recsys_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
