"""spark-submit entry of the readout stage: same arguments as `recsys readout`."""
from __future__ import annotations

import sys

from recsys_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["readout", *sys.argv[1:]]))
