"""spark-submit entry for the similarity stage.

    spark-submit jobs/similarity.py --config conf/cluster.yaml --run-date YYYY-MM-DD
"""
from __future__ import annotations

import sys

from recsys_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["similarity", *sys.argv[1:]]))
