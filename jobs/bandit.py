"""spark-submit entry of the bandit stage: same arguments as `recsys bandit`."""
from __future__ import annotations

import sys

from recsys_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["bandit", *sys.argv[1:]]))
