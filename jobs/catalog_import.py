"""spark-submit entry for `recsys catalog import`: same arguments (--items, --promotions,
--users, --as-of)."""
from __future__ import annotations

import sys

from recsys_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["catalog", "import", *sys.argv[1:]]))
