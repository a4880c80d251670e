"""spark-submit entry for the clean stage: same arguments as `recsys clean`."""
from __future__ import annotations

import sys

from recsys_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["clean", *sys.argv[1:]]))
