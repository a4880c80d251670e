"""spark-submit entry for the features stage.

    spark-submit jobs/features.py --config conf/cluster.yaml --run-date YYYY-MM-DD
"""
from __future__ import annotations

import sys

from recsys_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["features", *sys.argv[1:]]))
