"""spark-submit entry for the als stage: `spark-submit jobs/als.py --config … --run-date D [--tune]`."""
from __future__ import annotations

import sys

from recsys_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["als", *sys.argv[1:]]))
