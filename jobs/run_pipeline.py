"""spark-submit entry for the whole pipeline: the same arguments as `recsys run`.

    spark-submit --py-files dist/recsys_spark.zip jobs/run_pipeline.py --config conf/local.yaml
"""
from __future__ import annotations

import sys

from recsys_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
