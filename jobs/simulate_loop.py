"""spark-submit entry of the closed loop: same arguments as `recsys simulate-loop`."""
from __future__ import annotations

import sys

from recsys_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["simulate-loop", *sys.argv[1:]]))
