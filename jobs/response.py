"""spark-submit entry for the response stage: same arguments as `recsys response`."""
from __future__ import annotations

import sys

from recsys_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["response", *sys.argv[1:]]))
