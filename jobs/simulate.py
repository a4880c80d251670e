"""spark-submit entry for the shop simulator: `spark-submit jobs/simulate.py --preset demo ...`."""
from __future__ import annotations

import sys

from recsys_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["simulate", *sys.argv[1:]]))
